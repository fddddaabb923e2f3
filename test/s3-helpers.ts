/**
 * An S3 endpoint for the tests: s3rver (an S3-protocol server in Node) started in-process on a free
 * loopback port, its objects in a temp dir, removed at `stop()`. It checks request signatures against
 * its fixed credentials, so the settings carry those.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import type { S3Settings } from '../src/config/env.js';

export interface S3Endpoint {
  readonly url: string;
  readonly bucket: string;
  /** The service's environment for this endpoint. */
  readonly env: Record<string, string>;
  readonly settings: S3Settings;
  /** How each object was created, by key: 'ObjectCreated:Put' (one request) or 'ObjectCreated:Post' (a completed multipart upload). */
  readonly created: Map<string, string>;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3Endpoint(bucket = 'weightmark-test'): Promise<S3Endpoint> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket }] });
  const created = new Map<string, string>();
  server.on('event', (e) => {
    for (const r of e.Records) created.set(decodeURIComponent(r.s3.object.key), r.eventName);
  });
  const { port } = await server.run();
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    url,
    bucket,
    created,
    env: { WEIGHTMARK_S3_URL: url, WEIGHTMARK_S3_BUCKET: bucket, AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
    settings: { bucket, endpoint: url, region: 'us-east-1', prefix: 'models/', forcePathStyle: true, credentials: CREDENTIALS },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
