/**
 * Issue 14's done-when, on loopback: PostgreSQL, an S3 endpoint, 2 API replicas (jobs off) and 2
 * `weightmark worker` processes. A tiny model is trained through replica A while replica B streams
 * its progress; the worker running it is killed (SIGKILL) after its first checkpoint and the other
 * worker finishes it from that checkpoint; two releases are issued; a download verifies through
 * either replica naming its licensee; the audit chain verifies on both, with the job completed once.
 * Then: an attack sweep run by a worker, and a worker's job cancelled through the other replica.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { startTestServer, binaryBody, tempDir, type TestServer } from './http-helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-helpers.js';
import { startS3Endpoint, type S3Endpoint } from './s3-helpers.js';
import { followSse, type SseEvent } from './sse-helpers.js';

const skip = pgSkipReason();

interface Worker {
  name: string;
  proc: ChildProcess;
  logs: string[];
  exited: Promise<number | null>;
}

let cluster: PgCluster | undefined;
let s3: S3Endpoint | undefined;
let a: TestServer | undefined;
let b: TestServer | undefined;
const workers: Worker[] = [];
let env: Record<string, string> = {};
/** The model the first test trains, for the attack sweep after it. */
let trainedModelId: string | undefined;

function startWorker(name: string, keysDir: string): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--data-dir', path.join(tempDir(`worker-${name}`), 'data'), '--keys-dir', keysDir], {
    env: { ...process.env, ...env, WEIGHTMARK_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  for (const s of [proc.stdout!, proc.stderr!]) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => logs.push(...d.split('\n').filter(Boolean)));
  }
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const w = { name, proc, logs, exited };
  workers.push(w);
  return w;
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  if (skip) return;
  cluster = await startPgCluster();
  s3 = await startS3Endpoint('scale-out');
  env = { ...s3.env, WEIGHTMARK_DATABASE_URL: await cluster.createDatabase('scale'), WEIGHTMARK_RUN_JOBS: '0' };
  a = await startTestServer({ env, config: { verifyWorkers: 0 } });
  b = await startTestServer({ env, dir: tempDir('scale-b'), config: { verifyWorkers: 0, keysDir: a.keysDir } });
  startWorker('w1', a.keysDir);
  startWorker('w2', a.keysDir);
  await until('both workers to take jobs', () => (workers.every((w) => w.logs.some((l) => l.includes('worker taking jobs'))) ? true : undefined), 60_000);
});
after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  await a?.stop();
  await b?.stop();
  await s3?.stop();
  cluster?.stop();
});

function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
}

