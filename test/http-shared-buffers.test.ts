/**
 * Suspects are read into pooled shared buffers (src/http/sharedBufferPool.ts): reuse must never let one
 * verification see another's bytes, and the pool stays within its bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SharedBufferPool } from '../src/http/sharedBufferPool.js';
import { suspectBuffers } from '../src/http/uploads.js';
import { startTestServer } from './http-helpers.js';

test('when buffers are given back, then the pool hands the same ones out again, within its bounds', () => {
  const pool = new SharedBufferPool({ maxBuffer: 1024, maxPooled: 2048, granule: 256 });
  const a = pool.take(700);
  assert.equal(a.byteLength, 768, 'sizes are rounded up to the granule');
  pool.give(a);
  pool.give(a);
  assert.equal(pool.pooledBytes, 768, 'a buffer given twice is pooled once');
  assert.equal(pool.take(600), a, 'a buffer of the same size class comes back');
  assert.equal(pool.pooledBytes, 0);
  const big = pool.take(5000);
  assert.equal(big.byteLength, 5000, 'past maxBuffer: a plain buffer of the exact size');
  pool.give(big);
  assert.equal(pool.pooledBytes, 0, 'and it is never pooled');
  for (const b of [pool.take(1000), pool.take(1000), pool.take(1000)]) pool.give(b);
  assert.equal(pool.pooledBytes, 2048, 'never more than maxPooled');
});

test('when suspects of different sizes are verified one after another on reused buffers, then each report names its own file and its own decision', async () => {
  const s = await startTestServer();
  try {
    const marked = readFileSync('models/robustness/naive.safetensors');
    const other = readFileSync('test/fixtures/torch/independent/torch_lenet5.safetensors');
    const reg = await s.http.post('/v1/models').set({ Authorization: `Bearer ${s.tokens.issuer}` }).field('arch', 'lenet5')
      .attach('file', marked, 'naive.safetensors').attach('key', readFileSync('models/robustness/key.json'), 'key.json');
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    for (const [bytes, decision] of [[marked, 'match'], [other, 'no match'], [marked, 'match'], [other, 'no match']] as const) {
      const v = await s.http.post('/v1/verifications').set({ Authorization: `Bearer ${s.tokens.auditor}` }).attach('file', bytes, 'suspect.safetensors');
      assert.equal(v.status, 201, JSON.stringify(v.body));
      assert.equal(v.body.decision, decision);
      assert.equal(v.body.report.suspect.files[0].sha256, crypto.createHash('sha256').update(bytes).digest('hex'));
      assert.equal(v.body.report.suspect.files[0].size, bytes.length);
    }
    assert.ok(suspectBuffers.pooledBytes > 0, 'the buffers went back to the pool');
  } finally {
    await s.stop();
  }
});
