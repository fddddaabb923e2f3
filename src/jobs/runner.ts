/**
 * The job queue: jobs are rows in the store first (so they survive the client and the process), then
 * run here one at a time by default (`concurrency`), in submission order. Each kind has a handler;
 * handlers hand CPU-heavy work to a TaskExecutor (a child process), so the request thread stays free.
 *
 * States: queued → running → succeeded | failed | cancelled. On start, any job still `running` was
 * interrupted by a crash: when its handler kept a checkpoint it is queued again and continues from
 * there, otherwise it is marked failed ("interrupted") and never silently lost; `queued` jobs are
 * picked up again. A shutdown leaves resumable jobs queued for the next start in the same way.
 *
 * With a shared queue (PostgreSQL: src/jobs/queue.ts) the runner of an API replica only sends jobs
 * and relays events; jobs run in the processes that `work` the queue (`weightmark worker`, or a
 * replica with WEIGHTMARK_RUN_JOBS on). Recovery then belongs to the queue: a job whose worker died is
 * claimed again by another, which continues it (from the mirrored checkpoint for training). Each
 * attempt holds a lease on the job row, and only the holder may settle it, so no job completes twice.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import crypto from 'node:crypto';
import { LeaseLost, type AuditDraft, type JobKind, type JobPatch, type JobRecord, type Store, type StoreWriter } from '../store/types.js';
import type { Logger } from '../service/logger.js';
import type { JobProgress } from '../service/ports.js';
import { TaskCancelled } from '../service/ports.js';
import { JobEventHistory, nextEventId, type Numbered } from './eventHistory.js';
import type { JobQueue } from './queue.js';

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

/** How a run ended: settled (the job is final, or was already), or left for another attempt (shared queue). */
type RunEnd = 'settled' | 'again';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
export const isTerminal = (s: string): boolean => TERMINAL.has(s);

export class JobRunner {
  readonly #store: Store;
  readonly #handlers: Partial<Record<JobKind, JobHandler>>;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #events = new EventEmitter();
  /** Recent events per job, numbered, for streams that resume (Last-Event-ID). */
  readonly #history: JobEventHistory<JobEvent>;
  readonly #queue: string[] = [];
  readonly #running = new Map<string, { abort: AbortController; done: Promise<RunEnd>; lastSaved: number }>();
  readonly #shared: JobQueue | undefined;
  readonly #runsJobs: boolean;
  /** The id this process last gave each job's event (shared queue), so two in one millisecond differ. */
  readonly #published = new Map<string, number>();
  #stopping = false;

