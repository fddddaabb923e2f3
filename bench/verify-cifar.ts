/**
 * Verification of CIFAR-10-sized suspects through the API: the committed ResNet-32 and ALL-CNN-C
 * registered with their keys, then one client uploading, one request at a time, the three kinds of
 * file a licensor meets — the model as shipped (standard ONNX: the alignment as read decides), the
 * same model permuted and rescaled (as read fails, the invariant re-alignment runs), and the same run
 * trained without a key (nothing matches, so the invariant stage runs and still finds nothing).
 * What a user waits for one answer on these networks; bench/verify-latency.ts measures throughput on LeNet5.
 *
 *   npx tsx bench/verify-cifar.ts [--repeats 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getAttack } from '../src/attacks/index.js';
import { loadModel } from '../src/cli/modelFiles.js';
import { getArchitecture, type Architecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { writeOnnx } from '../src/formats/onnx/write.js';
import { startWebServer } from '../src/http/server.js';

/** Each committed keyed model and the same run without a key (docs/architectures.md). */
const NETWORKS = [
  { arch: 'resnet32', keyed: 'models/resnet32', unkeyed: 'models/resnet32-none' },
  { arch: 'allcnnc', keyed: 'models/allcnnc-60', unkeyed: 'models/allcnnc-none-60' },
] as const;

export interface CifarVerifyRow {
  readonly arch: string;
  readonly suspect: string;
  readonly uploadBytes: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly decision: string;
  readonly alignment: string;
  readonly r: number | null;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function hidden(set: ParamSet, arch: Architecture): Promise<ParamSet> {
  const permuted = await getAttack('permute').run(set, arch, 1, { seed: 7 });
  return (await getAttack('rescale').run(permuted.set, permuted.arch, 4, { seed: 8 })).set;
}

/** Runs the benchmark; the models must be the committed ones (they are in the repository). */
export async function benchVerifyCifar(o: { repeats?: number; log?: (line: string) => void } = {}): Promise<CifarVerifyRow[]> {
  const repeats = o.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`repeats must be a positive integer; found ${o.repeats}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-bench-cifar-'));
  const server = await startWebServer({
    env: {},
    config: { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'data'), keysDir: path.join(dir, 'keys'), logLevel: 'warn', rateLimitPerMin: 0 },
    logSink: () => undefined,
  });
  const rows: CifarVerifyRow[] = [];
  try {
    const { signing, config } = server.service.ctx;
    const mint = (role: 'admin' | 'auditor') => signing.mintToken({ sub: `bench-${role}`, role, ttlSec: 3600, issuer: config.issuer, audience: config.audience });
    const [admin, auditor] = [mint('admin'), mint('auditor')];
    for (const net of NETWORKS) {
      const arch = getArchitecture(net.arch);
      const owner = loadModel(net.keyed, arch.name).params;
      const reg = new FormData();
      reg.append('file', new Blob([Buffer.from(writeSafetensors(owner, { arch: arch.name }))]), 'owner.safetensors');
      reg.append('key', new Blob([fs.readFileSync(path.join(net.keyed, 'key.json'))]), 'key.json');
      reg.append('arch', arch.name);
      const r = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: reg });
      if (r.status !== 201) throw new Error(`registering ${net.keyed} failed: ${r.status} ${await r.text()}`);
      const suspects: [string, Uint8Array][] = [
        [`${net.keyed} as shipped (standard ONNX)`, writeOnnx(owner, arch)],
        [`${net.keyed} permuted + rescaled (ONNX)`, writeOnnx(await hidden(owner, arch), arch)],
        [`${net.unkeyed}: the same run without a key (ONNX)`, writeOnnx(loadModel(net.unkeyed, arch.name).params, arch)],
      ];
      for (const [label, bytes] of suspects) {
        const times: number[] = [];
        let last: { decision?: string; report?: { best?: { alignment?: string | null; r?: number | null } | null } } = {};
        // The first request also loads the reference into the verification workers: kept apart, not counted.
        for (let i = 0; i <= repeats; i++) {
          const form = new FormData();
          form.append('file', new Blob([Buffer.from(bytes)]), 'suspect.onnx');
          const t0 = performance.now();
          const res = await fetch(`${server.url}/v1/verifications`, { method: 'POST', headers: { Authorization: `Bearer ${auditor}` }, body: form });
          const body = (await res.json()) as typeof last;
          if (res.status !== 201) throw new Error(`verifying ${label}: ${res.status} ${JSON.stringify(body)}`);
          if (i > 0) times.push(performance.now() - t0);
          last = body;
        }
        rows.push({
          arch: arch.name, suspect: label, uploadBytes: bytes.length,
          medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times),
          decision: last.decision ?? '?', alignment: last.report?.best?.alignment ?? 'none', r: last.report?.best?.r ?? null,
        });
        o.log?.(`${arch.name}: ${label}: median ${median(times).toFixed(0)} ms`);
      }
    }
    return rows;
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatVerifyCifar(rows: readonly CifarVerifyRow[]): string {
  const head = '| net | suspect | upload | median | min–max | decision | alignment kept | r |';
  const lines = rows.map((x) => `| ${x.arch} | ${x.suspect} | ${(x.uploadBytes / 1e6).toFixed(2)} MB | ${(x.medianMs / 1000).toFixed(2)} s | ${(x.minMs / 1000).toFixed(2)}–${(x.maxMs / 1000).toFixed(2)} s | ${x.decision} | ${x.alignment} | ${x.r === null ? '—' : x.r.toFixed(4)} |`);
  return [head, '|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { repeats: { type: 'string' }, json: { type: 'boolean' } } });
  const rows = await benchVerifyCifar({ ...(values.repeats ? { repeats: Number(values.repeats) } : {}), log: (l) => console.error(l) });
  console.log(values.json ? JSON.stringify(rows, null, 2) : formatVerifyCifar(rows));
}
