/**
 * Requests Node's HTTP parser refuses before express sees them (an oversized URL or header, a
 * malformed request line) still get a problem+json with a registered WM_ERR_* code, like every other
 * error of the API.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestServer, type TestServer } from './http-helpers.js';
import { ERRORS, problemType, type ErrorCode } from '../src/service/errors.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

/** Sends raw bytes and reads the whole answer (the server closes the connection after a parser error). */
function raw(bytes: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(s.server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => (chunks.length ? undefined : reject(e)));
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    sock.write(bytes);
    sock.end();
  });
}

function assertParserProblem(res: { status: number; headers: Record<string, string>; body: string }, status: number, code: ErrorCode): void {
  assert.equal(res.status, status, JSON.stringify(res));
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  const p = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(p.code, code);
  assert.equal(p.status, status);
  assert.equal(p.type, problemType(code));
  assert.equal(ERRORS[code].status, status, 'the code is in the registry with this status');
  assert.equal(typeof p.detail, 'string');
  assert.equal(typeof p.requestId, 'string');
  assert.equal(res.headers['x-request-id'], p.requestId);
}

test('when the URL is 100,000 characters long, then 431 problem+json WM_ERR_HEADERS_TOO_LARGE', async () => {
  const res = await raw(`GET /v1/models?q=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assertParserProblem(res, 431, 'WM_ERR_HEADERS_TOO_LARGE');
  assert.match(JSON.parse(res.body).detail, /16384|URL|header/);
});

test('when one header is too large, then 431 problem+json', async () => {
  assertParserProblem(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`), 431, 'WM_ERR_HEADERS_TOO_LARGE');
});

test('when the request line is not HTTP, then 400 problem+json WM_ERR_MALFORMED_REQUEST', async () => {
  assertParserProblem(await raw('HELLO THERE\r\n\r\n'), 400, 'WM_ERR_MALFORMED_REQUEST');
  assertParserProblem(await raw('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'), 400, 'WM_ERR_MALFORMED_REQUEST');
});

test('when a chunk extension is too large, then 413 problem+json', async () => {
  const res = await raw(`POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.tokens.admin}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`);
  assertParserProblem(res, 413, 'WM_ERR_CHUNK_EXTENSIONS_TOO_LARGE');
});

test('when a parser error is answered, then the service keeps serving', async () => {
  const res = await s.http.get('/healthz');
  assert.equal(res.status, 200);
  assert.ok(s.logs.some((l) => l.includes('"msg":"client error"') && l.includes('WM_ERR_HEADERS_TOO_LARGE')), 'a log line names the refused request');
});
