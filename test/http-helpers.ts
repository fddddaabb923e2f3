/**
 * Shared by the test/http-*.test.ts files: start the real service in-process on port 0 with temp
 * data and keys dirs, mint tokens for each role, and hold every response to openapi.yaml.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import request from 'supertest';
import { startWebServer, type RunningServer, type ServiceOverrides } from '../src/http/server.js';
import { loadDocument, makeAjv } from '../src/http/contract.js';
import type { Role } from '../src/crypto/signing.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { materializeKey, planFromCommitment } from '../src/core/keyPlan.js';
import { commitmentDigest } from '../src/core/commitment.js';
import { embedValues } from '../src/core/extract.js';
import type { WatermarkKey } from '../src/core/watermarkKey.js';
import type { JobProgress, Task, TaskExecutor, TaskResult } from '../src/service/ports.js';
import { TaskCancelled } from '../src/service/ports.js';
import { initialParamSet } from '../src/core/init.js';
import { SqliteStore } from '../src/store/sqlite.js';

export interface TestServer {
  server: RunningServer;
  url: string;
  dataDir: string;
  keysDir: string;
  logs: string[];
  tokens: Record<Role, string>;
  http: ReturnType<typeof request>;
  stop(): Promise<void>;
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A temp dir removed when the test process exits. */
export function tempDir(name: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `wm-${name}-`));
  made.push(d);
  return d;
}

export async function startTestServer(o: ServiceOverrides & { dir?: string } = {}): Promise<TestServer> {
  const dir = o.dir ?? tempDir('http');
  const logs: string[] = [];
  const server = await startWebServer({
    ...o,
    env: o.env ?? {},
    config: { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'data'), keysDir: path.join(dir, 'keys'), logLevel: 'debug', shutdownGraceSec: 1, ...o.config },
    logSink: (l) => logs.push(l),
  });
  const { signing, config } = server.service.ctx;
  const mint = (role: Role): string => signing.mintToken({ sub: `${role}-1`, role, ttlSec: 600, issuer: config.issuer, audience: config.audience });
  return {
    server,
    url: server.url,
    dataDir: path.join(dir, 'data'),
    keysDir: path.join(dir, 'keys'),
    logs,
    tokens: { admin: mint('admin'), issuer: mint('issuer'), auditor: mint('auditor'), verifier: mint('verifier') },
    http: request(server.url),
    stop: () => server.stop(),
  };
}

/** The SQLite database under a test server, for tests that tamper with rows directly. @throws when it runs on another engine. */
export function sqliteDb(server: RunningServer): SqliteStore['db'] {
  const { store } = server.service;
  assert.ok(store instanceof SqliteStore, `this test edits SQLite rows directly; the server runs on ${store.engine}`);
  return store.db;
}

const doc = loadDocument();
const ajv = makeAjv(doc);
const esc = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
const opIndex = new Map<string, { path: string; method: string; op: Record<string, unknown> }>();
for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>)) {
  for (const [m, op] of Object.entries(item)) opIndex.set(String(op.operationId), { path: p, method: m, op });
}

/** Asserts that a response is one the contract allows for this operation (status, content type, body schema). */
export function assertContract(res: request.Response, operationId: string): void {
  const o = opIndex.get(operationId);
  assert.ok(o, `unknown operation ${operationId}`);
  const responses = o.op.responses as Record<string, { $ref?: string; content?: Record<string, unknown> }>;
  const status = String(res.status);
  const key = responses[status] ? status : responses.default ? 'default' : undefined;
  let base = `openapi.json#/paths/${esc(o.path)}/${o.method}/responses/${key}`;
  let entry = key ? responses[key] : undefined;
  if (!entry && res.status >= 400 && (res.status === 401 || res.status === 403 || res.status === 429 || res.status === 404 || res.status === 405 || res.status === 400 || res.status === 503 || res.status === 413 || res.status === 415 || res.status === 422)) {
    // every route may answer these problems
    entry = { $ref: '#/components/responses/Problem' };
  }
  assert.ok(entry, `${operationId}: status ${status} is not in the contract`);
  if (entry.$ref) {
    base = 'openapi.json' + entry.$ref;
    entry = (doc.components as { responses: Record<string, { content: Record<string, unknown> }> }).responses[entry.$ref.split('/').pop()!]!;
  }
  const ctype = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  const content = entry.content ?? {};
  assert.ok(Object.keys(content).length === 0 || content[ctype], `${operationId} ${status}: content type '${ctype}' is not in the contract (${Object.keys(content).join(', ')})`);
  if (ctype.endsWith('json') && content[ctype]) {
    const v = ajv.compile({ $ref: `${base}/content/${esc(ctype)}/schema` });
    assert.ok(v(res.body), `${operationId} ${status}: body does not match the contract: ${JSON.stringify(v.errors?.slice(0, 3))}\n${JSON.stringify(res.body).slice(0, 400)}`);
  }
}

