import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, assertProblem, StandInExecutor } from './http-helpers.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { MIGRATIONS } from '../src/store/migrations.js';

test('when probed, then /healthz and /readyz answer, /metrics exposes Prometheus text, /docs serves Swagger UI locally', async () => {
  const s = await startTestServer();
  try {
    const h = await s.http.get('/healthz');
    assert.equal(h.status, 200);
    assertContract(h, 'getHealth');
    const r = await s.http.get('/readyz');
    assert.equal(r.status, 200);
    assertContract(r, 'getReady');
    await s.http.get('/v1/models').set('Authorization', `Bearer ${s.tokens.auditor}`);
    const m = await s.http.get('/metrics');
    assert.equal(m.status, 200);
    assertContract(m, 'getMetrics');
    assert.match(m.text, /weightmark_http_requests_total\{method="GET",route="\/v1\/models",status="200"\} 1/);
    assert.match(m.text, /# TYPE weightmark_http_request_duration_seconds histogram/);
    assert.match(m.text, /weightmark_jobs_queued 0/);
    const docs = await s.http.get('/docs/');
    assert.equal(docs.status, 200);
    assert.match(docs.text, /swagger-ui-bundle\.js/);
    const bundle = await s.http.get('/docs/swagger-ui-bundle.js');
    assert.equal(bundle.status, 200);
    assert.ok(bundle.text.length > 100_000);
    const spec = await s.http.get('/openapi.json');
    assert.equal(spec.body.openapi, '3.1.0');
  } finally {
    await s.stop();
  }
});

test('when the service stops gracefully, then readiness drops, a running job is marked failed (interrupted) and the store is closed', async () => {
  const s = await startTestServer({ executor: new StandInExecutor(1000, 20) });
  const job = await s.http.post('/v1/models/train').set('Authorization', `Bearer ${s.tokens.issuer}`).send({ arch: 'lenet5', epochs: 1 });
  for (let i = 0; i < 100; i++) {
    if ((await s.http.get(`/v1/jobs/${job.body.id}`).set('Authorization', `Bearer ${s.tokens.issuer}`)).body.status === 'running') break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const stopping = s.stop();
  assert.equal(s.server.service.ready, false);
  await stopping;
  await assert.rejects(fetch(s.url + '/healthz'));
  const store = new SqliteStore(`${s.dataDir}/weightmark.db`);
  const j = await store.getJob(job.body.id);
  await store.close();
  assert.equal(j?.status, 'failed');
  assert.match(String(j?.error), /interrupted/);
  assert.ok(s.logs.some((l) => l.includes('"msg":"stopped"')));
});

test('when not ready, then /readyz answers 503 WM_ERR_SHUTTING_DOWN', async () => {
  const s = await startTestServer();
  try {
    s.server.service.ready = false;
    assertProblem(await s.http.get('/readyz'), 503, 'WM_ERR_SHUTTING_DOWN', 'getReady');
  } finally {
    s.server.service.ready = true;
    await s.stop();
  }
});

test('when the service starts twice on the same dirs, then it keeps its master key, signing key and schema version', async () => {
  const s = await startTestServer();
  const kid = s.server.service.ctx.signing.activeKid;
  const dir = s.dataDir.replace(/\/data$/, '');
  await s.stop();
  const t = await startTestServer({ dir });
  try {
    assert.equal(t.server.service.ctx.signing.activeKid, kid);
    assert.equal(t.server.service.store.schemaVersion(), MIGRATIONS[MIGRATIONS.length - 1]!.version);
    assert.equal((await t.http.get('/v1/models').set('Authorization', `Bearer ${t.tokens.admin}`)).status, 200);
  } finally {
    await t.stop();
  }
});

test('when another live process holds the data dir, then the service refuses to start; a stale lock is taken over', async () => {
  const { tempDir } = await import('./http-helpers.js');
  const fs = await import('node:fs');
  const dir = tempDir('lock');
  fs.mkdirSync(`${dir}/data`, { recursive: true });
  fs.writeFileSync(`${dir}/data/weightmark.lock`, `${process.ppid}\n`);
  await assert.rejects(startTestServer({ dir }), /another weightmark service \(pid \d+\) is using/);
  fs.writeFileSync(`${dir}/data/weightmark.lock`, '999999999\n');
  const s = await startTestServer({ dir });
  assert.equal(fs.readFileSync(`${dir}/data/weightmark.lock`, 'utf8').trim(), String(process.pid));
  await s.stop();
  assert.equal(fs.existsSync(`${dir}/data/weightmark.lock`), false);
});
