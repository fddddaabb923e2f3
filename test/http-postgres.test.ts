/**
 * The service on PostgreSQL (WEIGHTMARK_DATABASE_URL): it starts, serves a simple flow, keeps nothing
 * in a SQLite file, never logs the connection string, and two replicas on one database share one
 * audit chain.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, assertContract, safetensorsBytes, watermarked, tempDir, type TestServer } from './http-helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-helpers.js';

const skip = pgSkipReason();
/** Trust auth ignores it, but it stands for a real password that must never reach a log line. */
const PASSWORD = 'never-log-this-pw';
/** Requests per minute per token: low, so the shared count is seen crossing it. */
const RATE = 30;

let cluster: PgCluster | undefined;
let a: TestServer | undefined;
let b: TestServer | undefined;
before(async () => {
  if (skip) return;
  cluster = await startPgCluster();
  const url = (await cluster.createDatabase('service')).replace('postgres@', `postgres:${PASSWORD}@`);
  const env = { WEIGHTMARK_DATABASE_URL: url };
  a = await startTestServer({ env, config: { verifyWorkers: 0, rateLimitPerMin: RATE } });
  // a second replica: its own data dir, the same database and signing keys
  b = await startTestServer({ env, dir: tempDir('http-pg-b'), config: { verifyWorkers: 0, keysDir: a.keysDir, rateLimitPerMin: RATE } });
});
after(async () => {
  await a?.stop();
  await b?.stop();
  cluster?.stop();
});
const as = (t: TestServer, role: 'admin' | 'auditor' | 'issuer') => ({ Authorization: `Bearer ${t.tokens[role]}` });

test('when the service starts with WEIGHTMARK_DATABASE_URL, then it runs on PostgreSQL and keeps no SQLite file', { skip }, async () => {
  assert.equal(a!.server.service.store.engine, 'postgres');
  assert.equal(fs.existsSync(path.join(a!.dataDir, 'weightmark.db')), false);
  const started = a!.logs.find((l) => l.includes('service started'));
  assert.match(started ?? '', /"store":"postgres"/);
});

test('when a token is minted and a model registered on one replica, then the other lists it and both verify the audit chain', { skip }, async () => {
  const minted = await a!.http.post('/v1/tokens').set(as(a!, 'admin')).send({ sub: 'court-clerk', role: 'verifier' });
  assert.equal(minted.status, 201);
  const owner = watermarked(3, 'pg-flow');
  const reg = await b!.http.post('/v1/models').set(as(b!, 'issuer'))
    .attach('file', safetensorsBytes(owner.params), 'owner.safetensors')
    .attach('key', Buffer.from(JSON.stringify(owner.key)), 'owner.key.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));

  const list = await a!.http.get('/v1/models').set(as(a!, 'auditor'));
  assert.equal(list.status, 200);
  assertContract(list, 'listModels');
  assert.deepEqual(list.body.items.map((m: { id: string }) => m.id), [reg.body.id]);

  const actions = (await b!.http.get('/v1/audit/events').set(as(b!, 'auditor'))).body.items.map((e: { action: string }) => e.action);
  assert.ok(actions.includes('token.mint'), `replica b sees replica a's entry: ${actions.join(', ')}`);
  for (const t of [a!, b!]) {
    const res = await t.http.get('/v1/audit/verify').set(as(t, 'auditor'));
    assertContract(res, 'verifyAuditChain');
    assert.equal(res.body.ok, true, JSON.stringify(res.body));
    assert.equal(res.body.entries, actions.length);
  }
});

test('when the service runs on PostgreSQL, then no log line holds the connection string or its password', { skip }, () => {
  const all = [...a!.logs, ...b!.logs].join('\n');
  assert.ok(all.length > 0);
  assert.equal(all.includes(PASSWORD), false);
});

test('when an event ticket is issued by one replica, then it opens a stream on the other, once', { skip }, async () => {
  const issued = await a!.http.post('/v1/events/tickets').set(as(a!, 'auditor'));
  assert.equal(issued.status, 201);
  const job = (await a!.http.get('/v1/jobs').set(as(a!, 'auditor'))).body.items[0];
  const path = job ? `/v1/jobs/${job.id}/events` : '/v1/jobs/job_nosuchjob000000000/events';
  const first = await b!.http.get(path).query({ ticket: issued.body.ticket });
  assert.notEqual(first.status, 401, 'the ticket authenticates on the other replica');
  const again = await a!.http.get(path).query({ ticket: issued.body.ticket });
  assert.equal(again.status, 401);
  assert.equal(again.body.code, 'WM_ERR_AUTH_INVALID');
});

test('when one token spreads its requests over both replicas, then the per-minute limit counts them together', { skip }, async () => {
  const { signing, config } = a!.server.service.ctx;
  const token = signing.mintToken({ sub: 'rate-probe', role: 'auditor', ttlSec: 600, issuer: config.issuer, audience: config.audience });
  const statuses: number[] = [];
  for (let i = 0; i < RATE + 2; i++) {
    const t = i % 2 === 0 ? a! : b!;
    statuses.push((await t.http.get('/v1/models').set('Authorization', `Bearer ${token}`)).status);
  }
  assert.deepEqual(statuses.slice(0, RATE), Array(RATE).fill(200));
  assert.deepEqual(statuses.slice(RATE), [429, 429], 'request 31 is refused though each replica saw only 16');
});

test('when a replica starts on the shared database with keys of its own, then it refuses to start, naming the keys dir', { skip }, async () => {
  // the audit head exists by now (the earlier tests wrote entries), signed with replica a's key
  const dir = tempDir('http-pg-stranger');
  await assert.rejects(
    startTestServer({ env: { WEIGHTMARK_DATABASE_URL: a!.server.service.ctx.config.databaseUrl! }, dir, config: { verifyWorkers: 0 } }),
    (e: Error) => e.name === 'SecretsMismatch' && e.message.includes(path.join(dir, 'keys')) && !e.message.includes(PASSWORD),
  );
  assert.equal(fs.existsSync(path.join(dir, 'data', 'weightmark.lock')), false, 'the refused start leaves no lock behind');
});

test('when a replica has the signing keys but a master key of its own, then it refuses to start: it could not open the sealed watermark keys', { skip }, async () => {
  const dir = tempDir('http-pg-other-master');
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
  fs.cpSync(path.join(a!.keysDir, 'signing'), path.join(dir, 'keys', 'signing'), { recursive: true });
  await assert.rejects(
    startTestServer({ env: { WEIGHTMARK_DATABASE_URL: a!.server.service.ctx.config.databaseUrl! }, dir, config: { verifyWorkers: 0 } }),
    (e: Error) => e.name === 'SecretsMismatch' && /master key .* does not open the watermark keys/.test(e.message),
  );
});
