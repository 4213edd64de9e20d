// test_schema.mjs — clients/js/schema.js refuses what schema_validate_op
// refuses (INVALID_OP, 20) and nothing more, and its table matches
// PROTOCOL.md 4.3 in the ids, names and rules the wire depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ERR, RULE, TYPES, fieldByName, typeByName, utf8Length, validateOp } from '../../clients/js/schema.js';

function op(y, k, fields, k2 = '') {
  return { d: 'tabA', s: 1, n: 0, h: 1n, y, k, k2, b: 0, f: new Map(Object.entries(fields).map(([id, v]) => [Number(id), v])) };
}
const ok = (o) => assert.equal(validateOp(o), 0, JSON.stringify(o, (k, v) => (typeof v === 'bigint' ? `${v}` : v instanceof Map ? [...v] : v)));
const bad = (o) => assert.equal(validateOp(o), ERR.INVALID_OP, JSON.stringify(o, (k, v) => (typeof v === 'bigint' ? `${v}` : v instanceof Map ? [...v] : v)));

test('the table has the wire ids, names and rules of PROTOCOL.md 4.3', () => {
  assert.deepEqual(TYPES.map((t) => `${t.id}:${t.name}:${t.table}`), [
    '1:location:locations', '2:activity:activities', '3:session:sessions',
    '4:participant:participants', '5:checkin:checkins', '6:tally:tallies',
    '7:message:messages', '8:session_log:session_logs', '9:erasure:erasures']);
  const p = typeByName('participant');
  assert.deepEqual(p.fields.map((f) => `${f.id}:${f.name}`), ['1:name', '2:pseudonym', '3:contact',
    '4:referral', '5:first_seen', '6:merged_into']);
  assert.equal(fieldByName(p, 'first_seen').rule, RULE.MIN);
  const c = typeByName('checkin');
  assert.deepEqual(c.fields.map((f) => f.rule), [RULE.LWW, RULE.MIN, RULE.MAX]);
  assert.equal(c.key2, 'participant');
  assert.equal(typeByName('tally').fields[0].rule, RULE.COUNTER);
  assert.equal(fieldByName(typeByName('message'), 'activity').rule, RULE.ONCE);
});

test('keys: type, k, k2', () => {
  ok(op(1, 'L1', { 1: 'Buurthuis' }));
  bad(op(0, 'L1', { 1: 'x' }));
  bad(op(10, 'L1', { 1: 'x' }));
  bad(op(1, '', { 1: 'x' }));
  bad(op(1, 'x'.repeat(65), { 1: 'x' }));
  ok(op(1, 'x'.repeat(64), { 1: 'x' }));
  bad(op(1, 'L 1', { 1: 'x' }));
  bad(op(1, 'L\u00e91', { 1: 'x' }));
  bad(op(1, 'L1', { 1: 'x' }, 'P1'));
  ok(op(5, 'S1', { 1: 'present' }, 'P1'));
  bad(op(5, 'S1', { 1: 'present' }));
  bad(op(5, 'S1', { 1: 'present' }, 'P 1'));
});

test('fields: count, ids, types, nil', () => {
  bad(op(1, 'L1', {}));
  bad(op(1, 'L1', { 2: 'x' }));
  bad(op(1, 'L1', { 1: 5 }));
  bad(op(1, 'L1', { 1: null }));
  bad(op(1, 'L1', { 1: undefined }));
  ok(op(2, 'A1', { 3: null, 4: null }));
  bad(op(2, 'A1', { 3: 1.5 }));
  bad(op(2, 'A1', { 3: 2n }));
  bad(op(3, 'S1', { 4: 1 }));
  ok(op(3, 'S1', { 4: false }));
  const many = op(8, 'S1', { 1: 1 });
  many.f.set('1', 1); // a string key is no field id
  bad(many);
  const f = new Map();
  for (let i = 1; i <= 17; i++) f.set(i, 'x');
  bad({ ...op(1, 'L1', { 1: 'x' }), f });
  bad({ ...op(1, 'L1', { 1: 'x' }), f: { 1: 'x' } }); // f must be a Map
});

