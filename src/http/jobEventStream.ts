/**
 * GET /v1/jobs/{id}/events as server-sent events that can be resumed. Every event carries an `id:`
 * (the job's event number, src/jobs/eventHistory.ts). A fresh stream opens with a `status` event — the
 * job record — then `progress` events, and a final `status` when the job ends, after which it closes.
 *
 * A client that reconnects with `Last-Event-ID` (EventSource sends it by itself; a client that had to
 * open a new EventSource, with a new ticket, passes `lastEventId` in the query) gets the events it
 * missed, or, when they are no longer held, the current record first. A reconnect to a job that had
 * already ended when the client last heard from it is 204, which tells EventSource to stop retrying.
 */
import type { Request, Response } from 'express';
import type { ServiceContext } from '../service/context.js';
import { AppError } from '../service/errors.js';
import { isTerminal, type JobEvent } from '../jobs/runner.js';
import type { Numbered } from '../jobs/eventHistory.js';
import type { JobRecord } from '../store/types.js';

/** How soon EventSource reconnects after a broken connection. */
const RETRY_MS = 2_000;
const HEARTBEAT_MS = 15_000;

/** The id the client last saw: the Last-Event-ID header, else the `lastEventId` query parameter (validated by the contract). */
export function lastSeenEventId(req: Request, query: Record<string, unknown>): number | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string' && header.trim() !== '') {
    if (!/^\d{1,15}$/.test(header.trim())) throw new AppError('WM_ERR_VALIDATION', `Last-Event-ID must be an event id this stream sent (a non-negative integer); got '${header.slice(0, 32)}'`);
    return Number(header.trim());
  }
  return query.lastEventId === undefined ? undefined : Number(query.lastEventId);
}

const isFinal = (e: JobEvent): boolean => e.type === 'status' && isTerminal(e.status);

export function streamJobEvents(ctx: ServiceContext, job: JobRecord, lastEventId: number | undefined, res: Response): void {
  // From here to the subscription nothing awaits, so no event can fall between the history read and it.
  const missed = lastEventId === undefined ? undefined : ctx.jobs.eventsAfter(job.id, lastEventId);
  if (missed && missed.length === 0 && isTerminal(job.status)) {
    res.status(204).end();
    return;
  }
  const snapshotId = ctx.jobs.lastEventId(job.id);
  let ended = false;
  let chain = Promise.resolve();
  const write = (id: number, event: string, data: unknown): void => {
    if (!ended) res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const end = (): void => {
    if (ended) return;
    ended = true;
    res.end();
  };
  const current = async (): Promise<JobRecord> => (await ctx.store.getJob(job.id)) ?? job;
  // Sent one after the other, in id order, though a status needs a store read first.
  const enqueue = (step: () => Promise<void> | void): void => {
    chain = chain.then(step).catch((e: unknown) => {
      ctx.logger.warn('job event stream failed', { job: job.id, error: e instanceof Error ? e.message : String(e) });
      end();
    });
  };
  const deliver = (n: Numbered<JobEvent>): void => {
    enqueue(async () => {
      if (ended) return;
      if (n.event.type === 'progress') return write(n.id, 'progress', n.event.progress);
      const record = await current();
      // A replayed "running" whose job has since ended is skipped: the final status follows with the record.
      if (!isFinal(n.event) && isTerminal(record.status)) return;
      write(n.id, 'status', record);
      if (isFinal(n.event)) end();
    });
  };
  const unsubscribe = ctx.jobs.subscribe(job.id, deliver);

  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  res.write(`retry: ${RETRY_MS}\n\n`);
  if (missed) {
    for (const n of missed) deliver(n);
  } else {
    enqueue(async () => {
      const record = await current();
      write(snapshotId, 'status', record);
      if (isTerminal(record.status)) end();
    });
  }
  const heartbeat = setInterval(() => ended || res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  res.on('close', () => {
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
  });
}
