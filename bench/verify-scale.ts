/**
 * Verification at licensor scale: the committed naive LeNet5 (models/robustness) registered with its
 * key and K − 1 more registrations of the same files with other keys (what K calls of POST /v1/models
 * would store; written through the store here so that setting up 10,000 keys takes seconds, not an
 * hour of uploads). Then, through the API on loopback:
 * - one unrelated suspect (the independently trained PyTorch LeNet5 of test/fixtures) and one
 *   watermarked suspect, each verified alone (median of several, after a warm-up that builds the index);
 * - 8 concurrent clients verifying watermarked suspects, from a worker thread (bench/loadClient.mjs)
 *   so the client's work shares the cores but not the service's event loop: throughput and p99.
 *
 *   npx tsx bench/verify-scale.ts [--ks 100,1000,10000] [--requests 200] [--concurrency 8]
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { startWebServer } from '../src/http/server.js';
import { generateKey, keyTargetsFromParamSet, parseKey } from '../src/core/keygen.js';
import { readModel } from '../src/formats/index.js';
import { newId } from '../src/service/context.js';
import { sealKey } from '../src/service/models.js';
import type { ModelRecord } from '../src/store/types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface ScaleRow {
  keys: number;
  indexSeconds: number;
  unrelatedMs: number;
  unrelatedDecision: string;
  watermarkedMs: number;
  watermarkedDecision: string;
  leakedByOwnerKey: boolean;
  concurrency: number;
  requests: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU time of the whole process (service threads and the load generator) per request under load. */
  cpuMsPerRequest: number;
  /** Share of the wall time the service's event loop was busy: near 1, the request thread is the bottleneck. */
  mainBusy: number;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
const median = (v: number[]): number => quantile([...v].sort((a, b) => a - b), 0.5);

