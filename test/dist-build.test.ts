/**
 * The compiled build (dist/, made by `npm ci` through `prepare`, or `npm run build`) is what `npm start`,
 * `weightmark` and the image run: it must work without tsx — the CLI, and a service whose training job
 * runs in a child process and whose verification runs in worker threads, all from .js files.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SigningKeys } from '../src/crypto/signing.js';
import { tempDir } from './http-helpers.js';
import { imageFolderZip } from './dataset-helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = path.join(root, 'dist', 'cli', 'main.js');
// Not skipped when missing: the README's `npm ci` must have built it.
const built = (): void => assert.ok(existsSync(main), 'dist/ is missing: `npm ci` builds it (prepare), or run `npm run build`');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
// Plain node: no --import tsx, and a loader-free environment so nothing can fall back to the sources.
const plain = { ...process.env, NODE_OPTIONS: '' };

test('when the compiled CLI is asked for help, then it answers from dist without the TypeScript loader', () => {
  built();
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'weightmark.js'), '--help'], { env: plain, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /weightmark train/);
  assert.match(r.stdout, /prepare-data/);
});

test('when the compiled service trains, releases and verifies, then the leak is named — child process and worker threads run JavaScript', { timeout: 240_000 }, async () => {
  built();
  const dir = tempDir('dist');
  const env = { ...plain, PORT: '0', HOST: '127.0.0.1', WEIGHTMARK_DATA_DIR: path.join(dir, 'data'), WEIGHTMARK_KEYS_DIR: path.join(dir, 'keys'), WEIGHTMARK_LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [main, 'serve'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const o = JSON.parse(line) as { msg: string; port: number };
          if (o.msg === 'listening') resolve(`http://127.0.0.1:${o.port}`);
        } catch {
          // a partial line
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`the compiled server exited (${code})`)));
  });
  const signing = SigningKeys.loadOrCreate(path.join(dir, 'keys'));
  const token = (role: 'admin' | 'verifier', sub: string) => signing.mintToken({ sub, role, ttlSec: 600, issuer: 'weightmark', audience: 'weightmark-api' });
  const admin = { Authorization: `Bearer ${token('admin', 'alice')}`, 'Content-Type': 'application/json' };
  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, any> });
  const until = async <T>(f: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 200; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('timed out');
  };
  const train = await json(await fetch(`${url}/v1/models/train`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'd', arch: 'lenet5', epochs: 1, limit: 1000 }) }));
  assert.equal(train.status, 202, JSON.stringify(train.body));
  const job = await until(async () => {
    const j = await json(await fetch(`${url}/v1/jobs/${train.body.id}`, { headers: admin }));
    return ['succeeded', 'failed', 'cancelled'].includes(j.body.status) ? j.body : undefined;
  });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  const rel = await json(await fetch(`${url}/v1/models/${job.result.modelId}/releases`, { method: 'POST', headers: admin, body: JSON.stringify({ licensee: 'Globex', limit: 1000 }) }));
  assert.equal(rel.status, 202, JSON.stringify(rel.body));
  const id = rel.body.release.id as string;
  await until(async () => {
    const r = await json(await fetch(`${url}/v1/releases/${id}`, { headers: admin }));
    assert.notEqual(r.body.status, 'failed', JSON.stringify(r.body));
    return r.body.status === 'ready' ? true : undefined;
  });
  const onnx = new Uint8Array(await (await fetch(`${url}/v1/releases/${id}/download?format=onnx`, { headers: admin })).arrayBuffer());
  const form = new FormData();
  form.append('file', new Blob([onnx]), 'globex.onnx');
  const v = await json(await fetch(`${url}/v1/verifications`, { method: 'POST', headers: { Authorization: `Bearer ${token('verifier', 'court')}` }, body: form }));
  assert.equal(v.status, 201, JSON.stringify(v.body));
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.leakedBy, 'Globex');
  // an uploaded dataset is parsed in a worker thread: compiled, it too runs JavaScript
  const upload = new FormData();
  upload.append('file', new Blob([Buffer.from(imageFolderZip({ classes: ['a', 'b'], perClass: 5 }))]), 'ab.zip');
  const ds = await json(await fetch(`${url}/v1/datasets`, { method: 'POST', headers: { Authorization: admin.Authorization }, body: upload }));
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  assert.equal(ds.body.samples, 10);
  assert.ok(!readFileSync(main, 'utf8').includes('tsx'), 'the compiled entry does not load tsx');
});
