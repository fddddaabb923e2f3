/**
 * Two PgStore instances on one database (two pools: two API replicas) writing at once: the audit chain
 * must not fork or lose an entry, every signed head must be a head the chain really had, and the daily
 * quota must hold across both.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PgStore } from '../src/store/postgres.js';
import { ChainVerifier } from '../src/store/auditChain.js';
import type { AuditEvent, AuditHeadSigner } from '../src/store/types.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-helpers.js';

const skip = pgSkipReason();
const signHead: AuditHeadSigner = (h) => ({ kid: 'test-kid', jws: `signed:${h.seq}:${h.headHash}` });
const PER_REPLICA = 200;
/** Units each replica has in flight at once (more than its pool, so they queue and interleave). */
const IN_FLIGHT = 8;

let cluster: PgCluster | undefined;
let a: PgStore;
let b: PgStore;
before(async () => {
  if (skip) return;
  cluster = await startPgCluster();
  const url = await cluster.createDatabase('replicas');
  // both start on an empty database at once: the migration lock lets one migrate, the other wait
  [a, b] = await Promise.all([PgStore.open(url, { signHead, maxConnections: 4 }), PgStore.open(url, { signHead, maxConnections: 4 })]);
});
after(async () => {
  await a?.close();
  await b?.close();
  cluster?.stop();
});

/** Runs `count` tasks, `width` at a time. */
async function pooled(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

test('when two replicas open an empty database at once, then both see the schema migrated once', { skip }, async () => {
  assert.equal(a.schemaVersion(), b.schemaVersion());
  assert.ok(a.schemaVersion() > 0);
});

test(`when two replicas append ${PER_REPLICA} audited units each at once, then the chain verifies with every entry and no fork`, { skip }, async () => {
  const started = Date.now();
  const replica = (name: string, s: PgStore) => pooled(PER_REPLICA, IN_FLIGHT, (i) => s.write((w) => {
    // a unit with a row and its audit entry, as the service writes them
    w.insertJob({ id: `${name}-${i}`, kind: 'train', status: 'queued', input: {}, progress: null, result: null, error: null, createdBy: name, createdAt: new Date().toISOString(), startedAt: null, finishedAt: null });
    w.appendAudit({ actor: name, role: 'issuer', action: 'job.create', target: `${name}-${i}`, details: { i } });
  }));
  await Promise.all([replica('replica-a', a), replica('replica-b', b)]);
  const ms = Date.now() - started;

  const v = new ChainVerifier();
  const events: AuditEvent[] = [];
  await a.eachAudit((e) => (v.push(e), events.push(e)));
  const check = v.result();
  assert.deepEqual({ ok: check.ok, entries: check.entries, firstBroken: check.firstBroken }, { ok: true, entries: 2 * PER_REPLICA, firstBroken: undefined });
  for (const name of ['replica-a', 'replica-b']) {
    const targets = new Set(events.filter((e) => e.actor === name).map((e) => e.target));
    assert.equal(targets.size, PER_REPLICA, `every unit of ${name} has its entry`);
  }
  // the test means something only if the replicas' appends really interleaved
  const switches = events.filter((e, i) => i > 0 && e.actor !== events[i - 1]!.actor).length;
  assert.ok(switches >= 20, `the replicas took turns only ${switches} times: the appends did not interleave`);

  // one signed head per unit, each naming the hash the chain has at its seq
  const heads = (await a.pool.query('SELECT seq, head_hash FROM audit_checkpoints ORDER BY seq')).rows as { seq: string; head_hash: string }[];
  assert.equal(heads.length, 2 * PER_REPLICA);
  for (const h of heads) assert.equal(h.head_hash, events[Number(h.seq) - 1]!.hash, `the head signed at ${h.seq} is on the chain`);
  assert.equal((await b.latestAuditCheckpoint())?.seq, 2 * PER_REPLICA, 'either replica reads the newest head');
  console.log(`# ${2 * PER_REPLICA} audited units from 2 replicas in ${ms} ms (${Math.round((2 * PER_REPLICA * 1000) / ms)} units/s), ${switches} replica switches`);
});

test('when two replicas take one subject\'s daily quota at once, then exactly the limit is granted across both', { skip }, async () => {
  const limit = 50;
  const granted: number[] = [];
  let refused = 0;
  const take = (s: PgStore) => pooled(40, 4, async () => {
    const n = await s.takeQuota('verifier-1', '2026-01-01', limit);
    if (n === undefined) refused++;
    else granted.push(n);
  });
  await Promise.all([take(a), take(b)]);
  assert.deepEqual(granted.sort((x, y) => x - y), Array.from({ length: limit }, (_, i) => i + 1), 'each count 1..limit handed out once');
  assert.equal(refused, 80 - limit);
});
