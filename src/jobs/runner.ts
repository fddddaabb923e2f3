/**
 * The job queue: jobs are rows in the store first (so they survive the client and the process), then
 * run here one at a time by default (`concurrency`), in submission order. Each kind has a handler;
 * handlers hand CPU-heavy work to a TaskExecutor (a child process), so the request thread stays free.
 *
 * States: queued → running → succeeded | failed | cancelled. On start, any job still `running` was
 * interrupted by a crash: when its handler kept a checkpoint it is queued again and continues from
 * there, otherwise it is marked failed ("interrupted") and never silently lost; `queued` jobs are
 * picked up again. A shutdown leaves resumable jobs queued for the next start in the same way.
 */
import { EventEmitter } from 'node:events';
import type { AuditDraft, JobKind, JobPatch, JobRecord, Store, StoreWriter } from '../store/types.js';
import type { Logger } from '../service/logger.js';
import type { JobProgress } from '../service/ports.js';
import { TaskCancelled } from '../service/ports.js';
import { JobEventHistory, type Numbered } from './eventHistory.js';

export interface JobHandlerContext {
  readonly signal: AbortSignal;
  onProgress(p: JobProgress): void;
}

export interface JobHandler {
  /**
   * Does the work; returns the job's public result and, optionally, the records it made, which are
   * written in the same unit of work that marks the job succeeded (so a crash cannot leave a model
   * without its job, or a succeeded job without its model). Throw TaskCancelled when the signal aborted.
   */
  run(job: JobRecord, ctx: JobHandlerContext): Promise<{ result: Record<string, unknown>; commit?: (w: StoreWriter) => void }>;
  /** Called after the job failed or was cancelled, to undo or mark what it owns (e.g. a pending release). */
  onFailure?(job: JobRecord, reason: string): Promise<void>;
  /** Whether an interrupted run of this job can continue from saved state (a training checkpoint). */
  resumable?(job: JobRecord): boolean;
  /** Called once the job is final and its records are written: drop what only a resume would need. */
  settled?(job: JobRecord): void;
}

export type JobEvent =
  | { type: 'progress'; job: string; progress: JobProgress }
  | { type: 'status'; job: string; status: JobRecord['status']; error?: string | null; result?: Record<string, unknown> | null };

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
export const isTerminal = (s: string): boolean => TERMINAL.has(s);

