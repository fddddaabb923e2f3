/**
 * The job queue in PostgreSQL: pg-boss holds which worker has which job (SKIP LOCKED claims, a
 * heartbeat every few seconds, retries when a worker dies), and LISTEN/NOTIFY carries job events and
 * cancellations to every process. The `jobs` table stays the record clients see; a pg-boss job only
 * carries its id. Why pg-boss and not graphile-worker: docs/deploy.md ("The job queue").
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Logger } from '../service/logger.js';
import type { JobQueue, PublishedEvent } from './queue.js';

const QUEUE = 'weightmark-jobs';
const EVENTS = 'weightmark_job_events';
const CANCELS = 'weightmark_job_cancel';
/**
 * A worker that stops heartbeating for this long (killed, frozen, cut off) loses its job to the next
 * attempt; pg-boss's floor is 10 s. Found within about HEARTBEAT_SEC + SUPERVISE_SEC.
 */
const HEARTBEAT_SEC = 10;
/** How often each process looks for stale jobs (one small query; the default of 60 s would leave a dead worker's job waiting a minute). */
const SUPERVISE_SEC = 3;
/** Attempts after the first: a job that kills its worker this often is failed by pg-boss, not retried forever. */
const RETRY_LIMIT = 5;

/** pg-boss job ids are UUIDs: one derived from ours makes a repeated send the same job. */
function queueIdOf(jobId: string): string {
  const h = crypto.createHash('sha256').update(`weightmark-job:${jobId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Status events travel without result or error (NOTIFY payloads stop at 8000 bytes): streams read the record. */
function slim(e: PublishedEvent): PublishedEvent {
  return e.event.type === 'status' ? { ...e, event: { type: 'status', job: e.event.job, status: e.event.status } } : e;
}

export class PgJobQueue implements JobQueue {
  readonly since = Date.now() * 100;
  readonly lastAttempt = RETRY_LIMIT;
  readonly #eventFns: ((e: PublishedEvent) => void)[] = [];
  readonly #cancelFns: ((jobId: string) => void)[] = [];
  #listener: pg.Client | undefined;
  #closed = false;

  private constructor(private readonly url: string, private readonly boss: PgBoss, private readonly pool: pg.Pool, private readonly log: Logger) {}

  /** @throws the connection error; never with the URL in it (it may carry a password). */
  static async open(url: string, log: Logger): Promise<PgJobQueue> {
    const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 4, superviseIntervalSeconds: SUPERVISE_SEC, monitorIntervalSeconds: SUPERVISE_SEC, schedule: false, application_name: 'weightmark-queue' });
    boss.on('error', (e: Error) => log.error('job queue error', { error: e.message }));
    await boss.start();
    if (!(await boss.getQueue(QUEUE))) {
      await boss.createQueue(QUEUE, { heartbeatSeconds: HEARTBEAT_SEC, retryLimit: RETRY_LIMIT, retryDelay: 1, expireInSeconds: 24 * 3600 }).catch(async (e: Error) => {
        // another process created it between the check and here
        if (!(await boss.getQueue(QUEUE))) throw e;
      });
    }
    const pool = new pg.Pool({ connectionString: url, max: 2, application_name: 'weightmark-notify' });
    pool.on('error', () => undefined);
    const q = new PgJobQueue(url, boss, pool, log);
    await q.#listen();
    return q;
  }

  /** One connection LISTENs; when it drops, another is opened (events in the gap are lost: streams fall back to the record). */
  async #listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, application_name: 'weightmark-listen' });
    c.on('notification', (n) => {
      if (!n.payload) return;
      try {
        if (n.channel === EVENTS) {
          const e = JSON.parse(n.payload) as PublishedEvent;
          for (const fn of this.#eventFns) fn(e);
        } else if (n.channel === CANCELS) {
          for (const fn of this.#cancelFns) fn(n.payload);
        }
      } catch (err) {
        this.log.warn('job event not delivered', { channel: n.channel, error: (err as Error).message });
      }
    });
    c.on('error', (err) => {
      this.log.warn('job event listener lost its connection; reconnecting', { error: err.message });
      void c.end().catch(() => undefined);
      if (!this.#closed) setTimeout(() => void this.#listen().catch((e: Error) => this.log.error('job event listener could not reconnect', { error: e.message })), 1000).unref();
    });
    await c.connect();
    await c.query(`LISTEN ${EVENTS}`);
    await c.query(`LISTEN ${CANCELS}`);
    this.#listener = c;
  }

  async send(jobId: string): Promise<void> {
    await this.boss.send(QUEUE, { jobId }, { id: queueIdOf(jobId) });
  }

  async publish(e: PublishedEvent): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [EVENTS, JSON.stringify(slim(e))]);
  }

  onEvent(fn: (e: PublishedEvent) => void): void {
    this.#eventFns.push(fn);
  }

  async requestCancel(jobId: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [CANCELS, jobId]);
  }

  onCancel(fn: (jobId: string) => void): void {
    this.#cancelFns.push(fn);
  }

  async work(concurrency: number, run: (jobId: string, attempt: number, signal: AbortSignal) => Promise<void>): Promise<void> {
    await this.boss.work<{ jobId: string }>(QUEUE, { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
      await run(job!.data.jobId, job!.retryCount, job!.signal);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    // not graceful: the runner has already stopped its jobs, and what it left is for the next attempt
    await this.boss.stop({ graceful: false, close: true, timeout: 5000 }).catch(() => undefined);
    await this.#listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
