import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventTickets, TicketLimitError } from '../src/http/eventTickets.js';
import type { Principal } from '../src/crypto/signing.js';

const auditor: Principal = { sub: 'ann', role: 'auditor', jti: 'j1' };
const issuer: Principal = { sub: 'ivan', role: 'issuer', jti: 'j2' };

test('when a ticket is redeemed, then it yields the subject and role it was issued to, and only once', () => {
  const tickets = new EventTickets();
  const a = tickets.issue(auditor);
  const b = tickets.issue(issuer);
  assert.match(a.ticket, /^wmt_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.ticket, b.ticket);
  assert.deepEqual(tickets.redeem(b.ticket), issuer);
  assert.deepEqual(tickets.redeem(a.ticket), auditor);
  assert.equal(tickets.redeem(a.ticket), undefined, 'a second use must fail');
  assert.equal(tickets.size, 0);
});

test('when a ticket is older than its lifetime, then it is refused, and the boundary is exclusive', () => {
  let now = 1_000_000;
  const tickets = new EventTickets({ ttlMs: 60_000, now: () => now });
  const early = tickets.issue(auditor);
  const late = tickets.issue(auditor);
  assert.equal(early.expiresAt, new Date(1_060_000).toISOString());
  now += 59_999;
  assert.deepEqual(tickets.redeem(early.ticket), auditor);
  now += 1;
  assert.equal(tickets.redeem(late.ticket), undefined);
});

test('when the token expires before the ticket would, then the ticket expires with the token', () => {
  let now = 1_000_000;
  const tickets = new EventTickets({ ttlMs: 60_000, now: () => now });
  const t = tickets.issue({ ...auditor, exp: 1_010 }); // the token ends 10 s from now
  assert.equal(t.expiresAt, new Date(1_010_000).toISOString());
  now += 10_000;
  assert.equal(tickets.redeem(t.ticket), undefined);
});

test('when a string is not a ticket this store issued, then nothing is redeemed', () => {
  const tickets = new EventTickets();
  const t = tickets.issue(auditor);
  assert.equal(tickets.redeem(''), undefined);
  assert.equal(tickets.redeem(t.ticket.slice(0, -1) + (t.ticket.endsWith('A') ? 'B' : 'A')), undefined);
  assert.equal(tickets.redeem(t.ticket.slice(4)), undefined, 'the bare random part is not the ticket');
  assert.equal(new EventTickets().redeem(t.ticket), undefined, 'another store (another process) does not know it');
  assert.deepEqual(tickets.redeem(t.ticket), auditor);
});

test('when a subject holds its quota of unused tickets, then it gets no more until some expire', () => {
  let now = 0;
  const tickets = new EventTickets({ perSubject: 2, ttlMs: 1_000, now: () => now });
  tickets.issue(auditor);
  tickets.issue(auditor);
  assert.throws(() => tickets.issue(auditor), TicketLimitError);
  assert.ok(tickets.issue(issuer).ticket, 'another subject is not affected');
  now += 1_000;
  assert.ok(tickets.issue(auditor).ticket, 'expired tickets no longer count');
  assert.equal(tickets.size, 1, 'the three expired tickets were swept: only the fresh one is held');
});
