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