const auth = (t: TestServer, role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${t.tokens[role]}` });

async function job(t: TestServer, id: string): Promise<{ status: string; result: Record<string, string>; error?: string }> {
  return (await t.http.get(`/v1/jobs/${id}`).set(auth(t, 'issuer'))).body;
}
const settled = (t: TestServer, id: string) => until(`job ${id}`, async () => {
  const j = await job(t, id);
  return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
}, 300_000);

test('when a worker is killed mid-training, then the other finishes it from the checkpoint, releases verify through either replica and both audit chains verify', { skip, timeout: 600_000 }, async (t) => {
  const train = await a!.http.post('/v1/models/train').set(auth(a!, 'issuer')).send({ name: 'scale', arch: 'lenet5', dataset: 'mnist', strategy: 'naive', epochs: 2, limit: 2000 });
  assert.equal(train.status, 202, JSON.stringify(train.body));
  const jobId = train.body.id as string;

  // B streams the job A accepted; once the first checkpoint is out, the worker running it dies
  let victim: Worker | undefined;
  let killedAt = 0;
  let resumedAt = 0;
  // as a browser does: a ticket from replica A opens the stream on replica B
  const ticket = (await a!.http.post('/v1/events/tickets').set(auth(a!, 'auditor'))).body.ticket as string;
  const events = await followSse(`${b!.url}/v1/jobs/${jobId}/events?ticket=${ticket}`, {}, (e: SseEvent) => {
    if (!victim && e.event === 'progress' && e.data.phase === 'checkpoint saved') {
      victim = workers.find((w) => w.logs.some((l) => l.includes('"msg":"job started"') && l.includes(jobId)));
      victim?.proc.kill('SIGKILL');
      killedAt = Date.now();
    }
    if (killedAt && !resumedAt && e.event === 'status' && e.data.status === 'running') resumedAt = Date.now();
  });
  // figures for docs/deploy.md's sizing section
  t.diagnostic(`takeover: ${((resumedAt - killedAt) / 1000).toFixed(1)} s from SIGKILL to the other worker running the job; worker RSS ${rssMb(workers.find((w) => w !== victim)!.proc.pid!)} MB`);
  assert.ok(victim, 'a worker ran the job and was killed');
  assert.equal(await victim.exited, null, 'killed by a signal');
  const survivor = workers.find((w) => w !== victim)!;
  assert.ok(survivor.logs.some((l) => l.includes('training resumes from a mirrored checkpoint') && l.includes(jobId)), `the other worker took the job over from the checkpoint:\n${survivor.logs.slice(-12).join('\n')}\nstream: ${JSON.stringify(events.map((e) => [e.id, e.event, e.data.phase ?? e.data.status]))}`);
  const phases = events.filter((e) => e.event === 'progress').map((e) => String(e.data.phase));
  assert.ok(phases.includes('resuming after epoch 1'), `B saw the resume: ${[...new Set(phases)].join(', ')}`);
  const ids = events.map((e) => Number(e.id));
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'event ids only go up, across workers');
  assert.equal(events.at(-1)!.event, 'status');
  assert.equal(events.at(-1)!.data.status, 'succeeded');
  const trained = await job(a!, jobId);
  assert.equal(trained.status, 'succeeded', trained.error);
  const modelId = trained.result.modelId!;
  trainedModelId = modelId;

  const releases: { id: string; licensee: string; job: string }[] = [];
  for (const licensee of ['Acme', 'Globex']) {
    const r = await b!.http.post(`/v1/models/${modelId}/releases`).set(auth(b!, 'issuer')).send({ licensee, limit: 500 });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    releases.push({ id: r.body.release.id, licensee, job: r.body.job.id });
  }
  for (const r of releases) assert.equal((await settled(a!, r.job)).status, 'succeeded');

  const leaked = releases[1]!;
  const dl = await a!.http.get(`/v1/releases/${leaked.id}/download`).set(auth(a!, 'issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
  assert.equal(dl.status, 200);
  for (const t of [a!, b!]) {
    const v = await t.http.post('/v1/verifications').set(auth(t, 'verifier')).attach('file', dl.body as Buffer, 'found.safetensors');
    assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 300));
    assert.equal(v.body.decision, 'match');
    assert.equal(v.body.leakedBy, 'Globex');
  }

  for (const t of [a!, b!]) {
    const audit = await t.http.get('/v1/audit/verify').set(auth(t, 'auditor'));
    assert.equal(audit.body.ok, true, JSON.stringify(audit.body));
  }
  const entries = async (action: string): Promise<unknown[]> =>
    (await a!.http.get('/v1/audit/events').set(auth(a!, 'auditor')).query({ action, limit: 100 })).body.items
      .filter((e: { target: string; details: { jobId?: string } }) => e.target === jobId || e.details.jobId === jobId);
  assert.equal((await entries('job.succeeded')).length, 1, 'the job completed once');
  assert.equal((await entries('model.train')).length, 1, 'one model came of it');
  assert.equal((await entries('job.resume')).length, 1, 'the takeover is audited');
});

test('when a job running on a worker is cancelled through the other replica, then the worker stops it and it ends cancelled', { skip, timeout: 180_000 }, async () => {
  const train = await a!.http.post('/v1/models/train').set(auth(a!, 'issuer')).send({ arch: 'lenet5', dataset: 'mnist', strategy: 'none', epochs: 5, limit: 2000 });
  assert.equal(train.status, 202);
  const id = train.body.id as string;
  await until('the job to run on a worker', async () => ((await job(a!, id)).status === 'running' ? true : undefined));
  const res = await b!.http.post(`/v1/jobs/${id}/cancel`).set(auth(b!, 'issuer'));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.status, 'cancelled', 'settled by the replica that was asked, whatever the worker does');
  const survivor = workers.find((w) => w.proc.exitCode === null && w.proc.signalCode === null)!;
  await until('the worker to stop the job', () => (survivor.logs.some((l) => l.includes('job result dropped') && l.includes(id)) ? true : undefined), 60_000);
  assert.equal((await job(a!, id)).status, 'cancelled');
  const entries = async (action: string): Promise<unknown[]> =>
    (await a!.http.get('/v1/audit/events').set(auth(a!, 'auditor')).query({ action, limit: 100 })).body.items.filter((e: { target: string }) => e.target === id);
  assert.equal((await entries('job.cancel')).length, 1);
  assert.equal((await entries('job.cancelled')).length, 1, "the worker's own settling of the aborted run is refused");
});

test('when an attack sweep is started on one replica, then a worker runs it and its result and plot are served by the other', { skip, timeout: 180_000 }, async () => {
  assert.ok(trainedModelId, 'the training test ran first');
  const res = await b!.http.post(`/v1/models/${trainedModelId}/attacks`).set(auth(b!, 'issuer')).send({ attack: 'quantize', strengths: [8], testLimit: 200 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const end = await settled(a!, res.body.id);
  assert.equal(end.status, 'succeeded', end.error);
  const plot = await a!.http.get(`/v1/jobs/${res.body.id}/plot.svg`).set(auth(a!, 'auditor'));
  assert.equal(plot.status, 200);
  assert.match(String(plot.headers['content-type']), /image\/svg\+xml/);
});
