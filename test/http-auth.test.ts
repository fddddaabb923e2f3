import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startTestServer, assertProblem, assertContract, type TestServer } from './http-helpers.js';
import { loadContract } from '../src/http/contract.js';
import { ROLES } from '../src/crypto/signing.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

const kid = (): string => s.server.service.ctx.signing.activeKid;
const claims = { sub: 'mallory', role: 'admin', iss: 'weightmark', aud: 'weightmark-api' };

test('when no token is sent, then a protected route answers 401 WM_ERR_AUTH_MISSING', async () => {
  const res = await s.http.get('/v1/models');
  assertProblem(res, 401, 'WM_ERR_AUTH_MISSING', 'listModels');
  assert.match(String(res.headers['www-authenticate']), /^Bearer/);
});

test('when the token has expired, then 401 WM_ERR_AUTH_EXPIRED', async () => {
  const { signing } = s.server.service.ctx;
  const token = signing.mintToken({ sub: 'a', role: 'admin', ttlSec: 1, issuer: 'weightmark', audience: 'weightmark-api' });
  const payload = jwt.decode(token) as jwt.JwtPayload;
  // re-sign the same claims with exp in the past using the service's own key file
  const pem = (await import('node:fs')).readFileSync(`${s.keysDir}/signing/${kid()}.key.pem`);
  const expired = jwt.sign({ ...payload, exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 120 }, pem, { algorithm: 'ES256', keyid: kid() });
  assertProblem(await s.http.get('/v1/models').auth(expired, { type: 'bearer' }), 401, 'WM_ERR_AUTH_EXPIRED', 'listModels');
});

test("when the token uses alg 'none', then 401 WM_ERR_AUTH_INVALID", async () => {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const none = `${b64({ alg: 'none', typ: 'JWT', kid: kid() })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
  assertProblem(await s.http.get('/v1/models').auth(none, { type: 'bearer' }), 401, 'WM_ERR_AUTH_INVALID', 'listModels');
});

test('when the token is HS256-signed with the public key as secret (algorithm confusion), then 401', async () => {
  const pub = s.server.service.ctx.signing.publicKeyPem(kid())!;
  const forged = jwt.sign(claims, pub, { algorithm: 'HS256', keyid: kid(), expiresIn: 600 });
  assertProblem(await s.http.get('/v1/models').auth(forged, { type: 'bearer' }), 401, 'WM_ERR_AUTH_INVALID', 'listModels');
});

test('when the token is ES256 but signed by another key under our kid, then 401', async () => {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forged = jwt.sign(claims, privateKey, { algorithm: 'ES256', keyid: kid(), expiresIn: 600 });
  assertProblem(await s.http.get('/v1/models').auth(forged, { type: 'bearer' }), 401, 'WM_ERR_AUTH_INVALID', 'listModels');
});

test('when the token was minted for another audience, then 401', async () => {
  const t = s.server.service.ctx.signing.mintToken({ sub: 'x', role: 'admin', ttlSec: 60, issuer: 'weightmark', audience: 'someone-else' });
  assertProblem(await s.http.get('/v1/models').auth(t, { type: 'bearer' }), 401, 'WM_ERR_AUTH_INVALID', 'listModels');
});

test('when any role calls an operation its x-roles do not list, then every route refuses with 403', async () => {
  const contract = loadContract();
  let checked = 0;
  for (const op of contract.operations) {
    if (op.roles.includes('public')) continue;
    const url = op.path.replace(/\{id\}/g, 'mdl_AAAAAAAAAAAAAAAA');
    for (const role of ROLES) {
      if (op.roles.includes(role)) continue;
      const res = await s.http[op.method](url).auth(s.tokens[role], { type: 'bearer' }).set('Content-Type', 'application/json').send('{}');
      assertProblem(res, 403, 'WM_ERR_FORBIDDEN');
      assertContract(res, op.operationId);
      checked++;
    }
  }
  assert.ok(checked >= 30, `checked ${checked} refusals`);
});

test('when an admin mints a verifier token, then it opens verifier routes and is refused elsewhere', async () => {
  const minted = await s.http.post('/v1/tokens').auth(s.tokens.admin, { type: 'bearer' }).send({ sub: 'court-clerk', role: 'verifier', ttlSec: 120 });
  assert.equal(minted.status, 201);
  assertContract(minted, 'createToken');
  const ok = await s.http.get('/v1/verifications').auth(minted.body.token, { type: 'bearer' });
  assert.equal(ok.status, 200);
  assertContract(ok, 'listVerifications');
  assertProblem(await s.http.get('/v1/audit/events').auth(minted.body.token, { type: 'bearer' }), 403, 'WM_ERR_FORBIDDEN', 'listAuditEvents');
});

test('when a public route is called without a token, then it answers', async () => {
  const jwks = await s.http.get('/.well-known/jwks.json');
  assert.equal(jwks.status, 200);
  assertContract(jwks, 'getJwks');
  assert.equal(jwks.body.keys[0].kid, kid());
});
