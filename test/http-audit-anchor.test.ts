/**
 * Signed heads anchor the audit chain: removing or rewriting its newest entries must not pass
 * `/v1/audit/verify`, whether the tamperer touched only the events or the stored heads as well
 * (then a head an outside witness kept names the break).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startTestServer, sqliteDb, assertContract, assertProblem, safetensorsBytes, tempDir, watermarked, type TestServer } from './http-helpers.js';
import { auditHash } from '../src/store/auditChain.js';

const dir = tempDir('anchor');
let s: TestServer;
before(async () => {
  s = await startTestServer({ dir });
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier', t: TestServer = s) => ({ Authorization: `Bearer ${t.tokens[role]}` });

/** Registers a model with its key and exports the key: the newest audit entry is then `key.export`. */
async function exportAKey(t: TestServer): Promise<number> {
  const owner = watermarked(3, 'key-anchor');
  const reg = await t.http.post('/v1/models').set(as('issuer', t))
    .attach('file', safetensorsBytes(owner.params), 'owner.safetensors')
    .attach('key', Buffer.from(JSON.stringify(owner.key)), 'owner.key.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  assert.equal((await t.http.get(`/v1/models/${reg.body.id}/key`).set(as('admin', t))).status, 200);
  const last = sqliteDb(t.server).prepare('SELECT seq, action FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { seq: number; action: string };
  assert.equal(last.action, 'key.export');
  return last.seq;
}

test('when audit entries are appended, then GET /v1/audit/head serves a head signed with the JWKS key, checkable with plain Node crypto as docs/audit.md shows', async () => {
  const seq = await exportAKey(s);
  const res = await s.http.get('/v1/audit/head').set(as('auditor'));
  assert.equal(res.status, 200);
  assertContract(res, 'getAuditHead');
  assert.equal(res.body.seq, seq);
  const chain = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assert.equal(res.body.headHash, chain.body.headHash);
  // the witness snippet of docs/audit.md, run as written against the files it names
  const work = tempDir('witness');
  fs.writeFileSync(path.join(work, 'head.json'), JSON.stringify(res.body));
  fs.writeFileSync(path.join(work, 'jwks.json'), JSON.stringify((await s.http.get('/.well-known/jwks.json')).body));
  const md = fs.readFileSync(new URL('../docs/audit.md', import.meta.url), 'utf8');
  const snippet = /node -e '\n([\s\S]*?)'\n/.exec(md)?.[1];
  assert.ok(snippet, 'docs/audit.md holds a `node -e` witness check');
  const out = execFileSync(process.execPath, ['-e', snippet], { cwd: work, encoding: 'utf8' });
  assert.match(out, new RegExp(`^signature valid - seq ${seq} ${res.body.headHash}`));
  // the same check fails on a payload that was changed after signing
  const [h, , sig] = String(res.body.jws).split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(String(res.body.jws).split('.')[1]!, 'base64url').toString()), seq: seq + 5 })).toString('base64url');
  fs.writeFileSync(path.join(work, 'head.json'), JSON.stringify({ ...res.body, jws: `${h}.${forged}.${sig}` }));
  assert.match(execFileSync(process.execPath, ['-e', snippet], { cwd: work, encoding: 'utf8' }), /^SIGNATURE INVALID/);
  assert.equal((await s.http.get('/v1/audit/head').set(as('verifier'))).status, 403);
});

test('when the newest audit rows (a key.export) are deleted, then /v1/audit/verify is not ok and names the first missing seq', async () => {
  const seq = await exportAKey(s);
  const before = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assert.equal(before.body.ok, true, JSON.stringify(before.body));
  sqliteDb(s.server).prepare('DELETE FROM audit_events WHERE seq >= ?').run(seq - 1);
  const res = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assertContract(res, 'verifyAuditChain');
  assert.equal(res.body.ok, false, JSON.stringify(res.body));
  assert.equal(res.body.firstBroken.seq, seq - 1);
  assert.match(res.body.firstBroken.reason, new RegExp(`signed head .*entry ${seq}\\b`));
  assert.equal(res.body.signedHead.seq, seq);
  assert.equal(res.body.signedHead.matches, false);
});

