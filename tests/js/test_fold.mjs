// The tablet app's name search: case, accents and punctuation do not
// matter; every word typed must start a word of the name. The shared
// vectors of protocol/testdata/fold.tsv are the ones the server's C fold
// passes too (tests/unit/test_fold.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fold, queryWords, matches } from '../../clients/tablet/fold.js';

const finds = (name, query) => matches(fold(name), queryWords(query));

test('accents and letters without a decomposition fold to plain letters', () => {
  assert.equal(fold('Ayşe Yıldız'), 'ayse yildiz');
  assert.equal(fold('Søren Ærø-Łukasz'), 'soren aero lukasz');
  assert.equal(fold('Straße'), 'strasse');
  assert.equal(fold('  José   MÜLLER '), 'jose muller');
});

test('the cases a teacher types find the right person', () => {
  assert.ok(finds('Ayşe Yıldız', 'Ayse Yildiz'));
  assert.ok(finds('Ayşe Yıldız', 'ayşe'));
  assert.ok(finds('Brouwer-de Vries', 'brouwer de vries'));
  assert.ok(finds('Brouwer-de Vries', 'vries'));
  assert.ok(finds('Fatima Bouzid', 'fatima'));
  assert.ok(finds('Fatima Bouzid', 'bou fat'));
  assert.ok(finds("O'Brien", 'obrien'));
  assert.ok(finds('Jan-Willem', 'willem'));
  assert.ok(finds('anyone', ''));
});

test('a search does not find what it should not', () => {
  assert.ok(!finds('Fatima Bouzid', 'atima'));
  assert.ok(!finds('Ayşe Yıldız', 'ayse yilmaz'));
  assert.ok(!finds('Kees van Dijk', 'kees de'));
});

test('the shared vectors fold as the server folds them', () => {
  const url = new URL('../../protocol/testdata/fold.tsv', import.meta.url);
  const lines = readFileSync(url, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(lines.length >= 30);
  for (const line of lines) {
    const [name, folded] = line.split('\t');
    assert.equal(fold(name), folded, name);
  }
});
