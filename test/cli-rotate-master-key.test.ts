import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runRotateMasterKey } from '../src/cli/rotateMasterKey.js';
import { parseMasterKey } from '../src/config/env.js';
import { auditHeadSigner } from '../src/crypto/auditHead.js';
import { Keystore, loadOrCreateMasterKey } from '../src/crypto/keystore.js';
import { SigningKeys } from '../src/crypto/signing.js';
import { ChainVerifier } from '../src/store/auditChain.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { captured } from './cli-helpers.js';
import { tempDir } from './http-helpers.js';

test('when rotate-master-key runs on an embedded install, then master.key holds the new key, the old one is kept beside it, and every key opens with the new one', async () => {
  const dataDir = tempDir('rotate-data');
  const keysDir = tempDir('rotate-keys');
  const old = new Keystore(loadOrCreateMasterKey(keysDir));
  const signing = SigningKeys.loadOrCreate(keysDir);
  const db = path.join(dataDir, 'weightmark.db');
  const store = new SqliteStore(db, { signHead: auditHeadSigner(signing, 'weightmark') });
  await store.write((w) => {
    w.insertModel({ id: 'm1', name: 'm', arch: 'lenet5', source: 'upload', format: 'safetensors', files: [], paramCount: 1, ownerKeyId: 'k1', parentModelId: null, createdBy: 'a', createdAt: '2026-01-01T00:00:00.000Z', meta: {} });
    w.insertKey({ id: 'k1', modelId: 'm1', kind: 'owner', sealed: old.seal('{"secret":true}', 'k1'), n: 8, createdAt: '2026-01-01T00:00:01.000Z' });
  });
  await store.close();
  const newFile = path.join(tempDir('rotate-new'), 'new.key');
  fs.writeFileSync(newFile, 'ab'.repeat(32) + '\n');

  const env = { WEIGHTMARK_DATA_DIR: process.env['WEIGHTMARK_DATA_DIR'], WEIGHTMARK_KEYS_DIR: process.env['WEIGHTMARK_KEYS_DIR'] };
  process.env['WEIGHTMARK_KEYS_DIR'] = keysDir;
  try {
    const r = await captured(() => runRotateMasterKey(['--new-key-file', newFile, '--data-dir', dataDir, '--json']));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(JSON.parse(r.out), { keys: 1, commitments: 0, keyFile: path.join(keysDir, 'master.key') });
    await assert.rejects(runRotateMasterKey(['--new-key-file', newFile, '--data-dir', dataDir]), /the new master key is the current one/);
    const empty = tempDir('rotate-empty');
    await assert.rejects(runRotateMasterKey(['--new-key-file', newFile, '--data-dir', empty]), /no embedded install in .*rotate-empty.* \(no weightmark.db\)/);
    assert.deepEqual(fs.readdirSync(empty), [], 'nothing was created there');
    await assert.rejects(runRotateMasterKey(['--new-key-file', `${newFile}.missing`, '--data-dir', dataDir]), /does not exist \(make one with: openssl rand -hex 32/);
  } finally {
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  const now = parseMasterKey(fs.readFileSync(path.join(keysDir, 'master.key'), 'utf8'));
  assert.ok(now.equals(Buffer.alloc(32, 0xab)));
  assert.equal(fs.statSync(path.join(keysDir, 'master.key')).mode & 0o777, 0o600);
  const retired = fs.readdirSync(keysDir).filter((f) => f.startsWith('master.key.retired-'));
  assert.equal(retired.length, 1);
  const reopened = new SqliteStore(db);
  assert.equal(new Keystore(now).open((await reopened.getKey('k1'))!.sealed, 'k1'), '{"secret":true}');
  const v = new ChainVerifier();
  await reopened.eachAudit((e) => v.push(e));
  assert.equal(v.result().ok, true);
  await reopened.close();
});
