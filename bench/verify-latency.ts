/**
 * Verification latency: median / p99 and requests per second of POST /v1/verifications with a
 * LeNet5-sized upload (431,080 float32 parameters, safetensors) from 8 concurrent clients, against a
 * service started in-process on loopback with a temp data dir. Bounded: `requests` in total.
 *
 *   npx tsx bench/verify-latency.ts [--requests 96] [--concurrency 8] [--format safetensors|onnx] [--workers N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startWebServer } from '../src/http/server.js';
import { getArchitecture } from '../src/core/architectures.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues } from '../src/core/extract.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { writeOnnx } from '../src/formats/onnx/write.js';
import { initialParamSet } from '../src/core/init.js';

export interface VerifyLatencyResult {
  requests: number;
  concurrency: number;
  format: string;
  uploadBytes: number;
  candidates: number;
  verifyWorkers: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
  requestsPerSec: number;
  /** /healthz latency while verifications run: does the event loop stay free? */
  healthMedianMs: number;
  healthMaxMs: number;
  decisions: Record<string, number>;
  errors: number;
}


const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/** Runs the benchmark and returns its numbers (used by bench/run.ts). */
export async function benchVerifyLatency(o: { requests?: number; concurrency?: number; format?: 'safetensors' | 'onnx'; verifyWorkers?: number } = {}): Promise<VerifyLatencyResult> {
  const requests = o.requests ?? 96;
  const concurrency = o.concurrency ?? 8;
  const format = o.format ?? 'safetensors';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-bench-'));
  const server = await startWebServer({
    env: {},
    config: { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'data'), keysDir: path.join(dir, 'keys'), logLevel: 'warn', rateLimitPerMin: 0, ...(o.verifyWorkers !== undefined ? { verifyWorkers: o.verifyWorkers } : {}) },
    logSink: () => undefined,
  });
  try {
    const { signing, config } = server.service.ctx;
    const token = signing.mintToken({ sub: 'bench', role: 'verifier', ttlSec: 3600, issuer: config.issuer, audience: config.audience });
    const admin = signing.mintToken({ sub: 'bench-admin', role: 'admin', ttlSec: 3600, issuer: config.issuer, audience: config.audience });
    const base = initialParamSet('lenet5', 11);
    const key = generateKey(keyTargetsFromParamSet(base), { seed: 'bench-owner', id: 'bench-owner', arch: 'lenet5' });
    const owner = embedValues(base, key);
    const reg = new FormData();
    reg.append('file', new Blob([Buffer.from(writeSafetensors(owner, { arch: 'lenet5' }))]), 'owner.safetensors');
    reg.append('key', new Blob([JSON.stringify(key)]), 'key.json');
    reg.append('arch', 'lenet5');
    const r = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: reg });
    if (r.status !== 201) throw new Error(`registering the owner model failed: ${r.status} ${await r.text()}`);
    const suspect = format === 'onnx' ? writeOnnx(owner, getArchitecture('lenet5')) : writeSafetensors(owner, { arch: 'lenet5' });
    const name = format === 'onnx' ? 'suspect.onnx' : 'suspect.safetensors';

    const latencies: number[] = [];
    const decisions: Record<string, number> = {};
    let errors = 0;
    let next = 0;
    const one = async (): Promise<void> => {
      const form = new FormData();
      form.append('file', new Blob([Buffer.from(suspect)]), name);
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v1/verifications`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
      const body = (await res.json()) as { decision?: string };
      latencies.push(performance.now() - t0);
      if (res.status !== 201) errors++;
      else decisions[body.decision!] = (decisions[body.decision!] ?? 0) + 1;
    };
    await one(); // warm-up (caches the reference model and key), not counted
    latencies.length = 0;
    for (const k of Object.keys(decisions)) delete decisions[k];
    const start = performance.now();
    const health: number[] = [];
    let loading = true;
    const probe = (async () => {
      while (loading) {
        const t0 = performance.now();
        await fetch(`${server.url}/healthz`);
        health.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          next++;
          await one();
        }
      }),
    );
    const wall = (performance.now() - start) / 1000;
    loading = false;
    await probe;
    const hs = [...health].sort((a, b) => a - b);
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      requests, concurrency, format, uploadBytes: suspect.length, candidates: 1, verifyWorkers: server.service.ctx.config.verifyWorkers,
      medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
      requestsPerSec: requests / wall, healthMedianMs: quantile(hs, 0.5), healthMaxMs: hs[hs.length - 1] ?? 0, decisions, errors,
    };
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatVerifyLatency(r: VerifyLatencyResult): string {
  const rows: [string, string][] = [
    ['upload', `${r.format}, ${(r.uploadBytes / 1e6).toFixed(2)} MB (LeNet5, 431,080 params)`],
    ['clients × requests', `${r.concurrency} × ${r.requests} (loopback), ${r.verifyWorkers} verification workers`],
    ['median latency', `${r.medianMs.toFixed(1)} ms`],
    ['p99 latency', `${r.p99Ms.toFixed(1)} ms`],
    ['mean latency', `${r.meanMs.toFixed(1)} ms`],
    ['throughput', `${r.requestsPerSec.toFixed(1)} verifications/s`],
    ['/healthz meanwhile', `median ${r.healthMedianMs.toFixed(1)} ms, max ${r.healthMaxMs.toFixed(1)} ms`],
    ['decisions', Object.entries(r.decisions).map(([k, v]) => `${k}: ${v}`).join(', ') + (r.errors ? `, errors: ${r.errors}` : '')],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return ['verification latency', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, concurrency: { type: 'string' }, format: { type: 'string' }, workers: { type: 'string' }, json: { type: 'boolean' } } });
  const r = await benchVerifyLatency({
    ...(values.requests ? { requests: Number(values.requests) } : {}),
    ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
    ...(values.format ? { format: values.format as 'onnx' } : {}),
    ...(values.workers ? { verifyWorkers: Number(values.workers) } : {}),
  });
  console.log(values.json ? JSON.stringify(r, null, 2) : formatVerifyLatency(r));
}
