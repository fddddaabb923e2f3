import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertProblem, StandInExecutor, type TestServer } from './http-helpers.js';

let s: TestServer;
before(async () => {
  s = await startTestServer({ executor: new StandInExecutor() });
});
after(async () => {
  await s.stop();
});

test('when a browser opens /, then it gets the console page under a CSP that admits only its own scripts and styles', async () => {
  const res = await s.http.get('/');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  const csp = String(res.headers['content-security-policy']);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers['cache-control'], 'no-store');
  // no inline script or style: every <script> has a src, no style attribute or element
  assert.doesNotMatch(res.text, /<script(?![^>]*\ssrc=)[^>]*>/);
  assert.doesNotMatch(res.text, /<style|\sstyle=/);
  assert.doesNotMatch(res.text, /https?:\/\//, 'nothing from another origin');
});

test('when the console asks for its modules, then they are served as JavaScript without a token', async () => {
  for (const p of ['/console/app.js', '/console/api.js', '/console/pages/verify.js']) {
    const res = await s.http.get(p);
    assert.equal(res.status, 200, p);
    assert.match(String(res.headers['content-type']), /javascript/);
  }
  assert.equal((await s.http.get('/console/style.css')).status, 200);
});

test('when a path under /console/ names no file, then 404 problem+json, and nothing outside the console is reachable', async () => {
  assertProblem(await s.http.get('/console/nothing.js'), 404, 'WM_ERR_ROUTE_NOT_FOUND');
  assertProblem(await s.http.get('/console/'), 404, 'WM_ERR_ROUTE_NOT_FOUND');
  for (const p of ['/console/..%2f..%2fpackage.json', '/console/%2e%2e/%2e%2e/http/app.ts']) {
    const res = await s.http.get(p);
    assert.ok(res.status === 404 || res.status === 403, `${p}: ${res.status}`);
    assert.doesNotMatch(res.text, /"dependencies"|createApp/);
  }
});