test('ranges and choices', () => {
  ok(op(2, 'A1', { 3: 1 }));
  ok(op(2, 'A1', { 3: 7 }));
  bad(op(2, 'A1', { 3: 0 }));
  bad(op(2, 'A1', { 3: 8 }));
  ok(op(6, 'S1', { 1: 0 }));
  ok(op(6, 'S1', { 1: 1000000 }));
  bad(op(6, 'S1', { 1: -1 }));
  bad(op(6, 'S1', { 1: 1000001 }));
  ok(op(5, 'S1', { 2: 2 ** 47, 3: 0 }, 'P1'));
  bad(op(5, 'S1', { 2: 2 ** 47 + 1 }, 'P1'));
  for (const s of ['present', 'absent', 'excused']) ok(op(5, 'S1', { 1: s }, 'P1'));
  ok(op(5, 'S1', { 1: null }, 'P1')); // withdrawn: not checked in after all
  bad(op(5, 'S1', { 1: 'late' }, 'P1'));
  bad(op(5, 'S1', { 1: 'Present' }, 'P1'));
});

test('lengths are UTF-8 bytes', () => {
  assert.equal(utf8Length('\u00e9'), 2);
  assert.equal(utf8Length('\u{1f600}'), 4);
  assert.equal(utf8Length('\ud800'), -1);
  ok(op(1, 'L1', { 1: '\u00e9'.repeat(100) }));
  bad(op(1, 'L1', { 1: '\u00e9'.repeat(101) }));
  ok(op(1, 'L1', { 1: '\u{1f600}'.repeat(50) }));
  bad(op(1, 'L1', { 1: '\u{1f600}'.repeat(50) + 'x' }));
  ok(op(7, 'M1', { 1: 'A1', 2: 'x'.repeat(4096) }));
  bad(op(7, 'M1', { 1: 'A1', 2: 'x'.repeat(4097) }));
  ok(op(7, 'M1', { 1: 'A1', 2: '' }));
  ok(op(4, 'P1', { 2: '' }));
});

test('text: one-line names, controls, bidi, surrogates', () => {
  bad(op(1, 'L1', { 1: 'a\tb' }));
  bad(op(1, 'L1', { 1: 'a\nb' }));
  ok(op(8, 'S1', { 4: 'a\tb\r\nc' }));
  bad(op(8, 'S1', { 4: 'a\u0007b' }));
  bad(op(8, 'S1', { 4: 'a\u007fb' }));
  bad(op(8, 'S1', { 4: 'a\u0085b' }));
  bad(op(4, 'P1', { 1: 'Jan \u202efdp.exe' }));
  bad(op(4, 'P1', { 1: 'Jan \u2066x' }));
  ok(op(4, 'P1', { 1: 'Jan \u200fx' })); // a mark is text
  bad(op(4, 'P1', { 1: 'Jan \ud800' }));
  ok(op(4, 'P1', { 1: 'Zo\u00eb \u{1f600}' }));
  bad(op(4, 'P1', { 6: 'P 2' })); // merged_into is an id
  ok(op(4, 'P1', { 6: 'P2' }));
  bad(op(2, 'A1', { 1: 'L\u00e9' }));
});

test('dates and times', () => {
  ok(op(3, 'S1', { 2: '2024-02-29' }));
  bad(op(3, 'S1', { 2: '2025-02-29' }));
  bad(op(3, 'S1', { 2: '1900-02-29' }));
  ok(op(3, 'S1', { 2: '2000-02-29' }));
  bad(op(3, 'S1', { 2: '2026-04-31' }));
  bad(op(3, 'S1', { 2: '2026-13-01' }));
  bad(op(3, 'S1', { 2: '2026-1-01' }));
  bad(op(3, 'S1', { 2: '2026-01-1a' }));
  bad(op(3, 'S1', { 2: '\uff12026-01-01' }));
  ok(op(3, 'S1', { 3: '00:00' }));
  ok(op(3, 'S1', { 3: '23:59' }));
  bad(op(3, 'S1', { 3: '24:00' }));
  bad(op(3, 'S1', { 3: '12:60' }));
  bad(op(3, 'S1', { 3: '9:30' }));
  ok(op(2, 'A1', { 4: null }));
});