export async function benchVerifyScale(k: number, o: { requests?: number; concurrency?: number } = {}): Promise<ScaleRow> {
  const requests = o.requests ?? 200;
  const concurrency = o.concurrency ?? 8;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-scale-'));
  const server = await startWebServer({
    env: {},
    config: { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'data'), keysDir: path.join(dir, 'keys'), logLevel: 'warn', rateLimitPerMin: 0, verifyQuotaPerDay: 0, verifyMaxPerSubject: 64 },
    logSink: () => undefined,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const ctx = server.service.ctx;
    const { signing, config } = ctx;
    const token = signing.mintToken({ sub: 'bench', role: 'verifier', ttlSec: 3600, issuer: config.issuer, audience: config.audience });
    const ownerBytes = new Uint8Array(fs.readFileSync(path.join(root, 'models/robustness/naive.safetensors')));
    const ownerKey = parseKey(JSON.parse(fs.readFileSync(path.join(root, 'models/robustness/key.json'), 'utf8')));
    const unrelated = new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/torch/independent/torch_lenet5.safetensors')));
    const params = readModel([{ name: 'naive.safetensors', bytes: ownerBytes }]).params;
    const ref = await ctx.blobs.put('naive.safetensors', ownerBytes);
    const targets = keyTargetsFromParamSet(params);
    const now = new Date().toISOString();
    // K registrations of the same files: the real key first, then others.
    await ctx.store.write((w) => {
      for (let i = 0; i < k; i++) {
        const id = newId('mdl');
        const key = i === 0 ? ownerKey : generateKey(targets, { seed: `scale-${i}`, id: `scale-${i}`, arch: 'lenet5' });
        const rec = sealKey(ctx, id, 'owner', key);
        const model: ModelRecord = {
          id, name: `naive #${i}`, arch: 'lenet5', source: 'upload', format: 'safetensors', files: [ref], paramCount: 431_080,
          ownerKeyId: null, parentModelId: null, createdBy: 'bench', createdAt: now, meta: {},
        };
        w.insertModel(model);
        w.insertKey(rec);
        w.setModelOwnerKey(id, rec.id);
      }
    });
    // The load generator shares the 2 cores with the service: bodies are encoded once and sent over
    // keep-alive sockets, so the table measures the service, not FormData.
    const bodies = new Map<Uint8Array, { body: Buffer; type: string }>();
    const encode = (bytes: Uint8Array, name: string) => {
      let e = bodies.get(bytes);
      if (!e) {
        const boundary = `wmbench${bytes.length}`;
        const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
        e = { body: Buffer.concat([head, bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
        bodies.set(bytes, e);
      }
      return e;
    };
    const verify = (bytes: Uint8Array, name: string): Promise<{ ms: number; status: number; decision?: string }> => {
      const { body, type } = encode(bytes, name);
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        const req = http.request(`${server.url}/v1/verifications`, { method: 'POST', agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type, 'Content-Length': body.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { decision?: string };
            resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, ...(parsed.decision ? { decision: parsed.decision } : {}) });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    };
    const t0 = performance.now();
    const warm = await verify(ownerBytes, 'warm.safetensors');
    if (warm.status !== 201) throw new Error(`warm-up verification failed: ${warm.status}`);
    const indexSeconds = (performance.now() - t0) / 1000;
    const un: number[] = [];
    let unDecision = '';
    for (let i = 0; i < 5; i++) {
      const r = await verify(unrelated, 'independent.safetensors');
      un.push(r.ms);
      unDecision = r.decision ?? String(r.status);
    }
    const wm: number[] = [];
    let wmDecision = '';
    for (let i = 0; i < 10; i++) {
      const r = await verify(ownerBytes, 'suspect.safetensors');
      wm.push(r.ms);
      wmDecision = r.decision ?? String(r.status);
    }
    const { body, type } = encode(ownerBytes, 'suspect.safetensors');
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const load = await new Promise<{ latencies: number[]; errors: number; wall: number }>((resolve, reject) => {
      const w = new Worker(new URL('./loadClient.mjs', import.meta.url), { workerData: { url: server.url, token, body, type, requests, concurrency } });
      w.once('message', resolve);
      w.once('error', reject);
    });
    const { latencies, errors, wall } = load;
    const cpu = process.cpuUsage(cpu0);
    const mainBusy = performance.eventLoopUtilization(elu0).utilization;
    const cpuMs = (cpu.user + cpu.system) / 1000 / requests;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      keys: k, indexSeconds, unrelatedMs: median(un), unrelatedDecision: unDecision, watermarkedMs: median(wm), watermarkedDecision: wmDecision, leakedByOwnerKey: wmDecision === 'match',
      concurrency, requests, requestsPerSec: requests / wall, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), errors, cpuMsPerRequest: cpuMs, mainBusy,
    };
  } finally {
    agent.destroy();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatScale(rows: readonly ScaleRow[]): string {
  const head = '| keys | index built (first request) | unrelated suspect | watermarked suspect | 8 clients: verifications/s | p50 | p99 | CPU per request | request thread busy | errors |\n|---|---|---|---|---|---|---|---|---|---|';
  const body = rows.map((r) =>
    `| ${r.keys.toLocaleString('en')} | ${r.indexSeconds.toFixed(1)} s | ${r.unrelatedMs.toFixed(0)} ms (${r.unrelatedDecision}) | ${r.watermarkedMs.toFixed(0)} ms (${r.watermarkedDecision}) | ${r.requestsPerSec.toFixed(0)} | ${r.p50Ms.toFixed(0)} ms | ${r.p99Ms.toFixed(0)} ms | ${r.cpuMsPerRequest.toFixed(1)} ms | ${(r.mainBusy * 100).toFixed(0)}% | ${r.errors} |`);
  return [head, ...body, '', `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ${os.availableParallelism()} CPUs`].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { ks: { type: 'string', default: '100,1000,10000' }, requests: { type: 'string' }, concurrency: { type: 'string' } } });
  const rows: ScaleRow[] = [];
  for (const k of values.ks!.split(',').map(Number)) {
    rows.push(await benchVerifyScale(k, { ...(values.requests ? { requests: Number(values.requests) } : {}), ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}) }));
    console.error(JSON.stringify(rows[rows.length - 1]));
  }
  console.log(formatScale(rows));
}
