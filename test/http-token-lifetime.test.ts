/**
 * A bearer token must say when it ends, and no later than the configured maximum lifetime: a token
 * without `exp` (or `iat`) would otherwise open the API forever to whoever copied it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import jwt from 'jsonwebtoken';
import { startTestServer, assertProblem, assertContract, type TestServer } from './http-helpers.js';

const MAX = 3600;
let s: TestServer;
before(async () => {
  s = await startTestServer({ config: { tokenMaxTtlSec: MAX } });
});
after(async () => {
  await s.stop();
});

/** Signs claims with the service's own active key, as a holder of the keys dir could. */
function sign(claims: Record<string, unknown>): string {
  const kid = s.server.service.ctx.signing.activeKid;
  const pem = fs.readFileSync(`${s.keysDir}/signing/${kid}.key.pem`);
  // jsonwebtoken adds iat unless told not to, and then drops a given one: only the no-iat case needs it
  return jwt.sign({ sub: 'mallory', role: 'admin', iss: 'weightmark', aud: 'weightmark-api', ...claims }, pem, { algorithm: 'ES256', keyid: kid, noTimestamp: !('iat' in claims) });
}
const now = (): number => Math.floor(Date.now() / 1000);

test('when a token has no exp, then 401 WM_ERR_AUTH_INVALID saying exp is required', async () => {
  const res = await s.http.get('/v1/models').auth(sign({ iat: now() }), { type: 'bearer' });
  assertProblem(res, 401, 'WM_ERR_AUTH_INVALID', 'listModels');
  assert.match(res.body.detail, /no expiry \(exp\)/);
});

test('when a token has no iat, then 401 saying iat is required', async () => {
  const res = await s.http.get('/v1/models').auth(sign({ exp: now() + 60 }), { type: 'bearer' });
  assertProblem(res, 401, 'WM_ERR_AUTH_INVALID', 'listModels');
  assert.match(res.body.detail, /issue time \(iat\)/);
});

test('when exp − iat exceeds the maximum lifetime, then 401 naming the lifetime and the maximum; at the maximum it is accepted', async () => {
  const res = await s.http.get('/v1/models').auth(sign({ iat: now(), exp: now() + MAX + 60 }), { type: 'bearer' });
  assertProblem(res, 401, 'WM_ERR_AUTH_INVALID', 'listModels');
  assert.match(res.body.detail, new RegExp(`${MAX + 60} s.*${MAX} s`));
  const atMax = await s.http.get('/v1/models').auth(sign({ iat: now(), exp: now() + MAX }), { type: 'bearer' });
  assert.equal(atMax.status, 200, JSON.stringify(atMax.body));
  assertContract(atMax, 'listModels');
  assert.equal((await s.http.get('/v1/models').auth(s.tokens.auditor, { type: 'bearer' })).status, 200, 'tokens the service mints pass');
});

test('when iat lies in the future (a long-lived token in disguise), then 401', async () => {
  const res = await s.http.get('/v1/models').auth(sign({ iat: now() + 10 * 86400, exp: now() + 10 * 86400 + 60 }), { type: 'bearer' });
  assertProblem(res, 401, 'WM_ERR_AUTH_INVALID', 'listModels');
  assert.match(res.body.detail, /future/);
});
