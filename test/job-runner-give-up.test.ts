/**
 * A job that keeps stopping its workers (killed, out of memory) reaches the shared queue's last attempt;
 * whoever receives it then settles it as failed instead of running it again, so it is never left
 * `running` with no worker. The queue here is a stand-in that hands the runner one attempt number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { JobRunner } from '../src/jobs/runner.js';
import type { JobQueue } from '../src/jobs/queue.js';
import { createLogger } from '../src/service/logger.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { AuditHeadSigner } from '../src/store/types.js';
import { tempDir } from './http-helpers.js';

const signHead: AuditHeadSigner = (h) => ({ kid: 'test-kid', jws: `signed:${h.seq}:${h.headHash}` });

async function runAt(attempt: number): Promise<{ status: string; error: string | null; ran: boolean }> {
  const store = new SqliteStore(path.join(tempDir('give-up'), 'weightmark.db'), { signHead });
  await store.write((w) => w.insertJob({ id: 'j1', kind: 'train', status: 'running', input: {}, progress: null, result: null, error: null, createdBy: 'issuer-1', createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:01.000Z', finishedAt: null }));
  let ran = false;
  let claimed: Promise<void> | undefined;
  const queue: JobQueue = {
    since: 0,
    lastAttempt: 5,
    send: async () => {},
    publish: async () => {},
    onEvent: () => {},
    requestCancel: async () => {},
    onCancel: () => {},
    work: async (_c, run) => {
      claimed = run('j1', attempt, new AbortController().signal);
    },
    close: async () => {},
  };
  const runner = new JobRunner({
    store, logger: createLogger('error', () => {}), concurrency: 1, queue,
    handlers: { train: { run: async () => ((ran = true), { result: { ok: true } }) } },
  });
  await runner.recover();
  await claimed;
  const job = (await store.getJob('j1'))!;
  await store.close();
  return { status: job.status, error: job.error, ran };
}

test('when the queue hands over its last attempt of a job, then the job is failed with the reason and not run again', async () => {
  const r = await runAt(5);
  assert.equal(r.ran, false);
  assert.equal(r.status, 'failed');
  assert.match(r.error ?? '', /its worker stopped 5 times while running it .* submit it again/);
});

test('when an earlier attempt takes the job over, then it runs to the end', async () => {
  const r = await runAt(2);
  assert.equal(r.ran, true);
  assert.equal(r.status, 'succeeded');
});
