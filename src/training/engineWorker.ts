/**
 * One data-parallel worker of the engine pool: its own tfjs instance (its own wasm memory), computing
 * on the shard of each batch the pool hands it. Parameters arrive in a SharedArrayBuffer the pool
 * writes once for all workers; results go back with their buffers transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Architecture } from '../core/architectures.js';
import type { BackendPreference } from './backend.js';
import { createLocalEngine, type LocalEngine, type LossAndGrads } from './engine.js';
import type { PoolReply, PoolRequest } from './enginePool.js';

const port = parentPort!;
const { arch, backend } = workerData as { arch: Architecture; backend: BackendPreference };
const perSample = arch.inputShape[0] * arch.inputShape[1] * arch.inputShape[2];

function unpack(arena: SharedArrayBuffer, offsets: readonly number[][], lengths: readonly number[]): Float32Array[][] {
  return offsets.map((vector) => vector.map((off, i) => new Float32Array(arena, off * 4, lengths[i]!)));
}

function handle(engine: LocalEngine, req: PoolRequest): PoolReply {
  if (req.kind === 'grads') {
    const vectors = unpack(req.arena, req.offsets, req.lengths);
    const { x, y } = req.batch;
    // Tasks over the same samples run together, so the engine can share their input work.
    const groups = new Map<string, number[]>();
    req.tasks.forEach((t, i) => {
      const key = `${t.start}:${t.n}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const results: LossAndGrads[] = new Array<LossAndGrads>(req.tasks.length);
    for (const members of groups.values()) {
      const { start, n } = req.tasks[members[0]!]!;
      const batch = { x: x.subarray(start * perSample, (start + n) * perSample), y: y.subarray(start, start + n), n, seed: req.batch.seed ?? 0, offset: start };
      engine.lossAndGradsManySync(members.map((i) => vectors[req.tasks[i]!.vector]!), batch).forEach((r, j) => (results[members[j]!] = r));
    }
    return { id: req.id, kind: 'grads', results };
  }
  const [params] = unpack(req.arena, req.offsets, req.lengths);
  return { id: req.id, kind: 'logits', logits: engine.predictSync(params!, req.x, req.n) };
}

function transferables(reply: PoolReply): ArrayBuffer[] {
  if (reply.kind === 'grads') return reply.results.flatMap((r) => r.grads.map((g) => g.buffer as ArrayBuffer));
  if (reply.kind === 'logits') return [reply.logits.buffer as ArrayBuffer];
  return [];
}

createLocalEngine(arch, backend).then(
  (engine) => {
    port.on('message', (req: PoolRequest) => {
      let reply: PoolReply;
      try {
        reply = handle(engine, req);
      } catch (e) {
        reply = { id: req.id, kind: 'error', message: (e as Error).message };
      }
      port.postMessage(reply, transferables(reply));
    });
    port.postMessage({ id: -1, kind: 'ready', backend: engine.backend } satisfies PoolReply);
  },
  (e: Error) => port.postMessage({ id: -1, kind: 'error', message: `engine worker could not start: ${e.message}` } satisfies PoolReply),
);
