/**
 * Model files in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph RGW), content-addressed
 * like the file store: `<prefix><aa>/<sha256>`. Uploads go through lib-storage, which sends a file
 * larger than one part as a multipart upload, streamed part by part; reads stream into one buffer of
 * the recorded size while hashing, so a model is held once and its digest is checked before use.
 * Loaded only when WEIGHTMARK_S3_BUCKET is set (src/store/blobs.ts).
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import crypto from 'node:crypto';
import { S3Client, HeadObjectCommand, GetObjectCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Settings } from '../config/env.js';
import type { FileRef } from './types.js';
import { assertDigest, BlobIntegrityError, sha256Of, sha256OfFile, type BlobStore } from './blobs.js';

/** 8 MiB parts, two in flight: a large upload holds at most 16 MiB of itself in memory. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export class S3BlobStore implements BlobStore {
  readonly engine = 's3';
  private constructor(private readonly client: S3Client, private readonly s: S3Settings) {}

  /**
   * Connects and checks that the bucket is reachable.
   * @throws Error naming the bucket (never the credentials) when it is missing or access is refused.
   */
  static async open(s: S3Settings): Promise<S3BlobStore> {
    const client = new S3Client({
      region: s.region,
      ...(s.endpoint ? { endpoint: s.endpoint } : {}),
      forcePathStyle: s.forcePathStyle,
      ...(s.credentials ? { credentials: s.credentials } : {}),
      // Integrity is ours (SHA-256 checked on every read); the SDK's default CRC trailers are not
      // understood by every S3-compatible server (older Ceph RGW and MinIO, s3rver), so send them only
      // where an operation requires one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      await client.send(new HeadBucketCommand({ Bucket: s.bucket }));
    } catch (e) {
      client.destroy();
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      throw new Error(`S3 bucket '${s.bucket}' is not usable${s.endpoint ? ` at ${s.endpoint}` : ''}: ${status ? `HTTP ${status}` : (e as Error).message}; create it and grant this service read and write on it`);
    }
    return new S3BlobStore(client, s);
  }

  private keyOf(sha256: string): string {
    assertDigest(sha256);
    return `${this.s.prefix}${sha256.slice(0, 2)}/${sha256}`;
  }

  async put(name: string, bytes: Uint8Array): Promise<FileRef> {
    const sha256 = sha256Of(bytes);
    // a Buffer view, not a copy: lib-storage cuts parts with subarray
    if (!(await this.has(sha256))) await this.upload(sha256, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    return { name, sha256, size: bytes.length };
  }

  async putFile(name: string, file: string): Promise<FileRef> {
    const { sha256, size } = await sha256OfFile(file);
    if (!(await this.has(sha256))) {
      await this.upload(sha256, fs.createReadStream(file));
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.s.bucket, Key: this.keyOf(sha256) }));
      if (head.ContentLength !== size) throw new BlobIntegrityError(`${file} changed while it was uploaded (${size} bytes hashed, ${head.ContentLength} stored)`);
    }
    return { name, sha256, size };
  }

  private async upload(sha256: string, body: Buffer | Readable): Promise<void> {
    await new Upload({
      client: this.client,
      params: { Bucket: this.s.bucket, Key: this.keyOf(sha256), Body: body, ContentType: 'application/octet-stream', Metadata: { sha256 } },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    }).done();
  }

  async get(ref: FileRef): Promise<Uint8Array> {
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key: this.keyOf(ref.sha256) }));
      body = out.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new BlobIntegrityError(`model file ${ref.sha256} is missing from bucket '${this.s.bucket}'`);
      throw e;
    }
    const buf = Buffer.allocUnsafe(ref.size);
    const h = crypto.createHash('sha256');
    let at = 0;
    for await (const chunk of body) {
      const c = chunk as Buffer;
      if (at + c.length > ref.size) {
        body.destroy();
        throw new BlobIntegrityError(`model file ${ref.sha256} in bucket '${this.s.bucket}' is larger than its recorded ${ref.size} bytes`);
      }
      c.copy(buf, at);
      h.update(c);
      at += c.length;
    }
    if (at !== ref.size || h.digest('hex') !== ref.sha256) throw new BlobIntegrityError(`model file ${ref.sha256} in bucket '${this.s.bucket}' is corrupt`);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.s.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** A killed upload leaves its parts in the bucket until a lifecycle rule aborts it (docs/deploy.md); nothing to do here. */
  async removeLeftovers(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(e: unknown): boolean {
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return x.name === 'NotFound' || x.name === 'NoSuchKey' || x.$metadata?.httpStatusCode === 404;
}
