/**
 * Requests Node's HTTP parser refuses (a URL or headers beyond `http.maxHeaderSize`, a request line
 * that is not HTTP, oversized chunk extensions, headers that never finish) never reach express: Node
 * answers them itself with a bare status line. The server's 'clientError' hook answers them here
 * instead, as problem+json with a registered code, like every other error of the API.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ERRORS, problemType, type ErrorCode } from '../service/errors.js';
import type { Logger } from '../service/logger.js';
import type { Metrics } from '../service/metrics.js';

function classify(err: NodeJS.ErrnoException & { reason?: string }): { code: ErrorCode; detail: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'WM_ERR_HEADERS_TOO_LARGE', detail: `the request line and headers exceed ${http.maxHeaderSize} bytes; send a shorter URL (query values are short ids, numbers and dates) and fewer or smaller headers` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { code: 'WM_ERR_CHUNK_EXTENSIONS_TOO_LARGE', detail: 'the chunked body carries chunk extensions beyond the parser limit (16 KiB); send the body without chunk extensions' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'WM_ERR_REQUEST_TIMEOUT', detail: 'the request headers did not arrive in time; send the whole request promptly' };
    default:
      return { code: 'WM_ERR_MALFORMED_REQUEST', detail: `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'}: ${err.reason ?? err.message}); send a request line 'METHOD /path HTTP/1.1' and well-formed headers` };
  }
}

export function answerClientErrors(server: http.Server, logger: Logger, metrics: Metrics): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
    // as Node's own handler does, answer only while no response has started on this connection (the
    // bytes would corrupt it), and only parser errors: a socket error (ECONNRESET) has nothing to answer
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    const fromParser = err.code?.startsWith('HPE_') || err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!fromParser || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const { code, detail } = classify(err);
    const { status, title } = ERRORS[code];
    const requestId = crypto.randomUUID();
    const body = JSON.stringify({ type: problemType(code), title, status, detail, code, instance: `#request-${requestId}`, requestId });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? title}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'X-Content-Type-Options: nosniff\r\n' +
        'Cache-Control: no-store\r\n' +
        'Connection: close\r\n\r\n' +
        body,
    );
    // a client that keeps sending does not get to hold the socket open
    setTimeout(() => socket.destroy(), 2_000).unref();
    metrics.inc('weightmark_http_requests_total', 'HTTP requests by method, route and status', { method: 'unparsed', route: 'unparsed', status: String(status) });
    logger.info('client error', { requestId, status, code, parserError: err.code });
  });
}
