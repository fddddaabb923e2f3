import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobEventHistory, nextEventId } from '../src/jobs/eventHistory.js';

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

test('when events come numbered by the process that published them (shared queue), then their ids are kept, repeats ignored, and a resume from before this process listened gets no replay', () => {
  const since = nextEventId(0, 1_000); // this process listens from t = 1 s
  const h = new JobEventHistory<string>({ since });
  const x = nextEventId(0, 2_000);
  const y = nextEventId(x, 2_000);
  assert.ok(y > x, 'two events in one millisecond still count up');
  h.record('job_1', 'x', false, x);
  h.record('job_1', 'y', false, y);
  h.record('job_1', 'y again', false, y);
  assert.equal(h.lastId('job_1'), y);
  assert.deepEqual(h.after('job_1', x), [{ id: y, event: 'y' }]);
  assert.deepEqual(ids(h.after('job_1', since)), [x, y], 'everything since it listened is held');
  assert.equal(h.after('job_1', since - 1), undefined, 'an id from before it listened: it may have missed events');
  assert.equal(h.after('job_unheard', 0), undefined, 'a job it has heard nothing of, from the start: send the current state');
  assert.ok(String(nextEventId(0, Date.UTC(2286, 0, 1))).length <= 15, 'ids fit the 15 digits Last-Event-ID accepts');
});
