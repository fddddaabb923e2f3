/**
 * Verification runs its alignment and scoring in worker threads, so a 0.1–1 s alignment never blocks the event
 * loop (health probes, other requests) and uploads are verified in parallel, one per worker. Each
 * worker caches reference models; the pool sends a reference only to a worker that lacks it.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { ParamSet } from '../core/paramSet.js';
import type { GroupInput, GroupOutcome, VerifyOptions } from '../verification/verifyGroups.js';

const BOOTSTRAP = fileURLToPath(new URL('./verifyWorkerBootstrap.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './verifyWorker.ts' : './verifyWorker.js', import.meta.url));

export interface Verified {
  readonly outcomes: GroupOutcome[];
  /** sha256 (hex) of each file given to run(). */
  readonly digests: string[];
}

interface Slot {
  worker: Worker;
  busy: boolean;
  has: string[];
  pending?: { id: number; resolve: (o: Verified) => void; reject: (e: Error) => void };
}

export class VerifyPool {
  #slots: Slot[] = [];
  #queue: { suspect: ParamSet; groups: GroupInput[]; opts: VerifyOptions; files: readonly Uint8Array[]; resolve: (o: Verified) => void; reject: (e: Error) => void }[] = [];
  #seq = 0;
  #closed = false;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const worker = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY } });
    worker.unref();
    const slot: Slot = { worker, busy: false, has: [] };
    worker.on('message', (m: { id: number; out?: GroupOutcome[]; digests?: string[]; error?: string }) => {
      const p = slot.pending;
      if (!p || p.id !== m.id) return;
      slot.pending = undefined;
      slot.busy = false;
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve({ outcomes: m.out!, digests: m.digests ?? [] });
      this.#pump();
    });
    const replace = (e: Error): void => {
      slot.pending?.reject(e);
      slot.pending = undefined;
      const i = this.#slots.indexOf(slot);
      if (i >= 0 && !this.#closed) {
        this.#slots[i] = this.#spawn();
        this.#pump();
      }
    };
    worker.on('error', replace);
    worker.on('exit', (code) => replace(new Error(`a verification worker exited (code ${code})`)));
    return slot;
  }

  /** `files` (views on shared memory, as readModelFiles makes them) are hashed by the worker, in place. */
  run(suspect: ParamSet, groups: GroupInput[], opts: VerifyOptions, files: readonly Uint8Array[] = []): Promise<Verified> {
    if (this.#closed) return Promise.reject(new Error('the verification pool is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ suspect, groups, opts, files, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    for (const slot of this.#slots) {
      if (slot.busy || this.#queue.length === 0) continue;
      const t = this.#queue.shift()!;
      slot.busy = true;
      const id = ++this.#seq;
      slot.pending = { id, resolve: t.resolve, reject: t.reject };
      // The key banks live in SharedArrayBuffers (shared, not copied); a reference goes only to a worker that lacks it.
      const groups = t.groups.map((g) => {
        const bank = { ...g.bank, ids: [] };
        if (slot.has.includes(g.referenceId)) return { ...g, bank, reference: undefined };
        slot.has = [...slot.has.filter((x) => x !== g.referenceId), g.referenceId].slice(-8);
        return { ...g, bank };
      });
      slot.worker.postMessage({ id, suspect: t.suspect, groups, opts: t.opts, files: t.files });
    }
  }

  get queued(): number {
    return this.#queue.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#queue.splice(0)) t.reject(new Error('the service is shutting down'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