export interface JobOutcome {
  status: string;
  result: Record<string, unknown>;
  error?: string;
  [field: string]: unknown;
}

/** Polls a job until it ends (succeeded, failed or cancelled). @throws when it has not after `timeoutMs`. */
export async function jobOutcome(t: TestServer, id: string, timeoutMs = 60_000, role: Role = 'issuer'): Promise<JobOutcome> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const j = (await t.http.get(`/v1/jobs/${id}`).set({ Authorization: `Bearer ${t.tokens[role]}` })).body as JobOutcome;
    if (['succeeded', 'failed', 'cancelled'].includes(j.status)) return j;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
}

/** A supertest parser that keeps a download's body as a Buffer: `.buffer(true).parse(binaryBody)`. */
export const binaryBody = ((res: NodeJS.ReadableStream, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
}) as unknown as Parameters<request.Test['parse']>[0];

/** Asserts a problem+json with the given status and code, and that it matches the contract. */
export function assertProblem(res: request.Response, status: number, code: string, operationId?: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.body.code, code);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.detail, 'string');
  assert.ok(res.body.type.startsWith('/problems/'));
  if (operationId) assertContract(res, operationId);
}

/** A LeNet5-shaped param set with small seeded weights (test data, not a trained model). */
/** A LeNet5 param set with seeded initial weights (no tfjs: the API process must not load it). */
export function lenetParams(seed = 1): ParamSet {
  return initialParamSet('lenet5', seed);
}

/** A watermarked test model: random LeNet5 weights with a fresh key's values written at its positions. */
export function watermarked(seed = 1, keyId = 'key-test-owner'): { params: ParamSet; key: WatermarkKey } {
  const base = lenetParams(seed);
  const key = generateKey(keyTargetsFromParamSet(base), { seed: `seed-${seed}-${keyId}`, id: keyId, arch: 'lenet5' });
  return { params: embedValues(base, key), key };
}

export function safetensorsBytes(set: ParamSet): Buffer {
  const b = writeSafetensors(set, { arch: 'lenet5' });
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}

/**
 * A stand-in for the child-process trainer: it ticks progress and returns a param set with the key's
 * values written in (what a locked training run guarantees), so job plumbing is tested in seconds.
 */
export class StandInExecutor implements TaskExecutor {
  readonly tasks: Task[] = [];
  constructor(private readonly ticks = 5, private readonly tickMs = 20) {}
  async run(task: Task, o: { onProgress: (p: JobProgress) => void; signal: AbortSignal }): Promise<TaskResult> {
    this.tasks.push(task);
    for (let i = 1; i <= this.ticks; i++) {
      if (o.signal.aborted) throw new TaskCancelled();
      await new Promise((r) => setTimeout(r, this.tickMs));
      o.onProgress({ phase: 'training', epoch: 1, epochs: 1, step: i, stepsPerEpoch: this.ticks, loss: 1 / i, accuracy: i / this.ticks, samplesPerSec: 1000, etaSec: 0, fraction: i / this.ticks });
    }
    if (o.signal.aborted) throw new TaskCancelled();
    if (task.kind === 'train') {
      const base = lenetParams(7);
      if (task.strategy === 'none') return { params: base, testAccuracy: 0.5, backend: 'stand-in' };
      const key = materializeKey(planFromCommitment(task.commitment!, base.tensors), base, { id: task.keyId, arch: 'lenet5', commitment: commitmentDigest(task.commitment!) });
      return { params: embedValues(base, key), key, anchor: base, testAccuracy: 0.5, backend: 'stand-in' };
    }
    if (task.kind === 'attack') throw new Error('the stand-in executor does not run attack sweeps');
    const withOwner = embedValues(task.ownerModel, task.ownerKey);
    const licenseeKey = materializeKey(planFromCommitment(task.commitment, withOwner.tensors, [task.ownerKey]), withOwner, { id: task.keyId, arch: 'lenet5', commitment: commitmentDigest(task.commitment) });
    return { params: embedValues(withOwner, licenseeKey), key: licenseeKey, testAccuracy: 0.5, backend: 'stand-in' };
  }
  async close(): Promise<void> {}
}
