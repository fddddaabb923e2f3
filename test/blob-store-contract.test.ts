/**
 * The blob-store contract, run against both engines: local files (the embedded default) and an S3
 * bucket (s3rver on loopback). Content-addressed put/get/has, a damaged or missing object refused on
 * read, and a file larger than one part streamed in as a multipart upload.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { FileBlobStore, BlobIntegrityError, openBlobStore, sha256Of, type BlobStore } from '../src/store/blobs.js';
import { startS3Endpoint, type S3Endpoint } from './s3-helpers.js';
import { tempDir } from './http-helpers.js';

interface Engine {
  name: string;
  open(): Promise<BlobStore>;
  /** Replaces the stored content of a digest behind the store's back. */
  overwrite(sha256: string, bytes: Uint8Array): Promise<void>;
  /** Whether the stored object was written by a multipart upload. */
  multipart?(sha256: string): boolean;
}

let s3: S3Endpoint;
let raw: S3Client;
before(async () => {
  s3 = await startS3Endpoint('blob-contract');
  raw = new S3Client({ endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, credentials: s3.settings.credentials!, requestChecksumCalculation: 'WHEN_REQUIRED' });
});
after(async () => {
  raw?.destroy();
  await s3?.stop();
});

const fileDir = tempDir('blobs');
const engines: Engine[] = [
  {
    name: 'files',
    open: async () => new FileBlobStore(fileDir),
    overwrite: async (sha256, bytes) => fs.writeFileSync(new FileBlobStore(fileDir).pathOf(sha256), bytes),
  },
  {
    name: 's3',
    open: () => openBlobStore({ dir: '/nonexistent', s3: s3.settings }),
    overwrite: async (sha256, bytes) => {
      await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `models/${sha256.slice(0, 2)}/${sha256}`, Body: bytes }));
    },
    multipart: (sha256) => s3.created.get(`models/${sha256.slice(0, 2)}/${sha256}`) === 'ObjectCreated:Post',
  },
];

for (const e of engines) {
  describe(`blob store on ${e.name}`, () => {
    test('when bytes are put, then they come back under their digest, has() sees them and a second put is a no-op', async () => {
      const store = await e.open();
      const bytes = crypto.randomBytes(1000);
      const ref = await store.put('m.safetensors', bytes);
      assert.deepEqual(ref, { name: 'm.safetensors', sha256: sha256Of(bytes), size: 1000 });
      if (e.multipart) assert.equal(e.multipart(ref.sha256), false, 'one part: a single PUT');
      assert.equal(await store.has(ref.sha256), true);
      assert.deepEqual(Buffer.from(await store.get(ref)), bytes);
      assert.deepEqual(await store.put('again.bin', bytes), { ...ref, name: 'again.bin' });
      assert.equal(await store.has(sha256Of(crypto.randomBytes(8))), false);
      await store.close();
    });

    test('when a stored object is altered, then get refuses it as corrupt', async () => {
      const store = await e.open();
      const ref = await store.put('c.bin', crypto.randomBytes(4096));
      await e.overwrite(ref.sha256, crypto.randomBytes(4096));
      await assert.rejects(store.get(ref), (err: Error) => err instanceof BlobIntegrityError && /corrupt/.test(err.message));
      // a shorter object is refused too (the S3 engine reads into a buffer of the recorded size)
      await e.overwrite(ref.sha256, crypto.randomBytes(10));
      await assert.rejects(store.get(ref), BlobIntegrityError);
      await store.close();
    });

    test('when a digest was never stored, then get says it is missing', async () => {
      const store = await e.open();
      const bytes = crypto.randomBytes(16);
      await assert.rejects(store.get({ name: 'x', sha256: sha256Of(bytes), size: 16 }), (err: Error) => err instanceof BlobIntegrityError && /missing/.test(err.message));
      await assert.rejects(store.get({ name: 'x', sha256: '../../etc/passwd', size: 1 }), /not a sha256 digest/);
      await store.close();
    });

    test('when a file larger than one upload part is put from disk, then it is streamed in whole and reads back with its digest', async () => {
      const store = await e.open();
      const file = path.join(tempDir('big'), 'big.bin');
      const big = crypto.randomBytes(20 * 1024 * 1024 + 123);
      fs.writeFileSync(file, big);
      const ref = await store.putFile('big.bin', file);
      assert.equal(ref.sha256, sha256Of(big));
      assert.equal(ref.size, big.length);
      if (e.multipart) assert.equal(e.multipart(ref.sha256), true, 'more than one 8 MiB part: a multipart upload');
      const back = await store.get(ref);
      assert.equal(sha256Of(back), ref.sha256);
      // the same bytes from memory land on the same object
      assert.deepEqual(await store.put('big-again.bin', big), { ...ref, name: 'big-again.bin' });
      await store.close();
    });
  });
}

test('when the S3 bucket does not exist, then opening the store fails naming the bucket and not the credentials', async () => {
  await assert.rejects(openBlobStore({ dir: '/nonexistent', s3: { ...s3.settings, bucket: 'no-such-bucket' } }), (err: Error) => {
    assert.match(err.message, /bucket 'no-such-bucket' is not usable/);
    assert.equal(err.message.includes('S3RVER'), false);
    return true;
  });
});
