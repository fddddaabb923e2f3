import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from './http-helpers.js';
import { SigningKeys } from '../src/crypto/signing.js';
import { FileBlobStore } from '../src/store/blobs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = tempDir('crash');
const env = {
  ...process.env,
  PORT: '0',
  HOST: '127.0.0.1',
  WEIGHTMARK_DATA_DIR: path.join(dir, 'data'),
  WEIGHTMARK_KEYS_DIR: path.join(dir, 'keys'),
  WEIGHTMARK_LOG_LEVEL: 'info',
};
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Starts `weightmark serve` as a child process and resolves with its URL once it listens. */
function serve(environment: NodeJS.ProcessEnv = env): Promise<{ child: ChildProcess; url: string; logs: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { cwd: root, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        try {
          const o = JSON.parse(line) as { msg: string; port: number };
          if (o.msg === 'listening') resolve({ child, url: `http://127.0.0.1:${o.port}`, logs });
        } catch {
          // not a log line
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early (${code}): ${logs.slice(-3).join('\n')}`)));
  });
}

async function api(url: string, token: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url + p, { method, headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const killed = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode ? r() : c.once('exit', () => r())));

test('when the server is SIGKILLed during a training job that has no checkpoint yet and an upload, then after restart the job is failed (interrupted), no partial files remain and the audit chain verifies', { timeout: 60_000 }, async () => {
  const a = await serve();
  const keys = SigningKeys.loadOrCreate(env.WEIGHTMARK_KEYS_DIR);
  const token = keys.mintToken({ sub: 'ops', role: 'admin', ttlSec: 600, issuer: 'weightmark', audience: 'weightmark-api' });

  // a real training job, killed long before its first epoch (all of MNIST through LeNet5) ends and leaves a checkpoint
  const job = await api(a.url, token, 'POST', '/v1/models/train', { arch: 'lenet5', epochs: 50, strategy: 'naive' });
  assert.equal(job.status, 202);
  for (let i = 0; i < 300; i++) {
    const j = await api(a.url, token, 'GET', `/v1/jobs/${job.body.id}`);
    if (j.body.status === 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  // an upload cut off mid-body, past the 4 MiB kept in memory: the server has a temp file on disk when it dies
  const uploads = path.join(env.WEIGHTMARK_DATA_DIR, 'tmp', 'uploads');
  const boundary = 'crashboundary';
  const req = http.request(a.url + '/v1/verifications', { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(10 * 1024 * 1024) } });
  req.on('error', () => undefined);
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  req.write(Buffer.alloc(5 * 1024 * 1024, 7));
  for (let i = 0; i < 100 && fs.readdirSync(uploads).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(fs.readdirSync(uploads).length, 1, 'the upload reached the disk');

  a.child.kill('SIGKILL');
  await killed(a.child);
  req.destroy();
  // leave a half-written model file as an interrupted atomic write would
  const models = path.join(env.WEIGHTMARK_DATA_DIR, 'models');
  fs.mkdirSync(path.join(models, 'ab'), { recursive: true });
  fs.writeFileSync(path.join(models, 'ab', '.tmp-abcd-1-xyz'), 'half');

  const b = await serve();
  try {
    const j = await api(b.url, token, 'GET', `/v1/jobs/${job.body.id}`);
    assert.equal(j.body.status, 'failed');
    assert.match(String(j.body.error), /interrupted/);
    assert.equal(fs.readdirSync(uploads).length, 0, 'temp uploads cleaned on start');
    const blobs = new FileBlobStore(models);
    assert.deepEqual(fs.readdirSync(path.join(models, 'ab')), [], 'temp model files cleaned on start');
    assert.ok(blobs.audit().every((f) => f.ok), 'every stored model file matches its digest');
    assert.equal((await api(b.url, token, 'GET', '/v1/models')).body.total, 0, 'no model from the interrupted job');
    const chain = await api(b.url, token, 'GET', '/v1/audit/verify');
    assert.equal(chain.body.ok, true, JSON.stringify(chain.body));
    const events = await api(b.url, token, 'GET', '/v1/audit/events?action=job.failed');
    assert.equal((events.body.items as unknown[]).length, 1);
    // the service still works after the crash
    const again = await api(b.url, token, 'POST', '/v1/models/train', { arch: 'mlp', epochs: 1, limit: 100, strategy: 'none' });
    assert.equal(again.status, 202);
    await api(b.url, token, 'DELETE', `/v1/jobs/${again.body.id}`);
  } finally {
    b.child.kill('SIGTERM');
    await killed(b.child);
  }
  assert.equal(b.child.exitCode, 0, 'SIGTERM shuts down gracefully with exit code 0');
});

test('when the server is SIGKILLed after a training job checkpointed an epoch, then the restarted server resumes the job from there and it succeeds', { timeout: 120_000 }, async () => {
  const d = tempDir('crash-resume');
  const environment = { ...env, WEIGHTMARK_DATA_DIR: path.join(d, 'data'), WEIGHTMARK_KEYS_DIR: path.join(d, 'keys') };
  const a = await serve(environment);
  const keys = SigningKeys.loadOrCreate(environment.WEIGHTMARK_KEYS_DIR);
  const token = keys.mintToken({ sub: 'ops', role: 'admin', ttlSec: 600, issuer: 'weightmark', audience: 'weightmark-api' });
  const job = await api(a.url, token, 'POST', '/v1/models/train', { arch: 'mlp', epochs: 4, limit: 6000, strategy: 'naive', seed: 3 });
  assert.equal(job.status, 202);
  const checkpoint = path.join(environment.WEIGHTMARK_DATA_DIR, 'checkpoints', String(job.body.id), 'checkpoint', 'state.json');
  for (let i = 0; i < 600 && !fs.existsSync(checkpoint); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(checkpoint), 'the first epoch wrote a checkpoint');
  assert.equal(fs.statSync(checkpoint).mode & 0o777, 0o600, 'checkpoints are private');
  a.child.kill('SIGKILL');
  await killed(a.child);
  const epochsDone = (JSON.parse(fs.readFileSync(checkpoint, 'utf8')) as { epoch: number }).epoch;

  const b = await serve(environment);
  try {
    let j = await api(b.url, token, 'GET', `/v1/jobs/${job.body.id}`);
    for (let i = 0; i < 1200 && !['succeeded', 'failed', 'cancelled'].includes(String(j.body.status)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      j = await api(b.url, token, 'GET', `/v1/jobs/${job.body.id}`);
    }
    assert.equal(j.body.status, 'succeeded', JSON.stringify(j.body));
    const resumed = await api(b.url, token, 'GET', '/v1/audit/events?action=job.resume');
    assert.equal((resumed.body.items as unknown[]).length, 1, 'the resume is in the audit log');
    assert.ok(b.logs.some((l) => l.includes('queued to resume from its checkpoint')));
    const model = await api(b.url, token, 'GET', `/v1/models/${(j.body.result as { modelId: string }).modelId}`);
    assert.ok(Number((model.body.meta as { testAccuracy: number }).testAccuracy) > 0.8, JSON.stringify(model.body.meta));
    assert.equal(fs.existsSync(path.dirname(checkpoint)), false, 'a finished job leaves no checkpoint');
    assert.ok(epochsDone >= 1);
    const chain = await api(b.url, token, 'GET', '/v1/audit/verify');
    assert.equal(chain.body.ok, true, JSON.stringify(chain.body));
  } finally {
    b.child.kill('SIGTERM');
    await killed(b.child);
  }
});

