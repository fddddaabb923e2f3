/** The one way a use case puts long work on the queue: a queued job record, audited, then enqueued. */
import type { JobKind, JobRecord } from '../store/types.js';
import { newId, type Actor, type ServiceContext } from './context.js';

export function newJob(actor: Actor, kind: JobKind, input: Record<string, unknown>, createdAt = new Date().toISOString()): JobRecord {
  return {
    id: newId('job'), kind, status: 'queued', input, progress: null, result: null, error: null,
    createdBy: actor.sub, createdAt, startedAt: null, finishedAt: null,
  };
}

/** Inserts the job and its 'job.submit' audit entry in one unit of work, then wakes the runner. */
export async function submitJob(ctx: ServiceContext, actor: Actor, kind: JobKind, input: Record<string, unknown>): Promise<JobRecord> {
  const job = newJob(actor, kind, input);
  await ctx.store.write((w) => {
    w.insertJob(job);
    w.appendAudit({ actor: actor.sub, role: actor.role, action: 'job.submit', target: job.id, details: { kind, input: job.input } });
  });
  ctx.jobs.enqueue(job.id);
  return job;
}
