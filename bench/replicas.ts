/**
 * Verifications per second with 1 against 2 API replicas on one box: PostgreSQL (a throwaway cluster,
 * test/pg-helpers.ts) and an S3 endpoint (s3rver) shared, each replica its own `weightmark serve`
 * process, 8 concurrent clients spread round-robin over the replicas, a LeNet5 safetensors upload.
 * Bounded: `requests` per row. Also the resident memory of each replica after its run.
 *
 *   npx tsx bench/replicas.ts [--requests 96] [--concurrency 8]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { SigningKeys } from '../src/crypto/signing.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues } from '../src/core/extract.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { initialParamSet } from '../src/core/init.js';
import { startPgCluster, pgSkipReason } from '../test/pg-helpers.js';
import { startS3Endpoint } from '../test/s3-helpers.js';

export interface ReplicaRow {
  replicas: number;
  verifyWorkers: number;
  requests: number;
  concurrency: number;
  perSec: number;
  medianMs: number;
  p99Ms: number;
  /** Non-201 answers by status. */
  errors: Record<string, number>;
  rssMb: number[];
}

interface Replica {
  proc: ChildProcess;
  url: string;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function startReplica(env: Record<string, string>, dir: string): Promise<Replica> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', path.join(dir, 'data')], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      out += d;
      const port = /"msg":"listening","port":(\d+)/.exec(out)?.[1];
      if (port) resolve(`http://127.0.0.1:${port}`);
    });
    proc.once('exit', (code) => reject(new Error(`replica exited (${code}) before listening:\n${out}`)));
  });
  proc.stdout!.resume();
  return { proc, url };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

