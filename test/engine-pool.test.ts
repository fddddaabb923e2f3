import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getArchitecture } from '../src/core/architectures.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';
import { planTasks } from '../src/training/enginePool.js';
import { relErr } from './engine-helpers.js';

function batchOf(n: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  return { x: Float32Array.from({ length: n * 784 }, () => rnd() * 2 - 0.5), y: Uint8Array.from({ length: n }, () => Math.floor(rnd() * 10)), n };
}


test('when work is planned over workers, then every (vector, sample) is covered once and the shares differ by at most one sample', () => {
  for (const [vectors, n, workers] of [[1, 100, 2], [5, 100, 2], [3, 7, 2], [1, 1, 2], [4, 10, 3]] as const) {
    const plans = planTasks(vectors, n, workers);
    const covered = new Uint8Array(vectors * n);
    for (const tasks of plans) for (const t of tasks) for (let s = t.start; s < t.start + t.n; s++) covered[t.vector * n + s]!++;
    assert.ok(covered.every((c) => c === 1), `${vectors}x${n} over ${workers}`);
    const shares = plans.map((tasks) => tasks.reduce((a, t) => a + t.n, 0));
    assert.ok(Math.max(...shares) - Math.min(...shares) <= 1, `shares ${shares.join(', ')}`);
  }
  // delve's 1 + 4 replicas on 2 workers: whole vectors at full batch, only the middle one split.
  assert.deepEqual(planTasks(5, 100, 2).map((ts) => ts.map((t) => [t.vector, t.start, t.n])), [
    [[0, 0, 100], [1, 0, 100], [2, 0, 50]],
    [[2, 50, 50], [3, 0, 100], [4, 0, 100]],
  ]);
});

test('when two worker threads share a request, then loss, correct count and gradients equal the single-thread ones', async () => {
  const arch = getArchitecture('lenet5');
  const local = await createGradientEngine(arch, { threads: 1, backend: 'wasm' });
  const pool = await createGradientEngine(arch, { threads: 2, backend: 'wasm' });
  try {
    assert.equal(pool.threads, 2);
    assert.equal(pool.backend, 'wasm');
    // 3 vectors x 7 samples on 2 workers: vector 1 is split 4 + 3, so its shards are weighted 4/7 and 3/7.
    const batch = batchOf(7, 3);
    const replicas = [initParams(arch, 1), initParams(arch, 2), initParams(arch, 3)];
    const many = await pool.lossAndGradsMany(replicas, batch);
    assert.equal(many.length, 3);
    for (let r = 0; r < replicas.length; r++) {
      const want = await local.lossAndGrads(replicas[r]!, batch);
      assert.ok(Math.abs(many[r]!.loss - want.loss) < 1e-5, `loss ${many[r]!.loss} vs ${want.loss}`);
      assert.equal(many[r]!.correct, want.correct);
      want.grads.forEach((g, i) => assert.ok(relErr(many[r]!.grads[i]!, g) < 1e-5, `replica ${r} tensor ${i}: ${relErr(many[r]!.grads[i]!, g)}`));
    }
    const logits = await pool.predict(replicas[0]!, batch.x, batch.n);
    const wantLogits = await local.predict(replicas[0]!, batch.x, batch.n);
    assert.ok(relErr(logits, wantLogits) < 1e-5);
    const ev = await pool.evaluate(replicas[0]!, batch, 3);
    const wantEv = await local.evaluate(replicas[0]!, batch);
    assert.ok(Math.abs(ev.loss - wantEv.loss) < 1e-5 && ev.accuracy === wantEv.accuracy);
  } finally {
    await pool.dispose();
    await local.dispose();
  }
});

test('when a worker throws on a request, then the promise rejects with its message and the pool still serves', async () => {
  const pool = await createGradientEngine('mlp', { threads: 2, backend: 'wasm' });
  try {
    const params = initParams('mlp', 1);
    const bad = { ...batchOf(4, 1), y: Uint8Array.from([0, 1, 2, 99]) };
    await assert.rejects(pool.lossAndGrads(params, bad), /Label 99 .* 10 classes/);
    const ok = await pool.lossAndGrads(params, batchOf(4, 2));
    assert.ok(Number.isFinite(ok.loss));
  } finally {
    await pool.dispose();
  }
});

test('when workers cannot start the requested backend, then creating the pool rejects instead of hanging', async () => {
  await assert.rejects(createGradientEngine('mlp', { threads: 2, backend: 'tensorflow' }), /tensorflow/);
});

test('when the pool is disposed, then further requests reject', async () => {
  const pool = await createGradientEngine('mlp', { threads: 2, backend: 'wasm' });
  await pool.dispose();
  await assert.rejects(pool.lossAndGrads(initParams('mlp', 1), batchOf(2, 1)), /disposed/);
});
