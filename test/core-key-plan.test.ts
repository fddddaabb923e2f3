import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialParamSet } from '../src/core/init.js';
import { allocateByLayer, checkDerivation, materializeKey, planFromCommitment, planTargets, policyRecord } from '../src/core/keyPlan.js';
import { commitmentDigest, makeCommitment, parseCommitment } from '../src/core/commitment.js';
import { ksTwoSample } from '../src/core/stats.js';
import { defaults } from '../src/core/config.js';

const lenet = initialParamSet('lenet5', 3);
const policy = { minPerLayer: 64, maxFraction: 0.2, share: 'size' as const };
const commit = (nonce = 'a'.repeat(64), n = 1024) =>
  makeCommitment({ owner: 'alice', subject: 'job_1', arch: 'lenet5', n, allocation: policyRecord(policy), createdAt: '2026-12-01T00:00:00.000Z', nonce });

test('when positions are allocated by layer, then every parameterised layer (the output layer too) gets its floor and the total is n', () => {
  const targets = planTargets(lenet.tensors);
  const alloc = allocateByLayer(targets, 1024, policy);
  assert.equal(alloc.reduce((a, b) => a + b, 0), 1024);
  const perLayer = new Map<string, number>();
  targets.forEach((t, i) => perLayer.set(t.layer, (perLayer.get(t.layer) ?? 0) + alloc[i]!));
  assert.deepEqual([...perLayer.keys()], ['conv1', 'conv2', 'fc1', 'fc2']);
  for (const [layer, n] of perLayer) assert.ok(n >= 64, `${layer} has ${n}`);
  // conv1 has 520 parameters: never more than 20% of them
  assert.ok(perLayer.get('conv1')! <= 104);
  assert.throws(() => allocateByLayer(targets, 200_000, policy), /does not fit/);
});

test('when a plan is drawn from a commitment, then it is deterministic, depends on the secret nonce, and covers every layer', () => {
  const a = planFromCommitment(commit(), lenet.tensors);
  const b = planFromCommitment(commit(), lenet.tensors);
  const c = planFromCommitment(commit('b'.repeat(64)), lenet.tensors);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.flatIndex, c.flatIndex);
  assert.equal(new Set(a.tensorIndex.map((t, i) => `${t}:${a.flatIndex[i]}`)).size, 1024, 'no position repeats');
  assert.equal(a.layers.length, lenet.tensors.length);
});

test('when a key is materialised, then its values follow the tensor\'s own distribution and rise with the committed signal', () => {
  const c = commit();
  const key = materializeKey(planFromCommitment(c, lenet.tensors), lenet, { id: 'k', arch: 'lenet5', commitment: commitmentDigest(c) });
  assert.equal(key.version, 2);
  assert.equal(key.valueKind, 'distribution-matched');
  const fc1 = lenet.tensors.findIndex((t) => t.name === 'fc1/kernel');
  const marked = key.values.filter((_, i) => key.tensorIndex[i] === fc1);
  assert.ok(ksTwoSample(marked, lenet.tensors[fc1]!.data).pValue > 0.01);
  assert.deepEqual(checkDerivation(key, c), { ok: true });
});

test('when a key does not follow from its commitment, then the derivation check says which part differs', () => {
  const c = commit();
  const key = materializeKey(planFromCommitment(c, lenet.tensors), lenet, { id: 'k', commitment: commitmentDigest(c) });
  const moved = { ...key, flatIndex: key.flatIndex.map((f, i) => (i === 3 ? f + 1 : f)) };
  const resignalled = { ...key, signal: key.signal!.map((z, i) => (i === 7 ? z + 1e-9 : z)) };
  // values fitted to another model: not monotone in the committed signal
  const refitted = { ...key, values: key.values.map((v, i) => (i % 2 ? -v : v)) };
  const other = commit('c'.repeat(64));
  assert.match(String((checkDerivation(moved, c) as { reason: string }).reason), /position 3 differs/);
  assert.match(String((checkDerivation(resignalled, c) as { reason: string }).reason), /signal 7 differs/);
  assert.match(String((checkDerivation(refitted, c) as { reason: string }).reason), /do not rise/);
  assert.match(String((checkDerivation(key, other) as { reason: string }).reason), /hashes to/);
});

test('when a licensee plan is drawn next to the owner key, then no position is shared', () => {
  const owner = materializeKey(planFromCommitment(commit(), lenet.tensors), lenet, { id: 'o' });
  const lic = planFromCommitment(commit('d'.repeat(64)), lenet.tensors, [owner]);
  const taken = new Set(owner.tensorIndex.map((t, i) => `${t}:${owner.flatIndex[i]}`));
  assert.equal(lic.tensorIndex.filter((t, i) => taken.has(`${t}:${lic.flatIndex[i]}`)).length, 0);
});

test('when a commitment is read back, then malformed ones are refused with the field named', () => {
  assert.deepEqual(parseCommitment(JSON.parse(JSON.stringify(commit()))), commit());
  assert.throws(() => parseCommitment({ ...commit(), nonce: 'xyz' }), /nonce/);
  assert.throws(() => parseCommitment({ ...commit(), scheme: 'v0' }), /scheme/);
  assert.equal(defaults.key.allocation.maxFraction, 0.2);
});