export class JobRunner {
  readonly #store: Store;
  readonly #handlers: Partial<Record<JobKind, JobHandler>>;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #events = new EventEmitter();
  /** Recent events per job, numbered, for streams that resume (Last-Event-ID). */
  readonly #history = new JobEventHistory<JobEvent>();
  readonly #queue: string[] = [];
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void>; lastSaved: number }>();
  #stopping = false;

  constructor(opts: { store: Store; handlers: Partial<Record<JobKind, JobHandler>>; logger: Logger; concurrency: number }) {
    this.#store = opts.store;
    this.#handlers = opts.handlers;
    this.#log = opts.logger;
    this.#concurrency = opts.concurrency;
    this.#events.setMaxListeners(0);
  }

  /** Marks interrupted jobs failed and re-queues the queued ones. Call once at start. */
  async recover(): Promise<{ interrupted: string[]; requeued: string[] }> {
    const running = (await this.#store.listJobs({ status: 'running', limit: 10_000, offset: 0 })).items;
    const interrupted: string[] = [];
    for (const job of running) {
      if (this.#resumable(job)) {
        await this.#requeue(job, 'the service stopped while it ran');
        continue;
      }
      const reason = 'interrupted: the service stopped while the job was running; submit it again';
      await this.#finish(job, { status: 'failed', error: reason });
      interrupted.push(job.id);
    }
    // Oldest first: the store lists newest first.
    const queued = (await this.#store.listJobs({ status: 'queued', limit: 10_000, offset: 0 })).items.reverse();
    for (const job of queued) this.#queue.push(job.id);
    this.#pump();
    return { interrupted, requeued: queued.map((j) => j.id) };
  }

  #resumable(job: JobRecord): boolean {
    try {
      return this.#handlers[job.kind]?.resumable?.(job) ?? false;
    } catch {
      return false;
    }
  }

  /** Back to queued, to continue from its checkpoint: logged, and audited, so a resume is never silent. */
  async #requeue(job: JobRecord, why: string): Promise<void> {
    await this.#store.write((w) => {
      w.updateJob(job.id, { status: 'queued' });
      w.appendAudit({ actor: 'system', role: 'system', action: 'job.resume', target: job.id, details: { kind: job.kind, reason: why } });
    });
    this.#log.info('job queued to resume from its checkpoint', { job: job.id, reason: why });
    this.#emit({ type: 'status', job: job.id, status: 'queued' });
  }

  /** Queues a job already written to the store (in the same unit of work as whatever it belongs to). */
  enqueue(jobId: string): void {
    this.#queue.push(jobId);
    this.#pump();
  }

  get queued(): number {
    return this.#queue.length;
  }
  get running(): number {
    return this.#running.size;
  }

  /** Calls `fn` with each event of the job from now on, numbered as `eventsAfter` numbers them. */
  subscribe(jobId: string, fn: (e: Numbered<JobEvent>) => void): () => void {
    const ch = `job:${jobId}`;
    this.#events.on(ch, fn);
    return () => this.#events.off(ch, fn);
  }

  /** The job's events after id `lastId`; undefined when they are no longer (or were never) all held here. */
  eventsAfter(jobId: string, lastId: number): Numbered<JobEvent>[] | undefined {
    return this.#history.after(jobId, lastId);
  }

  /** Id of the job's latest event (0 when none is held). */
  lastEventId(jobId: string): number {
    return this.#history.lastId(jobId);
  }

  /** Cancels a queued or running job. Returns false when it had already finished. */
  async cancel(job: JobRecord, actor: { sub: string; role: AuditDraft['role'] }): Promise<boolean> {
    if (isTerminal(job.status)) return false;
    const i = this.#queue.indexOf(job.id);
    if (i >= 0) this.#queue.splice(i, 1);
    const run = this.#running.get(job.id);
    if (run) {
      run.abort.abort();
      await this.#store.write((w) => w.appendAudit({ actor: actor.sub, role: actor.role, action: 'job.cancel', target: job.id, details: { kind: job.kind } }));
      await run.done;
      return true;
    }
    await this.#store.write((w) => w.appendAudit({ actor: actor.sub, role: actor.role, action: 'job.cancel', target: job.id, details: { kind: job.kind } }));
    await this.#finish(job, { status: 'cancelled', error: `cancelled by ${actor.sub}` });
    return true;
  }

  /** Stops taking jobs, aborts running ones and marks them failed (interrupted by shutdown). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#queue.length = 0;
    const runs = [...this.#running.values()];
    for (const r of runs) r.abort.abort('shutdown');
    await Promise.allSettled(runs.map((r) => r.done));
  }

  #pump(): void {
    while (!this.#stopping && this.#running.size < this.#concurrency && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      const abort = new AbortController();
      const entry = { abort, done: Promise.resolve(), lastSaved: 0 };
      this.#running.set(id, entry);
      entry.done = this.#execute(id, abort).finally(() => {
        this.#running.delete(id);
        this.#pump();
      });
    }
  }

  async #execute(id: string, abort: AbortController): Promise<void> {
    const job = await this.#store.getJob(id);
    if (!job || job.status !== 'queued') return;
    const handler = this.#handlers[job.kind];
    if (!handler) {
      await this.#finish(job, { status: 'failed', error: `no handler for job kind '${job.kind}'` });
      return;
    }
    const startedAt = new Date().toISOString();
    await this.#store.write((w) => w.updateJob(id, { status: 'running', startedAt }));
    this.#emit({ type: 'status', job: id, status: 'running' });
    const log = this.#log.child({ job: id, kind: job.kind });
    log.info('job started');
    const entry = this.#running.get(id)!;
    let latest: JobProgress | undefined;
    try {
      const { result, commit } = await handler.run({ ...job, status: 'running', startedAt }, {
        signal: abort.signal,
        onProgress: (p) => {
          latest = p;
          this.#emit({ type: 'progress', job: id, progress: p });
          const now = Date.now();
          if (now - entry.lastSaved > 1000) {
            entry.lastSaved = now;
            void this.#store.write((w) => w.updateJob(id, { progress: { ...p } })).catch(() => undefined);
          }
        },
      });
      await this.#finish(job, { status: 'succeeded', result, ...(latest ? { progress: { ...latest } } : {}) }, commit);
      log.info('job succeeded');
    } catch (e) {
      const cancelled = e instanceof TaskCancelled || abort.signal.aborted;
      const shutdown = abort.signal.reason === 'shutdown';
      if (shutdown && this.#resumable(job)) {
        await this.#requeue(job, 'the service shut down while it ran');
        return;
      }
      const status = cancelled && !shutdown ? 'cancelled' : 'failed';
      const error = shutdown ? 'interrupted: the service shut down while the job was running; submit it again' : cancelled ? 'cancelled' : (e as Error).message;
      if (status === 'failed' && !shutdown) log.warn('job failed', { error: (e as Error).message });
      else log.info(`job ${status}`);
      await this.#finish(job, { status, error, ...(latest ? { progress: { ...latest } } : {}) });
    }
  }

  async #finish(job: JobRecord, patch: JobPatch & { status: JobRecord['status'] }, commit?: (w: StoreWriter) => void): Promise<void> {
    const finishedAt = new Date().toISOString();
    if (patch.status !== 'succeeded') {
      try {
        await this.#handlers[job.kind]?.onFailure?.(job, patch.error ?? patch.status);
      } catch (e) {
        this.#log.error('job failure hook failed', { job: job.id, error: (e as Error).message });
      }
    }
    await this.#store.write((w) => {
      commit?.(w);
      w.updateJob(job.id, { ...patch, finishedAt });
      w.appendAudit({
        actor: 'system',
        role: 'system',
        action: `job.${patch.status}`,
        target: job.id,
        details: { kind: job.kind, ...(patch.error ? { error: patch.error } : {}), ...(patch.result ? { result: patch.result } : {}) },
      });
    });
    this.#emit({ type: 'status', job: job.id, status: patch.status, error: patch.error ?? null, result: patch.result ?? null });
    try {
      this.#handlers[job.kind]?.settled?.(job);
    } catch (e) {
      this.#log.error('job settle hook failed', { job: job.id, error: (e as Error).message });
    }
  }

  #emit(e: JobEvent): void {
    const final = e.type === 'status' && isTerminal(e.status);
    this.#events.emit(`job:${e.job}`, this.#history.record(e.job, e, final));
  }
}