function post(url: string, token: string, body: Buffer, type: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/verifications`, { method: 'POST', agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One row: `replicas` serve processes on the shared database and bucket, each with `verifyWorkers` alignment threads. */
async function row(o: { replicas: number; verifyWorkers: number; requests: number; concurrency: number; databaseUrl: string; s3env: Record<string, string>; keysDir: string; suspect: Buffer; type: string; token: string }): Promise<ReplicaRow> {
  const env = {
    ...o.s3env, WEIGHTMARK_DATABASE_URL: o.databaseUrl, WEIGHTMARK_KEYS_DIR: o.keysDir, WEIGHTMARK_VERIFY_WORKERS: String(o.verifyWorkers),
    WEIGHTMARK_RATE_LIMIT_PER_MIN: '0', WEIGHTMARK_VERIFY_QUOTA_PER_DAY: '0', WEIGHTMARK_VERIFY_MAX_PER_SUBJECT: String(o.concurrency), WEIGHTMARK_LOG_LEVEL: 'info', WEIGHTMARK_RUN_JOBS: '0',
  };
  const replicas: Replica[] = [];
  try {
    for (let i = 0; i < o.replicas; i++) replicas.push(await startReplica(env, fs.mkdtempSync(path.join(os.tmpdir(), 'wm-bench-replica-'))));
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
    // warm-up: each replica caches the reference model and key
    for (const r of replicas) await post(r.url, o.token, o.suspect, o.type, agent);
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    let next = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: o.concurrency }, async () => {
      while (next < o.requests) {
        const r = replicas[next++ % replicas.length]!;
        const t0 = performance.now();
        const status = await post(r.url, o.token, o.suspect, o.type, agent);
        latencies.push(performance.now() - t0);
        if (status !== 201) errors[status] = (errors[status] ?? 0) + 1;
      }
    }));
    const wall = (performance.now() - start) / 1000;
    agent.destroy();
    const sorted = latencies.sort((a, b) => a - b);
    return {
      replicas: o.replicas, verifyWorkers: o.verifyWorkers, requests: o.requests, concurrency: o.concurrency, perSec: o.requests / wall,
      medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), errors, rssMb: replicas.map((r) => rssMb(r.proc.pid!)),
    };
  } finally {
    for (const r of replicas) r.proc.kill('SIGTERM');
    await Promise.all(replicas.map((r) => new Promise((res) => (r.proc.exitCode !== null ? res(null) : r.proc.once('exit', res)))));
  }
}

export async function benchReplicas(o: { requests?: number; concurrency?: number } = {}): Promise<ReplicaRow[]> {
  const skip = pgSkipReason();
  if (skip) throw new Error(`the replicas benchmark needs PostgreSQL: ${skip}`);
  const requests = o.requests ?? 96;
  const concurrency = o.concurrency ?? 8;
  const cluster = await startPgCluster();
  const s3 = await startS3Endpoint('bench-replicas');
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-bench-keys-'));
  try {
    const databaseUrl = await cluster.createDatabase('bench');
    const signing = SigningKeys.loadOrCreate(keysDir);
    const mint = (sub: string, role: 'admin' | 'verifier'): string => signing.mintToken({ sub, role, ttlSec: 3600, issuer: 'weightmark', audience: 'weightmark-api' });
    const base = initialParamSet('lenet5', 11);
    const key = generateKey(keyTargetsFromParamSet(base), { seed: 'bench-owner', id: 'bench-owner', arch: 'lenet5' });
    const owner = embedValues(base, key);
    const suspect = Buffer.from(writeSafetensors(owner, { arch: 'lenet5' }));
    // register once through a first replica (it also creates the master key the others share)
    const first = await startReplica({ ...s3.env, WEIGHTMARK_DATABASE_URL: databaseUrl, WEIGHTMARK_KEYS_DIR: keysDir, WEIGHTMARK_RUN_JOBS: '0' }, fs.mkdtempSync(path.join(os.tmpdir(), 'wm-bench-replica-')));
    try {
      const form = new FormData();
      form.append('file', new Blob([suspect]), 'owner.safetensors');
      form.append('key', new Blob([JSON.stringify(key)]), 'key.json');
      form.append('arch', 'lenet5');
      const r = await fetch(`${first.url}/v1/models`, { method: 'POST', headers: { Authorization: `Bearer ${mint('bench-admin', 'admin')}` }, body: form });
      if (r.status !== 201) throw new Error(`registering the owner model failed: ${r.status} ${await r.text()}`);
    } finally {
      first.proc.kill('SIGTERM');
      await new Promise((res) => first.proc.once('exit', res));
    }
    const form = new FormData();
    form.append('file', new Blob([suspect]), 'suspect.safetensors');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const body = Buffer.from(await req.arrayBuffer());
    const type = req.headers.get('content-type')!;
    const token = mint('bench', 'verifier');
    const rows: ReplicaRow[] = [];
    for (const [replicas, verifyWorkers] of [[1, 1], [1, 2], [2, 1]] as const) {
      rows.push(await row({ replicas, verifyWorkers, requests, concurrency, databaseUrl, s3env: s3.env, keysDir, suspect: body, type, token }));
    }
    return rows;
  } finally {
    await s3.stop();
    cluster.stop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

export function formatReplicas(rows: ReplicaRow[]): string {
  const lines = [
    '| API replicas | verify workers each | clients × requests | verifications/s | median ms | p99 ms | errors | RSS per replica (MB) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.replicas} | ${r.verifyWorkers} | ${r.concurrency} × ${r.requests} | ${r.perSec.toFixed(1)} | ${r.medianMs.toFixed(0)} | ${r.p99Ms.toFixed(0)} | ${Object.entries(r.errors).map(([s, n]) => `${n}× ${s}`).join(', ') || 0} | ${r.rssMb.join(', ')} |`),
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, concurrency: { type: 'string' } } });
  const before = os.loadavg();
  const rows = await benchReplicas({ ...(values.requests ? { requests: Number(values.requests) } : {}), ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}) });
  console.log(formatReplicas(rows));
  console.log(`load average before ${before.map((l) => l.toFixed(2)).join(' ')}, after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.availableParallelism()} cores, shared)`);
}