test('when the tail is rewritten into a chain that hashes correctly, then verify names the signed seq whose hash differs', async () => {
  const t = await startTestServer();
  try {
    const seq = await exportAKey(t);
    const db = sqliteDb(t.server);
    const row = db.prepare('SELECT * FROM audit_events WHERE seq = ?').get(seq) as Record<string, string | number>;
    // replace the key.export by an innocent-looking entry, rehashed so the chain itself is consistent
    const forged = { seq, ts: String(row.ts), actor: 'admin-1', role: 'admin' as const, action: 'token.mint', target: 'nobody', details: { role: 'verifier', ttlSec: 60 } };
    const hash = auditHash(String(row.prev_hash), forged);
    db.prepare('UPDATE audit_events SET action = ?, target = ?, details = ?, hash = ? WHERE seq = ?').run(forged.action, forged.target, JSON.stringify(forged.details), hash, seq);
    const res = await t.http.get('/v1/audit/verify').set(as('auditor', t));
    assertContract(res, 'verifyAuditChain');
    assert.equal(res.body.ok, false, JSON.stringify(res.body));
    assert.equal(res.body.firstBroken.seq, seq);
    assert.match(res.body.firstBroken.reason, /rewritten/);
  } finally {
    await t.stop();
  }
});

test('when the stored signed heads are deleted along with the rows, then the running service still names the truncation', async () => {
  const t = await startTestServer();
  try {
    const seq = await exportAKey(t);
    const db = sqliteDb(t.server);
    db.prepare('DELETE FROM audit_events WHERE seq = ?').run(seq);
    db.prepare('DELETE FROM audit_checkpoints WHERE seq = ?').run(seq);
    const res = await t.http.get('/v1/audit/verify').set(as('auditor', t));
    assert.equal(res.body.ok, false, JSON.stringify(res.body));
    assert.equal(res.body.firstBroken.seq, seq);
  } finally {
    await t.stop();
  }
});

test('when an outside witness kept a head, then verify with ?seq=&hash= names a truncation made before a restart, which the service alone cannot see', async () => {
  const wdir = tempDir('anchor-witness');
  let t = await startTestServer({ dir: wdir });
  const seq = await exportAKey(t);
  const head = (await t.http.get('/v1/audit/head').set(as('auditor', t))).body as { seq: number; headHash: string };
  assert.equal(head.seq, seq);
  const ok = await t.http.get('/v1/audit/verify').set(as('auditor', t)).query({ seq: head.seq, hash: head.headHash });
  assertContract(ok, 'verifyAuditChain');
  assert.equal(ok.body.ok, true, JSON.stringify(ok.body));
  assert.equal(ok.body.witness.matches, true);
  await t.stop();
  // offline, the tamperer removes the key.export and every signed head that covered it
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path.join(wdir, 'data', 'weightmark.db'));
  db.prepare('DELETE FROM audit_events WHERE seq = ?').run(seq);
  db.prepare('DELETE FROM audit_checkpoints WHERE seq >= ?').run(seq);
  db.close();
  t = await startTestServer({ dir: wdir });
  try {
    const alone = await t.http.get('/v1/audit/verify').set(as('auditor', t));
    assert.equal(alone.body.ok, true, 'without a witness the truncation before the restart is not visible (the documented limit)');
    const res = await t.http.get('/v1/audit/verify').set(as('auditor', t)).query({ seq: head.seq, hash: head.headHash });
    assertContract(res, 'verifyAuditChain');
    assert.equal(res.body.ok, false, JSON.stringify(res.body));
    assert.equal(res.body.firstBroken.seq, seq);
    assert.match(res.body.firstBroken.reason, /witness/);
    const wrong = await t.http.get('/v1/audit/verify').set(as('auditor', t)).query({ seq: 1, hash: 'f'.repeat(64) });
    assert.equal(wrong.body.ok, false);
    assert.equal(wrong.body.firstBroken.seq, 1);
    assertProblem(await t.http.get('/v1/audit/verify').set(as('auditor', t)).query({ seq: 1 }), 400, 'WM_ERR_VALIDATION', 'verifyAuditChain');
    assertProblem(await t.http.get('/v1/audit/verify').set(as('auditor', t)).query({ seq: 1, hash: 'xyz' }), 400, 'WM_ERR_VALIDATION', 'verifyAuditChain');
  } finally {
    await t.stop();
  }
});
