import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobEventHistory } from '../src/jobs/eventHistory.js';

const ids = (xs: { id: number }[] | undefined): number[] | undefined => xs?.map((x) => x.id);

test('when events are recorded, then each job numbers its own from 1 and replays what came after an id', () => {
  const h = new JobEventHistory<string>();
  for (const e of ['a', 'b', 'c']) h.record('job_1', e);
  h.record('job_2', 'x');
  assert.equal(h.lastId('job_1'), 3);
  assert.equal(h.lastId('job_2'), 1);
  assert.deepEqual(h.after('job_1', 1), [{ id: 2, event: 'b' }, { id: 3, event: 'c' }]);
  assert.deepEqual(h.after('job_1', 0), [{ id: 1, event: 'a' }, { id: 2, event: 'b' }, { id: 3, event: 'c' }]);
  assert.deepEqual(h.after('job_1', 3), []);
});

test('when the id asked for is no longer held or was never sent, then there is no replay (the caller sends the current state)', () => {
  const h = new JobEventHistory<number>({ perJob: 3 });
  for (let i = 1; i <= 5; i++) h.record('job_1', i);
  assert.deepEqual(ids(h.after('job_1', 2)), [3, 4, 5], 'the oldest held is 3: after 2 is complete');
  assert.equal(h.after('job_1', 1), undefined, 'event 2 was dropped: a replay after 1 would have a hole');
  assert.equal(h.after('job_1', 6), undefined, 'an id from the future (another process, before a restart)');
  assert.equal(h.after('job_unknown', 4), undefined);
  assert.deepEqual(h.after('job_unknown', 0), [], 'nothing happened and nothing was seen');
});

test('when a job has finished, then its events are kept for the retention time and then dropped', () => {
  let now = 0;
  const h = new JobEventHistory<string>({ retainMs: 60_000, now: () => now });
  h.record('job_done', 'running');
  h.record('job_done', 'succeeded', true);
  h.record('job_live', 'running');
  now = 59_000;
  h.record('job_live', 'progress');
  assert.deepEqual(ids(h.after('job_done', 1)), [2]);
  now = 60_001;
  h.record('job_live', 'progress');
  assert.equal(h.lastId('job_done'), 0);
  assert.equal(h.after('job_done', 1), undefined);
  assert.deepEqual(ids(h.after('job_live', 0)), [1, 2, 3], 'a running job keeps its events');
});
