/**
 * Job event streams a browser can open (a one-time ticket instead of the Authorization header) and
 * resume (every event has an id; Last-Event-ID replays what came after it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestServer, assertContract, assertProblem, StandInExecutor, type TestServer, jobOutcome } from './http-helpers.js';
import { parseSse, readSse, type SseEvent } from './sse-helpers.js';

let s: TestServer;
before(async () => {
  s = await startTestServer({ executor: new StandInExecutor(12, 40) });
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

async function ticket(role: 'admin' | 'auditor' | 'issuer'): Promise<string> {
  const res = await s.http.post('/v1/events/tickets').set(as(role));
  assert.equal(res.status, 201);
  assertContract(res, 'createEventTicket');
  return res.body.ticket as string;
}

async function train(): Promise<string> {
  const res = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, strategy: 'naive' });
  assert.equal(res.status, 202);
  return res.body.id as string;
}

/** Reads a stream until it has `n` events, then drops the connection (a client going away mid-job). */
function readFirst(url: string, headers: Record<string, string>, n: number): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        const events = parseSse(body.slice(0, body.lastIndexOf('\n\n') + 2));
        if (events.length >= n) {
          req.destroy();
          resolve(events.slice(0, n));
        }
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

test('when an auditor opens a job stream with a ticket and no Authorization header, then the events arrive, each with an id', async () => {
  const id = await train();
  const r = await readSse(`${s.url}/v1/jobs/${id}/events?ticket=${await ticket('auditor')}`);
  assert.equal(r.status, 200);
  assert.equal(r.contentType, 'text/event-stream');
  assert.equal(r.events[0]!.event, 'status');
  assert.equal(r.events.at(-1)!.data.status, 'succeeded');
  assert.ok(r.events.some((e) => e.event === 'progress'));
  const numbers = r.events.map((e) => Number(e.id));
  assert.ok(numbers.every((n, i) => Number.isInteger(n) && (i === 0 || n > numbers[i - 1]!)), `ids must increase: ${numbers}`);
});

test('when a ticket is used a second time, then the stream is refused with 401', async () => {
  const id = await train();
  const t = await ticket('issuer');
  assert.equal((await readSse(`${s.url}/v1/jobs/${id}/events?ticket=${t}`)).status, 200);
  const again = await s.http.get(`/v1/jobs/${id}/events`).query({ ticket: t });
  assertProblem(again, 401, 'WM_ERR_AUTH_INVALID', 'streamJobEvents');
  assert.match(again.body.detail, /already used or expired/);
  assertProblem(await s.http.get(`/v1/jobs/${id}/events`).query({ ticket: 'wmt_' + 'A'.repeat(43) }), 401, 'WM_ERR_AUTH_INVALID', 'streamJobEvents');
});

test('when a ticket is offered to a route that does not take tickets, then it authenticates nothing', async () => {
  const t = await ticket('admin');
  assertProblem(await s.http.get('/v1/jobs').query({ ticket: t }), 401, 'WM_ERR_AUTH_MISSING', 'listJobs');
  assertProblem(await s.http.get('/v1/audit/events').query({ ticket: t }), 401, 'WM_ERR_AUTH_MISSING', 'listAuditEvents');
});

test('when a verifier asks for a ticket, then 403: it may not follow jobs, so it gets nothing to follow them with', async () => {
  assertProblem(await s.http.post('/v1/events/tickets').set(as('verifier')), 403, 'WM_ERR_FORBIDDEN', 'createEventTicket');
  assertProblem(await s.http.post('/v1/events/tickets'), 401, 'WM_ERR_AUTH_MISSING', 'createEventTicket');
});

test('when tickets are issued and used, then no log line holds one', async () => {
  const id = await train();
  const t = await ticket('auditor');
  await readSse(`${s.url}/v1/jobs/${id}/events?ticket=${t}`);
  await s.http.get(`/v1/jobs/${id}/events`).query({ ticket: t });
  assert.ok(s.logs.some((l) => l.includes('/v1/events/tickets')), 'the ticket requests were logged');
  assert.ok(!s.logs.some((l) => l.includes(t) || l.includes(t.slice(4))), 'a log line holds the ticket');
});

test('when a client drops the stream mid-job and reconnects with Last-Event-ID, then it gets exactly the events it missed', async () => {
  const id = await train();
  const first = await readFirst(`${s.url}/v1/jobs/${id}/events`, as('auditor'), 3);
  await new Promise((r) => setTimeout(r, 150)); // events go by while nobody listens
  const rest = await readSse(`${s.url}/v1/jobs/${id}/events`, { ...as('auditor'), 'Last-Event-ID': first.at(-1)!.id! });
  assert.equal(rest.status, 200);
  const seen = [...first, ...rest.events].map((e) => Number(e.id));
  assert.ok(rest.events.length > 0);
  assert.equal(Number(rest.events[0]!.id), Number(first.at(-1)!.id) + 1, 'the replay starts right after the last id seen');
  assert.deepEqual(seen.slice(1), seen.slice(1).map((_, i) => seen[1]! + i), `no event missed or repeated: ${seen}`);
  assert.equal(rest.events.at(-1)!.data.status, 'succeeded');
});

test('when a new EventSource resumes with a fresh ticket and lastEventId, then the replay is the same as with the header', async () => {
  const id = await train();
  const first = await readFirst(`${s.url}/v1/jobs/${id}/events?ticket=${await ticket('auditor')}`, {}, 2);
  const rest = await readSse(`${s.url}/v1/jobs/${id}/events?ticket=${await ticket('auditor')}&lastEventId=${first.at(-1)!.id}`);
  assert.equal(Number(rest.events[0]!.id), Number(first.at(-1)!.id) + 1);
  assert.equal(rest.events.at(-1)!.data.status, 'succeeded');
});

test('when the id given is not one this process still holds, then the stream starts from the current record', async () => {
  const id = await train();
  await jobOutcome(s, id, 30000, 'auditor');
  const r = await readSse(`${s.url}/v1/jobs/${id}/events`, { ...as('auditor'), 'Last-Event-ID': '999999' });
  assert.equal(r.status, 200);
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0]!.event, 'status');
  assert.equal(r.events[0]!.data.status, 'succeeded');
  assert.equal(r.events[0]!.data.id, id);
});

test('when a client that saw the final event reconnects, then 204 tells it to stop', async () => {
  const id = await train();
  const all = await readSse(`${s.url}/v1/jobs/${id}/events`, as('auditor'));
  const res = await s.http.get(`/v1/jobs/${id}/events`).set({ ...as('auditor'), 'Last-Event-ID': all.events.at(-1)!.id! });
  assert.equal(res.status, 204);
  assertContract(res, 'streamJobEvents');
});

test('when Last-Event-ID or lastEventId is not an event id, then 400 naming it', async () => {
  const id = await train();
  assertProblem(await s.http.get(`/v1/jobs/${id}/events`).set({ ...as('auditor'), 'Last-Event-ID': 'abc' }), 400, 'WM_ERR_VALIDATION', 'streamJobEvents');
  const q = await s.http.get(`/v1/jobs/${id}/events`).set(as('auditor')).query({ lastEventId: '-1' });
  assertProblem(q, 400, 'WM_ERR_VALIDATION', 'streamJobEvents');
  assert.match(JSON.stringify(q.body.errors), /lastEventId/);
  await jobOutcome(s, id, 30000, 'auditor');
});
