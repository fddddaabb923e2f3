/**
 * Query strings are client input: every value the contract lets through must be one the store and
 * the use cases can handle, so odd values get a 400 problem naming them, never a 500.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, assertProblem, type TestServer } from './http-helpers.js';

let s: TestServer;
before(async () => {
  s = await startTestServer({ config: { rateLimitPerMin: 0 } });
});
after(async () => {
  await s.stop();
});
const admin = () => ({ Authorization: `Bearer ${s.tokens.admin}` });

const LIST_ROUTES = [
  { path: '/v1/models', op: 'listModels' },
  { path: '/v1/jobs', op: 'listJobs' },
  { path: '/v1/releases', op: 'listReleases' },
  { path: '/v1/verifications', op: 'listVerifications' },
  { path: '/v1/audit/events', op: 'listAuditEvents' },
];

test('when offset or limit is a 20-digit number on any list route, then 400 WM_ERR_VALIDATION naming the parameter and its maximum', async () => {
  for (const r of LIST_ROUTES) {
    for (const name of r.op === 'listAuditEvents' ? ['after', 'limit'] : ['offset', 'limit']) {
      const res = await s.http.get(`${r.path}?${name}=99999999999999999999`).set(admin());
      assertProblem(res, 400, 'WM_ERR_VALIDATION', r.op);
      const e = (res.body.errors as { path: string; message: string }[]).find((x) => x.path === `query/${name}`);
      assert.ok(e, `${r.path} ${name}: ${JSON.stringify(res.body)}`);
      assert.match(e.message, /must be <= \d+/);
    }
  }
  const ok = await s.http.get('/v1/models?offset=1000000000').set(admin());
  assert.equal(ok.status, 200, 'the contract maximum itself is accepted');
  assertContract(ok, 'listModels');
});

test('when since is a leap second, then 400 naming the value and the accepted form; other RFC 3339 forms are read, offsets included', async () => {
  for (const since of ['2026-12-31T23:59:60Z', '2026-12-31T18:59:60-05:00']) {
    const res = await s.http.get('/v1/audit/events').set(admin()).query({ since });
    assertProblem(res, 400, 'WM_ERR_VALIDATION', 'listAuditEvents');
    assert.ok(res.body.detail.includes(`'${since}'`), res.body.detail);
    assert.match(res.body.detail, /leap second/);
    assert.match(res.body.detail, /2026-01-31T12:00:00Z/, 'the detail shows the accepted form');
  }
  await s.http.post('/v1/tokens').set(admin()).send({ sub: 'x', role: 'verifier' });
  for (const since of ['2000-01-01T01:00:00+01:00', '2000-01-01t00:00:00z', '2000-01-01T01:00:00+01', '2000-01-01T01:00:00+0100', '2000-01-01 00:00:00.123456789Z']) {
    const res = await s.http.get('/v1/audit/events').set(admin()).query({ since });
    assert.equal(res.status, 200, `${since}: ${JSON.stringify(res.body)}`);
    assertContract(res, 'listAuditEvents');
    assert.ok(res.body.items.length >= 1, since);
  }
  const later = await s.http.get('/v1/audit/events').set(admin()).query({ since: '2999-01-01T00:00:00-01:00' });
  assert.deepEqual(later.body.items, []);
});

/** Values that have broken number parsers elsewhere: huge, tiny, non-decimal, non-finite. */
const NUMBERS = [
  '', ' ', '0', '-0', '-1', '1', '1.5', '1e3', '1e309', '-1e309', '1e-309', '0x10', '0b1', '0o7', '010', '+1', '00000000000000000000001',
  '9007199254740991', '9007199254740992', '9007199254740993', '18446744073709551616', '99999999999999999999', '-99999999999999999999',
  '1000000000', '1000000001', '2147483648', '4294967296', 'NaN', 'Infinity', '-Infinity', 'null', 'true', '[]', '{}',
];
/** Text that has broken string handling: bytes that are not UTF-8, quotes, injections, direction marks, length. */
const TEXT = [
  '', ' ', '%00', '%ff', '%', '%%', "'", '"', '\\', ';DROP TABLE audit_events;--', '%27%20OR%201%3D1', 'é', '%F0%9F%92%A9', '\u202e', 'a'.repeat(5000),
  'queued', 'QUEUED', 'mdl_AAAAAAAAAAAAAAAA', 'mdl_' + 'A'.repeat(41), 'f'.repeat(64), 'F'.repeat(64), 'null', '0', '-1', '99999999999999999999',
];
/** Date-times at the edges of what RFC 3339, ajv's date-time format and JavaScript Dates each accept. */
const DATES = [
  '2026-12-31T23:59:60Z', '2026-12-31T18:59:60-05:00', '2026-02-29T00:00:00Z', '2024-02-29T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59-23:59', '0000-01-01T00:00:00+23:59', '2026-01-01T00:00:00.1234567890123Z', '2026-01-01 00:00:00Z', '2026-01-01T24:00:00Z',
  '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z', '2026-01-01T00:00:00+0100', '2026-01-01T00:00:00+01', '2026-01-01T00:00:00-00',
  '2026-01-01T00:00:00+24:00', '2026-01-01T00:00:00+23:60', '+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '2026-01-01', '2026-01-01T00:00Z',
  '2026-01-01t00:00:00z', '2026-01-01T00:00:00.Z', ...NUMBERS.slice(0, 12), ...TEXT.slice(0, 8),
];

test('when each query parameter of each list route gets a few hundred odd values, then no answer is a 500', async () => {
  const params: Record<string, Record<string, string[]>> = {
    '/v1/models': { limit: NUMBERS, offset: NUMBERS },
    '/v1/jobs': { limit: NUMBERS, offset: NUMBERS, status: TEXT },
    '/v1/releases': { limit: NUMBERS, offset: NUMBERS, modelId: TEXT, licensee: TEXT },
    '/v1/verifications': { limit: NUMBERS, offset: NUMBERS },
    '/v1/audit/events': { limit: NUMBERS, after: NUMBERS, since: DATES, actor: TEXT, action: TEXT },
    '/v1/audit/verify': { seq: NUMBERS, hash: TEXT },
  };
  let n = 0;
  const bad: string[] = [];
  for (const [p, names] of Object.entries(params)) {
    for (const [name, values] of Object.entries(names)) {
      for (const [i, v] of values.entries()) {
        const raw = /%/.test(v) ? v : encodeURIComponent(v);
        // alone, and (for a few) repeated: an array after query parsing
        for (const qs of i < 6 ? [`${name}=${raw}`, `${name}=${raw}&${name}=1`] : [`${name}=${raw}`]) {
          const res = await fetch(`${s.url}${p}?${qs}`, { headers: admin() }); // keep-alive: a few ms each
          const body = await res.text();
          n++;
          if (res.status >= 500 || !/json/.test(String(res.headers.get('content-type')))) bad.push(`${p}?${qs.slice(0, 80)} → ${res.status} ${body.slice(0, 120)}`);
        }
      }
    }
  }
  assert.ok(n >= 300, `sent ${n} requests`);
  assert.deepEqual(bad, []);
});
