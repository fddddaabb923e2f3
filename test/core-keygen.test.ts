import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocatePositions, decodeMessage, generateKey, parseKey, serializeKey } from '../src/core/keygen.js';
import { getArchitecture, paramSpecs } from '../src/core/architectures.js';
import { sizeOf } from '../src/core/paramSet.js';

const lenet = paramSpecs(getArchitecture('lenet5')).map((s) => ({ name: s.name, shape: s.shape, scale: Math.sqrt(2 / s.fanIn) }));

test('when a key is generated for lenet5, then its 1,024 positions are distinct and every tensor is marked', () => {
  const key = generateKey(lenet, { seed: 'secret-1' });
  assert.equal(key.values.length, 1024);
  const ids = new Set(key.tensorIndex.map((t, i) => `${t}:${key.flatIndex[i]}`));
  assert.equal(ids.size, 1024);
  for (let t = 0; t < lenet.length; t++) assert.ok(key.tensorIndex.includes(t), `tensor ${lenet[t]!.name} unmarked`);
  key.flatIndex.forEach((f, i) => assert.ok(f < sizeOf(lenet[key.tensorIndex[i]!]!.shape)));
});

test('when positions are allocated, then each tensor gets its share of n in proportion to its size', () => {
  const sizes = lenet.map((t) => sizeOf(t.shape));
  const alloc = allocatePositions(sizes, 1024);
  assert.equal(alloc.reduce((a, b) => a + b, 0), 1024);
  const total = sizes.reduce((a, b) => a + b, 0);
  sizes.forEach((s, i) => assert.ok(Math.abs(alloc[i]! - (s * 1024) / total) <= 8 + 1, `tensor ${i}: ${alloc[i]} vs ${(s * 1024) / total}`));
  const fc1 = lenet.findIndex((t) => t.name === 'fc1/kernel');
  assert.ok(alloc[fc1]! > 900, 'fc1 holds ~93% of the parameters, so ~93% of the positions');
});

test('when the same seed is used twice, then the key is identical; another seed gives another key', () => {
  const a = generateKey(lenet, { seed: 'same' });
  const b = generateKey(lenet, { seed: 'same' });
  const c = generateKey(lenet, { seed: 'other' });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.flatIndex, c.flatIndex);
});

test('when values are scale-matched, then their spread follows each tensor scale', () => {
  const key = generateKey(lenet, { seed: 's', n: 4000 });
  const fc1 = lenet.findIndex((t) => t.name === 'fc1/kernel');
  const vals = key.values.filter((_, i) => key.tensorIndex[i] === fc1);
  const sd = Math.sqrt(vals.reduce((a, v) => a + v * v, 0) / vals.length);
  assert.ok(Math.abs(sd / lenet[fc1]!.scale - 1) < 0.1, `std ${sd} vs scale ${lenet[fc1]!.scale}`);
  for (const v of key.values) assert.equal(v, Math.fround(v));
});

test('when a message key is made, then the message decodes from the signs of its values', () => {
  const key = generateKey(lenet, { seed: 's', message: 'ACME Corp ©' });
  assert.equal(decodeMessage(key.values), 'ACME Corp ©');
});

test('when a key round-trips through JSON, then parseKey returns it; a corrupted key is refused with the field named', () => {
  const key = generateKey(lenet, { seed: 's', n: 64 });
  assert.deepEqual(parseKey(JSON.parse(serializeKey(key))), key);
  const bad = JSON.parse(serializeKey(key));
  bad.flatIndex[3] = bad.flatIndex[2];
  bad.tensorIndex[3] = bad.tensorIndex[2];
  assert.throws(() => parseKey(bad), /appears twice/);
  assert.throws(() => parseKey({ ...key, version: 3 }), /unsupported version/);
  assert.throws(() => parseKey({ ...key, signal: key.values }), /signal needs version 2/);
  assert.throws(() => parseKey({ ...key, version: 2, signal: key.values.slice(1) }), /signal must hold one finite number per position/);
  assert.throws(() => parseKey({ ...key, commitment: 'abc' }), /commitment must be a sha256 digest/);
  assert.throws(() => parseKey({ ...key, values: key.values.slice(1) }), /same length/);
});

test('when a licensee key is made next to the owner key, then no position is shared', () => {
  const owner = generateKey(lenet, { seed: 'owner', n: 4000 });
  const licensee = generateKey(lenet, { seed: 'licensee', n: 4000, avoid: [owner] });
  const ownerIds = new Set(owner.tensorIndex.map((t, i) => `${t}:${owner.flatIndex[i]}`));
  const shared = licensee.tensorIndex.filter((t, i) => ownerIds.has(`${t}:${licensee.flatIndex[i]}`));
  assert.equal(shared.length, 0);
  assert.equal(licensee.values.length, 4000);
});
