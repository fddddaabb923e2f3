import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../src/config/env.js';

test('when WEIGHTMARK_DATABASE_URL is absent or empty, then the store stays SQLite (no database URL)', () => {
  assert.equal(loadConfig({}).databaseUrl, undefined);
  assert.equal(loadConfig({ WEIGHTMARK_DATABASE_URL: '' }).databaseUrl, undefined);
});

test('when WEIGHTMARK_DATABASE_URL is a postgres:// or postgresql:// URL, then it is taken as given', () => {
  for (const url of ['postgres://wm:pw@db.internal:5432/weightmark', 'postgresql://wm@db/weightmark?sslmode=require']) {
    assert.equal(loadConfig({ WEIGHTMARK_DATABASE_URL: url }).databaseUrl, url);
  }
});

test('when WEIGHTMARK_DATABASE_URL has another scheme, then start fails naming the scheme but not the URL (it may hold a password)', () => {
  assert.throws(() => loadConfig({ WEIGHTMARK_DATABASE_URL: 'mysql://wm:hunter2@db/weightmark' }), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /WEIGHTMARK_DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL \(found scheme 'mysql'\)/);
    assert.equal(e.message.includes('hunter2'), false);
    return true;
  });
  assert.throws(() => loadConfig({ WEIGHTMARK_DATABASE_URL: 'db.internal/weightmark' }), /found no scheme/);
});

test('when WEIGHTMARK_S3_BUCKET is absent, then model files stay on disk; a URL without a bucket is refused', () => {
  assert.equal(loadConfig({}).s3, undefined);
  assert.throws(() => loadConfig({ WEIGHTMARK_S3_URL: 'http://127.0.0.1:9000' }), /WEIGHTMARK_S3_BUCKET is not/);
});

test('when WEIGHTMARK_S3_BUCKET and an endpoint are set, then path style is on and the credentials come from the AWS variables', () => {
  const s3 = loadConfig({ WEIGHTMARK_S3_BUCKET: 'wm-models', WEIGHTMARK_S3_URL: 'http://127.0.0.1:9000', AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' }).s3;
  assert.deepEqual(s3, { bucket: 'wm-models', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', prefix: 'models/', forcePathStyle: true, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } });
  const aws = loadConfig({ WEIGHTMARK_S3_BUCKET: 'wm-models', AWS_REGION: 'eu-west-1', WEIGHTMARK_S3_PREFIX: 'wm' }).s3;
  assert.deepEqual(aws, { bucket: 'wm-models', region: 'eu-west-1', prefix: 'wm/', forcePathStyle: false });
});

test('when an S3 setting is malformed, then start fails naming the variable and never echoing credentials', () => {
  assert.throws(() => loadConfig({ WEIGHTMARK_S3_BUCKET: 'Bad_Bucket' }), /WEIGHTMARK_S3_BUCKET='Bad_Bucket' is not an S3 bucket name/);
  assert.throws(() => loadConfig({ WEIGHTMARK_S3_BUCKET: 'wm-models', WEIGHTMARK_S3_URL: 'ftp://x' }), /must be http/);
  assert.throws(() => loadConfig({ WEIGHTMARK_S3_BUCKET: 'wm-models', WEIGHTMARK_S3_PATH_STYLE: 'maybe' }), /WEIGHTMARK_S3_PATH_STYLE/);
  assert.throws(() => loadConfig({ WEIGHTMARK_S3_BUCKET: 'wm-models', WEIGHTMARK_S3_URL: 'http://user:s3cret@host:9000' }), (e: Error) => /must not carry credentials/.test(e.message) && !e.message.includes('s3cret'));
});
