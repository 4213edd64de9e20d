// test_merge_vectors.mjs — runs the shared merge conformance vectors
// (protocol/testdata/merge, format in its README.md) against the JavaScript
// replica, as tests/unit/test_merge_vectors.c runs them against the C one:
// every delivery order into a fresh Replica, each op's result, the canonical
// state, and the persistence round trip (load(takeChanges()) into another
// Replica reads the same), whole and bucket by bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Replica, bucketOf, sessionBucket, dateBucket } from '../../clients/js/replica.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../protocol/testdata/merge');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

// The op as the app and the sync code hand it over: f a Map, h a BigInt.
function toOp(j) {
  return { ...j, h: BigInt(j.h), f: new Map(Object.entries(j.f).map(([id, v]) => [Number(id), v])) };
}

test('the vectors are there', () => {
  // An empty or misplaced directory must not pass as "all vectors ran".
  assert.ok(files.length >= 20, `${files.length} vectors in ${dir}`);
});

/* What IndexedDB does with the buckets of takeChanges: clones them at once,
 * and a bucket written again replaces what it held. */
const persist = (buckets) => buckets.map(([b, rows]) => [b, rows && structuredClone(rows)]);
const latest = (buckets) => [...new Map(buckets)];

for (const file of files) {
  const v = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  test(`${file}: ${v.name}`, () => {
    assert.equal(`${v.name}.json`, file);
    const ops = v.ops.map(toOp);
    v.orders.forEach((order, o) => {
      const r = new Replica({ logConflicts: v.log_conflicts });
      const changes = [];
      for (const [step, i] of order.entries()) {
        const op = ops[i];
        if (v.own !== undefined && op.n > 0 && op.d === v.own) assert.equal(r.rebaseOwn(op), 0);
        assert.equal(r.apply(op), v.expect.results[i], `order ${o}, step ${step} (op ${i})`);
        if (step % 2 === 0) changes.push(...persist(r.takeChanges())); // persisted in batches
      }
      changes.push(...persist(r.takeChanges()));
      assert.deepEqual(r.dump(), v.expect.state, `order ${o}`);
      assert.deepEqual(r.takeChanges(), [], 'takeChanges forgets what it gave');

      const reloaded = new Replica({ logConflicts: v.log_conflicts });
      reloaded.load(latest(changes));
      assert.deepEqual(reloaded.dump(), v.expect.state, `order ${o} after load`);

      /* Loaded a bucket at a time, with the first bucket loaded twice: the
       * copy already held stays. */
      const parts = new Replica({ logConflicts: v.log_conflicts, partial: true });
      const stored = latest(changes);
      for (const bucket of [...stored, ...stored.slice(0, 1)]) parts.load([bucket]);
      parts.complete();
      assert.deepEqual(parts.dump(), v.expect.state, `order ${o} loaded by bucket`);
    });
  });
}

test('a partial replica applies an op only to a bucket it has loaded', () => {
  const checkin = (s, p) => ({ d: 'dev-a', s, n: 0, h: BigInt(s) << 16n, y: 5, k: 'sess-1', k2: p, b: 0,
    f: new Map([[1, 'present']]) });
  const full = new Replica();
  assert.equal(full.apply(checkin(1, 'p1')), 0);
  const stored = persist(full.takeChanges());
  assert.deepEqual(stored.map(([b]) => b), [sessionBucket('sess-1')]);

  const r = new Replica({ partial: true });
  assert.equal(r.loaded(sessionBucket('sess-1')), false);
  assert.throws(() => r.apply(checkin(2, 'p2')), /not loaded/);
  assert.deepEqual(r.takeChanges(), [], 'a refused apply changes nothing');
  r.load(stored);
  assert.equal(r.apply(checkin(2, 'p2')), 0);
  assert.deepEqual(r.checkinsOf('sess-1').map((c) => c.participant), ['p1', 'p2']);
  /* The stored copy is older than what the replica holds now: skipped. */
  r.load(stored);
  assert.equal(r.checkinsOf('sess-1').length, 2);
  /* An erasure reaches into every session: only on a complete replica. */
  const erasure = { d: 'dev-a', s: 3, n: 0, h: 3n << 16n, y: 9, k: 'p1', k2: '', b: 0, f: new Map([[1, 1]]) };
  assert.throws(() => r.apply(erasure), /not loaded/);
  r.complete();
  assert.equal(r.apply(erasure), 0);
  assert.deepEqual(r.checkinsOf('sess-1').map((c) => c.participant), ['p2']);
});

test('buckets: a session together, other rows spread by their first key', () => {
  assert.equal(bucketOf('checkin sess-1 p1'), sessionBucket('sess-1'));
  assert.equal(bucketOf('tally sess-1 dev-a'), sessionBucket('sess-1'));
  assert.equal(bucketOf('session_log sess-1'), bucketOf('session_log sess-1'));
  const spread = new Set();
  for (let i = 0; i < 1000; i++) spread.add(bucketOf(`participant p${i}`));
  assert.equal(spread.size, 64);
});

test('sessions are kept by date, and move when their date changes', () => {
  const session = (s, date) => ({ d: 'dev-a', s, n: 0, h: BigInt(s) << 16n, y: 3, k: 'sess-1', k2: '', b: 0,
    f: new Map([[1, 'act-1'], [2, date]]) });
  const r = new Replica();
  assert.equal(r.apply(session(1, '2026-01-05')), 0);
  const first = persist(r.takeChanges());
  assert.deepEqual(first.map(([b]) => b), [dateBucket('2026-01-05')]);
  assert.equal(r.apply(session(2, '2026-01-12')), 0);
  const moved = persist(r.takeChanges());
  assert.deepEqual(moved.map(([b, rows]) => [b, rows && rows.map(([k]) => k)]).sort(),
    [[dateBucket('2026-01-05'), undefined], [dateBucket('2026-01-12'), ['session sess-1']]]);

  /* A partial replica takes a session op only once every session is
   * loaded: the op may move the row out of a bucket not loaded. */
  const p = new Replica({ partial: true });
  p.load(first);
  assert.equal(p.get('session', 'sess-1').date, '2026-01-05');
  assert.throws(() => p.apply(session(2, '2026-01-12')), /not loaded/);
  p.coreComplete();
  assert.equal(p.apply(session(2, '2026-01-12')), 0);
  assert.deepEqual(p.takeChanges().map(([b, rows]) => [b, rows && rows.length]).sort(),
    [[dateBucket('2026-01-05'), undefined], [dateBucket('2026-01-12'), 1]]);
});
