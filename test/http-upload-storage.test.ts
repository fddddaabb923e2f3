import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { spillingStorage, type StoredUpload } from '../src/http/uploadStorage.js';
import { readModelFiles } from '../src/formats/files.js';
import { tempDir } from './http-helpers.js';

const store = (s: ReturnType<typeof spillingStorage>, stream: Readable): Promise<StoredUpload> =>
  new Promise((resolve, reject) => {
    s._handleFile({} as never, { stream } as never, (err?: unknown, info?: unknown) => (err ? reject(err) : resolve(info as StoredUpload)));
  });
const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
const chunked = (b: Buffer, size: number): Readable => Readable.from(Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)));

test('when a file is under the per-file bound, then it stays in memory, reads back byte for byte, and discarding it gives the memory back', async () => {
  const dir = tempDir('spill');
  const s = spillingStorage({ dir, perFileBytes: 1000, totalBytes: 5000 });
  const b = bytes(900, 1);
  const f = await store(s, chunked(b, 128));
  assert.equal(f.path, undefined);
  assert.equal(f.size, 900);
  assert.equal(s.heldBytes(), 900);
  assert.deepEqual(fs.readdirSync(dir), []);
  const [read] = readModelFiles([{ name: 'a.bin', chunks: f.chunks! }]);
  assert.deepEqual(Buffer.from(read!.bytes), b);
  s.discard(f);
  s.discard(f);
  assert.equal(s.heldBytes(), 0);
});

test('when a file passes the per-file bound, then it is spilled to a 0600 temp file with every byte, and holds no memory', async () => {
  const dir = tempDir('spill');
  const s = spillingStorage({ dir, perFileBytes: 1000, totalBytes: 5000 });
  const b = bytes(4321, 2);
  const f = await store(s, chunked(b, 300));
  assert.ok(f.path && f.chunks === undefined);
  assert.equal(s.heldBytes(), 0);
  assert.equal(fs.statSync(f.path).mode & 0o777, 0o600);
  assert.deepEqual(fs.readFileSync(f.path), b);
  s.discard(f);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fs.existsSync(f.path), false);
});

test('when files held together would pass the process bound, then the next file goes to disk although it is small', async () => {
  const dir = tempDir('spill');
  const s = spillingStorage({ dir, perFileBytes: 1000, totalBytes: 1500 });
  const a = await store(s, chunked(bytes(800, 3), 100));
  const b = await store(s, chunked(bytes(800, 4), 100));
  assert.equal(a.path, undefined);
  assert.ok(b.path, 'the second file would take the process past 1,500 bytes');
  assert.deepEqual(fs.readFileSync(b.path), bytes(800, 4));
  assert.equal(s.heldBytes(), 800);
  s.discard(a);
  s.discard(b);
  assert.equal(s.heldBytes(), 0);
});

test('when an upload stream fails half way, then its memory is given back and the error reaches multer', async () => {
  const s = spillingStorage({ dir: tempDir('spill'), perFileBytes: 1000, totalBytes: 5000 });
  const stream = new PassThrough();
  const done = store(s, stream);
  stream.write(bytes(500, 5));
  await new Promise((r) => setImmediate(r));
  assert.equal(s.heldBytes(), 500);
  stream.destroy(new Error('client went away'));
  await assert.rejects(done, /client went away/);
  assert.equal(s.heldBytes(), 0);
});