  constructor(opts: { store: Store; handlers: Partial<Record<JobKind, JobHandler>>; logger: Logger; concurrency: number; queue?: JobQueue; runsJobs?: boolean }) {
    this.#store = opts.store;
    this.#handlers = opts.handlers;
    this.#log = opts.logger;
    this.#concurrency = opts.concurrency;
    this.#events.setMaxListeners(0);
    this.#shared = opts.queue;
    this.#runsJobs = opts.runsJobs ?? true;
    this.#history = new JobEventHistory<JobEvent>({ since: opts.queue?.since ?? 0 });
    opts.queue?.onEvent((p) => this.#events.emit(`job:${p.job}`, this.#history.record(p.job, p.event, p.final, p.id)));
    opts.queue?.onCancel((id) => this.#running.get(id)?.abort.abort());
  }

  /**
   * Marks interrupted jobs failed and re-queues the queued ones. Call once at start. With a shared
   * queue: sends the queued jobs again (a send lost to a crash; repeats are no-ops) and, when this
   * process runs jobs, starts taking them; jobs running elsewhere are left to their workers.
   */
  async recover(): Promise<{ interrupted: string[]; requeued: string[] }> {
    if (this.#shared) {
      const queued = (await this.#store.listJobs({ status: 'queued', limit: 10_000, offset: 0 })).items.reverse();
      for (const job of queued) await this.#shared.send(job.id);
      if (this.#runsJobs) await this.#shared.work(this.#concurrency, (id, attempt, signal) => this.#runClaimed(id, attempt, signal));
      return { interrupted: [], requeued: queued.map((j) => j.id) };
    }
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
    if (this.#shared) {
      // the row is committed: a send lost here is sent again by the next process that starts (recover)
      this.#shared.send(jobId).catch((e: Error) => this.#log.error('job not handed to the queue; it is sent again at the next start', { job: jobId, error: e.message }));
      return;
    }
    this.#queue.push(jobId);
    this.#pump();
  }

  /**
   * A job the shared queue handed to this process. Resolves when the job is settled (or was already);
   * throws when it must go to another attempt (this process is shutting down, or lost the job).
   */
  async #runClaimed(id: string, attempt: number, lost: AbortSignal): Promise<void> {
    if (this.#stopping) throw new Error('this worker is stopping');
    const abort = new AbortController();
    const onLost = (): void => abort.abort('lost');
    lost.addEventListener('abort', onLost, { once: true });
    const entry = { abort, done: Promise.resolve<RunEnd>('settled'), lastSaved: 0 };
    this.#running.set(id, entry);
    const lease = `${os.hostname()}:${process.pid}:${attempt}:${crypto.randomBytes(4).toString('hex')}`;
    try {
      // The queue's last attempt: the job stopped its workers every time before; settle it instead of a last crash.
      if (attempt >= this.#shared!.lastAttempt) entry.done = this.#giveUp(id, attempt, lease);
      else entry.done = this.#execute(id, abort, lease);
      const end = await entry.done;
      if (end === 'again') throw new Error(`job ${id} left for another attempt`);
    } finally {
      lost.removeEventListener('abort', onLost);
      this.#running.delete(id);
    }
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
    if (!this.#shared) {
      await this.#finish(job, { status: 'cancelled', error: `cancelled by ${actor.sub}` });
      return true;
    }
    // Shared queue: settled here, lease taken away, unless it finished meanwhile. A worker running it (or
    // about to take it over from a dead one) then finds it cancelled, or is refused when it settles it;
    // the notice only spares its CPU.
    const settled = await this.#finish(job, { status: 'cancelled', error: `cancelled by ${actor.sub}`, lease: null }, undefined, (w) => w.expectJobActive(job.id));
    await this.#shared.requestCancel(job.id);
    return settled;
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
      const entry = { abort, done: Promise.resolve<RunEnd>('settled'), lastSaved: 0 };
      this.#running.set(id, entry);
      entry.done = this.#execute(id, abort).finally(() => {
        this.#running.delete(id);
        this.#pump();
      });
    }
  }

  /** Settles a job the shared queue gives up on (its last attempt) as failed, under this attempt's lease. */
  async #giveUp(id: string, attempt: number, lease: string): Promise<RunEnd> {
    const job = await this.#store.getJob(id);
    if (!job || isTerminal(job.status)) return 'settled';
    try {
      await this.#store.write((w) => {
        w.expectJobActive(id);
        w.updateJob(id, { lease });
      });
    } catch (e) {
      if (e instanceof LeaseLost) return 'settled';
      throw e;
    }
    const error = `its worker stopped ${attempt} times while running it (killed, out of memory, or cut off); not tried again — submit it again`;
    this.#log.warn('job given up by the queue', { job: id, attempts: attempt });
    await this.#finish(job, { status: 'failed', error }, undefined, (w) => w.expectJobLease(id, lease));
    return 'settled';
  }

  /** Runs one job. `lease`: the shared queue's attempt, which may take over a job left `running` by a dead one. */
  async #execute(id: string, abort: AbortController, lease?: string): Promise<RunEnd> {
    const job = await this.#store.getJob(id);
    if (!job || !(job.status === 'queued' || (lease && job.status === 'running'))) return 'settled';
    const handler = this.#handlers[job.kind];
    const held = lease ? (w: StoreWriter): void => w.expectJobLease(id, lease) : undefined;
    if (!handler) {
      await this.#finish(job, { status: 'failed', error: `no handler for job kind '${job.kind}'` }, undefined, held);
      return 'settled';
    }
    const startedAt = job.startedAt && job.status === 'running' ? job.startedAt : new Date().toISOString();
    const takeover = job.status === 'running';
    try {
      await this.#store.write((w) => {
        // shared queue: a job cancelled since it was read stays cancelled
        if (lease) w.expectJobActive(id);
        w.updateJob(id, { status: 'running', startedAt, ...(lease ? { lease } : {}) });
        if (takeover) w.appendAudit({ actor: 'system', role: 'system', action: 'job.resume', target: id, details: { kind: job.kind, reason: 'its worker stopped heartbeating' } });
      });
    } catch (e) {
      if (e instanceof LeaseLost) return 'settled';
      throw e;
    }
    if (takeover) this.#log.info('job taken over from a worker that stopped', { job: id });
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
      if (await this.#finish(job, { status: 'succeeded', result, ...(latest ? { progress: { ...latest } } : {}) }, commit, held)) log.info('job succeeded');
      return 'settled';
    } catch (e) {
      const cancelled = e instanceof TaskCancelled || abort.signal.aborted;
      const shutdown = abort.signal.reason === 'shutdown';
      // shared queue: the job stays `running` under this lease; the next attempt takes it over
      if (lease && (shutdown || abort.signal.reason === 'lost')) return 'again';
      if (shutdown && this.#resumable(job)) {
        await this.#requeue(job, 'the service shut down while it ran');
        return 'settled';
      }
      const status = cancelled && !shutdown ? 'cancelled' : 'failed';
      const error = shutdown ? 'interrupted: the service shut down while the job was running; submit it again' : cancelled ? 'cancelled' : (e as Error).message;
      if (status === 'failed' && !shutdown) log.warn('job failed', { error: (e as Error).message });
      else log.info(`job ${status}`);
      await this.#finish(job, { status, error, ...(latest ? { progress: { ...latest } } : {}) }, undefined, held);
      return 'settled';
    }
  }

  /**
   * Settles the job with its records and audit entry in one unit. `guard` states what must still hold
   * (this attempt's lease, the job not final yet); when it does not, the unit is dropped: returns false.
   */
  async #finish(job: JobRecord, patch: JobPatch & { status: JobRecord['status'] }, commit?: (w: StoreWriter) => void, guard?: (w: StoreWriter) => void): Promise<boolean> {
    const finishedAt = new Date().toISOString();
    if (patch.status !== 'succeeded') {
      try {
        await this.#handlers[job.kind]?.onFailure?.(job, patch.error ?? patch.status);
      } catch (e) {
        this.#log.error('job failure hook failed', { job: job.id, error: (e as Error).message });
      }
    }
    try {
      await this.#store.write((w) => {
        guard?.(w);
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
    } catch (e) {
      if (!(e instanceof LeaseLost)) throw e;
      this.#log.warn('job result dropped', { job: job.id, reason: e.message });
      return false;
    }
    this.#emit({ type: 'status', job: job.id, status: patch.status, error: patch.error ?? null, result: patch.result ?? null });
    try {
      this.#handlers[job.kind]?.settled?.(job);
    } catch (e) {
      this.#log.error('job settle hook failed', { job: job.id, error: (e as Error).message });
    }
    return true;
  }

  #emit(e: JobEvent): void {
    const final = e.type === 'status' && isTerminal(e.status);
    if (!this.#shared) {
      this.#events.emit(`job:${e.job}`, this.#history.record(e.job, e, final));
      return;
    }
    // through the database to every process, this one included (its listener records it)
    const id = nextEventId(Math.max(this.#history.lastId(e.job), this.#published.get(e.job) ?? 0));
    this.#published.set(e.job, id);
    if (final) setTimeout(() => this.#published.delete(e.job), 60_000).unref();
    this.#shared.publish({ job: e.job, id, final, event: e }).catch((err: Error) => this.#log.warn('job event not published', { job: e.job, error: err.message }));
  }
}
