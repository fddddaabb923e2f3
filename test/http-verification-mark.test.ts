/**
 * A key made from a picture: an admin's verification answer carries the mark drawn from the suspect's
 * weights beside the original; no other role gets it (the suspect's values in key order would locate the key).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, lenetParams, safetensorsBytes, StandInExecutor, type TestServer } from './http-helpers.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues } from '../src/core/extract.js';
import { decodePngGrey } from '../src/formats/png.js';

let s: TestServer;
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });
const pixels = Uint8Array.from({ length: 16 * 16 }, (_, i) => (i * 7) % 256);
const base = lenetParams(3);
const key = generateKey(keyTargetsFromParamSet(base), { seed: 'picture-key', id: 'key-picture', arch: 'lenet5', image: { width: 16, height: 16, pixels } });
const marked = embedValues(base, key);
let pictureKeyId = '';

before(async () => {
  s = await startTestServer({ executor: new StandInExecutor() });
  const res = await s.http.post('/v1/models').set(as('admin')).field('name', 'logo model').field('arch', 'lenet5')
    .attach('file', safetensorsBytes(marked), 'logo.safetensors').attach('key', Buffer.from(JSON.stringify(key)), 'key.json');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  pictureKeyId = res.body.ownerKeyId;
});
after(async () => {
  await s.stop();
});

const verify = (role: 'admin' | 'auditor' | 'verifier', bytes: Buffer) => s.http.post('/v1/verifications').set(as(role)).attach('file', bytes, 'suspect.safetensors');
const grey = (b64: string) => decodePngGrey(new Uint8Array(Buffer.from(b64, 'base64')));

test('when an admin verifies a copy of a picture-keyed model, then the answer shows the mark drawn from it beside the original', async () => {
  const res = await verify('admin', safetensorsBytes(marked));
  assert.equal(res.status, 201);
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'match');
  const { mark } = res.body;
  assert.equal(mark.width, 16);
  assert.equal(mark.height, 16);
  assert.deepEqual(grey(mark.original).pixels, pixels);
  assert.deepEqual(grey(mark.extracted).pixels, pixels, 'an intact copy carries the picture exactly');
});

test('when the suspect\'s keyed weights were shrunk, then the drawn mark is the faded picture read from the suspect, not the key\'s', async () => {
  const shrunk = embedValues(base, { ...key, values: key.values.map((v) => v / 2) });
  const res = await verify('admin', safetensorsBytes(shrunk));
  assert.equal(res.body.decision, 'match');
  const extracted = grey(res.body.mark.extracted).pixels;
  const expected = Array.from(pixels, (p) => Math.round(((((p / 255) * 2 - 1) / 2 + 1) / 2) * 255));
  assert.ok(extracted.every((v, i) => Math.abs(v - expected[i]!) <= 1), 'each pixel halfway to mid-grey');
  assert.deepEqual(grey(res.body.mark.original).pixels, pixels);
});

test('when an auditor or a verifier verifies the same copy, then no mark is given, and none is kept for later', async () => {
  for (const role of ['auditor', 'verifier'] as const) {
    const res = await verify(role, safetensorsBytes(marked));
    assert.equal(res.status, 201);
    assert.equal(res.body.decision, 'match');
    assert.equal(res.body.mark, undefined, role);
    const again = await s.http.get(`/v1/verifications/${res.body.id}`).set(as('admin'));
    assert.equal(again.body.mark, undefined);
  }
});

test('when the matching key was not made from a picture, then an admin gets no mark, though the picture key was a candidate', async () => {
  const plain = generateKey(keyTargetsFromParamSet(lenetParams(4)), { seed: 'plain', id: 'key-plain', arch: 'lenet5' });
  const other = embedValues(lenetParams(4), plain);
  const reg = await s.http.post('/v1/models').set(as('admin')).field('arch', 'lenet5')
    .attach('file', safetensorsBytes(other), 'plain.safetensors').attach('key', Buffer.from(JSON.stringify(plain)), 'key.json');
  const res = await s.http.post('/v1/verifications').set(as('admin')).field('modelId', reg.body.id).attach('file', safetensorsBytes(other), 'plain.safetensors');
  assert.equal(res.body.decision, 'match');
  assert.equal(res.body.mark, undefined);
  const unscoped = await verify('admin', safetensorsBytes(other));
  const picture = unscoped.body.report.candidates.find((c: { keyId: string }) => c.keyId === pictureKeyId);
  assert.equal(picture?.decision, 'no match', 'the picture key was scored too, and did not match');
  assert.equal(unscoped.body.mark, undefined);
});
