import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sqliteDb, assertContract, assertProblem, type TestServer } from './http-helpers.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when state changes, then each change is appended to the audit log with its actor', async () => {
  for (const sub of ['alice', 'bob', 'carol']) {
    assert.equal((await s.http.post('/v1/tokens').set(as('admin')).send({ sub, role: 'verifier' })).status, 201);
  }
  const res = await s.http.get('/v1/audit/events').set(as('auditor')).query({ action: 'token.mint' });
  assert.equal(res.status, 200);
  assertContract(res, 'listAuditEvents');
  assert.deepEqual(res.body.items.map((e: { target: string }) => e.target), ['alice', 'bob', 'carol']);
  assert.equal(res.body.items[0].actor, 'admin-1');
  assert.equal(res.body.items[1].prevHash, res.body.items[0].hash);
});

test('when events are paged with limit and after, then pages follow each other without gaps', async () => {
  const first = await s.http.get('/v1/audit/events').set(as('admin')).query({ limit: 2 });
  assert.equal(first.body.items.length, 2);
  assert.equal(first.body.next, 2);
  const second = await s.http.get('/v1/audit/events').set(as('admin')).query({ limit: 2, after: first.body.next });
  assertContract(second, 'listAuditEvents');
  assert.equal(second.body.items[0].seq, 3);
  const none = await s.http.get('/v1/audit/events').set(as('admin')).query({ since: '2999-01-01T00:00:00Z' });
  assert.deepEqual(none.body.items, []);
  assertProblem(await s.http.get('/v1/audit/events').set(as('admin')).query({ since: 'yesterday' }), 400, 'WM_ERR_VALIDATION', 'listAuditEvents');
});

test('when the chain is untouched, then /v1/audit/verify says ok', async () => {
  const res = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assert.equal(res.status, 200);
  assertContract(res, 'verifyAuditChain');
  assert.equal(res.body.ok, true);
  assert.equal(res.body.entries, 3);
});

test('when a row is edited in the database directly, then verify names the first broken entry', async () => {
  const db = sqliteDb(s.server);
  db.prepare("UPDATE audit_events SET target = 'mallory' WHERE seq = 2").run();
  const res = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assertContract(res, 'verifyAuditChain');
  assert.equal(res.body.ok, false);
  assert.equal(res.body.firstBroken.seq, 2);
  assert.match(res.body.firstBroken.reason, /edited/);
});

test('when a row is deleted, then verify names the gap', async () => {
  const db = sqliteDb(s.server);
  db.prepare("UPDATE audit_events SET target = 'bob' WHERE seq = 2").run();
  assert.equal((await s.http.get('/v1/audit/verify').set(as('auditor'))).body.ok, true, 'restoring the row restores the chain');
  db.prepare('DELETE FROM audit_events WHERE seq = 2').run();
  const res = await s.http.get('/v1/audit/verify').set(as('admin'));
  assert.equal(res.body.ok, false);
  assert.equal(res.body.firstBroken.seq, 3);
});
