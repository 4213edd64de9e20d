// test_merge_vectors.mjs — runs the shared merge conformance vectors
// (protocol/testdata/merge, format in its README.md) against the JavaScript
// replica, as tests/unit/test_merge_vectors.c runs them against the C one:
// every delivery order into a fresh Replica, each op's result, the canonical
// state, and the persistence round trip (load(takeChanges()) into another
// Replica reads the same).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Replica } from '../../clients/js/replica.js';

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

/* What IndexedDB does with the rows of takeChanges: clones them at once. */
const persist = (rows) => rows.map(([k, row]) => [k, row === undefined ? undefined : structuredClone(row)]);

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
      reloaded.load(changes);
      assert.deepEqual(reloaded.dump(), v.expect.state, `order ${o} after load`);
    });
  });
}
