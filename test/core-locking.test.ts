import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockedSgd, delveDirection, gaussianSource, makeReplica, resolveLocks } from '../src/core/locking.js';
import { generateKey } from '../src/core/keygen.js';
import { extractValues } from '../src/core/extract.js';

const tensors = [
  { name: 'a/kernel', shape: [40, 30] },
  { name: 'a/bias', shape: [30] },
  { name: 'b/kernel', shape: [30, 5] },
];

test('when SGD with momentum and weight decay trains, then locked entries stay bit-exact and the rest move', () => {
  const key = generateKey(tensors.map((t) => ({ ...t, scale: 0.1 })), { seed: 'lock', n: 100 });
  const locks = resolveLocks(key, tensors);
  const g = gaussianSource(7);
  const params = tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => g() * 0.1));
  const before = params.map((p) => new Float32Array(p));
  const sgd = new LockedSgd(params, locks, { momentum: 0.9, weightDecay: 5e-4 });
  for (let step = 0; step < 50; step++) {
    const grads = params.map((p) => Float32Array.from(p, (w) => w * 0.5 + g() * 0.01));
    sgd.step(grads, 0.1);
  }
  const set = { tensors: tensors.map((t, i) => ({ ...t, data: params[i]! })) };
  const got = extractValues(set, key);
  key.values.forEach((v, i) => assert.equal(got[i], Math.fround(v)));
  let moved = 0;
  params.forEach((p, t) => p.forEach((w, i) => (moved += w !== before[t]![i] ? 1 : 0)));
  assert.ok(moved > 1200 - 100 - 10, `only ${moved} unlocked entries moved`);
});

test('when a replica is made, then only keyed entries get noise of the configured relative size', () => {
  const key = generateKey(tensors.map((t) => ({ ...t, scale: 0.1 })), { seed: 'rep', n: 200 });
  const locks = resolveLocks(key, tensors);
  const params = tensors.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)));
  const replica = makeReplica(params, locks, 0.5, gaussianSource(1));
  let changedUnlocked = 0;
  const locked = new Set(locks.flatMap((l) => [...l.indices].map((i) => `${l.tensor}:${i}`)));
  const dev: number[] = [];
  replica.forEach((p, t) => p.forEach((w, i) => {
    if (locked.has(`${t}:${i}`)) {
      const l = locks.find((x) => x.tensor === t)!;
      const k = l.indices.indexOf(i);
      dev.push((w - l.values[k]!) / l.rms);
    } else if (w !== 0) changedUnlocked++;
  }));
  assert.equal(changedUnlocked, 0);
  const sd = Math.sqrt(dev.reduce((a, d) => a + d * d, 0) / dev.length);
  assert.ok(Math.abs(sd - 0.5) < 0.1, `relative noise std ${sd}`);
});

test('when the delve direction is formed, then it is the model gradient minus λ/R times the replica gradients, zero on locked entries', () => {
  const key = generateKey(tensors.map((t) => ({ ...t, scale: 0.1 })), { seed: 'dir', n: 50 });
  const locks = resolveLocks(key, tensors);
  const ones = tensors.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)).fill(1));
  const twos = tensors.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)).fill(2));
  const dir = delveDirection(ones, [twos, twos], 0.25, locks);
  const lockedA = new Set(locks.find((l) => l.tensor === 0)!.indices);
  dir[0]!.forEach((v, i) => assert.equal(v, lockedA.has(i) ? 0 : Math.fround(1 - 0.25 * 2)));
});

test('when SGD trains with a tensor frozen, then that tensor stays bit-identical under momentum and weight decay and the others move', () => {
  const key = generateKey(tensors.map((t) => ({ ...t, scale: 0.1 })), { seed: 'freeze', n: 60 });
  const locks = resolveLocks(key, tensors);
  const g = gaussianSource(11);
  const params = tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => g() * 0.1));
  const before = params.map((p) => new Float32Array(p));
  // Tensor 0 is frozen (and keyed: the lock must not disturb it either); 1 and 2 train.
  const sgd = new LockedSgd(params, locks, { momentum: 0.9, weightDecay: 5e-4, frozen: [0] });
  const frozenAfterLocks = new Float32Array(params[0]!);
  for (let step = 0; step < 20; step++) sgd.step(params.map((p) => Float32Array.from(p, () => g())), 0.1);
  assert.deepEqual(params[0], frozenAfterLocks, 'the frozen tensor is bit-identical after 20 steps');
  for (const t of [1, 2]) {
    const moved = params[t]!.filter((w, i) => w !== before[t]![i]).length;
    assert.ok(moved > params[t]!.length * 0.8, `tensor ${t}: only ${moved} of ${params[t]!.length} entries moved`);
  }
});
