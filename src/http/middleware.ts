/** Cross-cutting HTTP concerns: request ids, access logs and metrics, security headers, rate limits. */
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../service/logger.js';
import type { Metrics } from '../service/metrics.js';
import type { Principal } from '../crypto/signing.js';
import { AppError } from '../service/errors.js';
import { CONSOLE_CSP, isConsolePath } from './console.js';

export function requestContext(logger: Logger, metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : crypto.randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = String(res.locals.route ?? 'unmatched');
      const p = res.locals.principal as Principal | undefined;
      metrics.inc('weightmark_http_requests_total', 'HTTP requests by method, route and status', { method: req.method, route, status: String(res.statusCode) });
      metrics.observe('weightmark_http_request_duration_seconds', 'HTTP request latency', { method: req.method, route }, seconds);
      const fields = { requestId: id, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000 * 10) / 10, ...(p ? { sub: p.sub, role: p.role } : {}), ...(res.locals.errorCode ? { code: res.locals.errorCode } : {}) };
      if (res.statusCode >= 500) logger.error('request', fields);
      else if (route === '/healthz' || route === '/readyz' || route === '/metrics') logger.debug('request', fields);
      else logger.info('request', fields);
    });
    next();
  };
}

export function securityHeaders(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (req.path.startsWith('/docs')) {
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
  } else if (isConsolePath(req.path)) {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-store');
  } else {
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('Cache-Control', 'no-store');
  }
  next();
}

/** Counts a request of `key` in its current one-minute window: the count so far and the seconds until the window resets. */
export type RateCounter = (key: string, now: number) => Promise<{ count: number; resetSec: number }>;

/** The embedded default: windows in this process's memory, each starting at its key's first request. */
export function memoryRateCounter(): RateCounter {
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = Date.now();
  return async (key, now) => {
    if (now - lastSweep > 60_000) {
      for (const [k, w] of windows) if (now - w.start >= 60_000) windows.delete(k);
      lastSweep = now;
    }
    let w = windows.get(key);
    if (!w || now - w.start >= 60_000) windows.set(key, (w = { start: now, count: 0 }));
    w.count++;
    return { count: w.count, resetSec: Math.ceil((w.start + 60_000 - now) / 1000) };
  };
}

/**
 * A fixed-window limit per token (per client IP when there is no valid token): `perMinute` requests,
 * then 429 with Retry-After. Counted in memory, or by `counter` (in PostgreSQL, shared by replicas).
 */
export function rateLimit(perMinute: number, counter: RateCounter = memoryRateCounter()) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (perMinute <= 0) return next();
    const p = res.locals.principal as Principal | undefined;
    let w: { count: number; resetSec: number };
    try {
      w = await counter(p ? `t:${p.jti}` : `ip:${req.ip}`, Date.now());
    } catch (e) {
      return next(e);
    }
    res.setHeader('RateLimit-Limit', String(perMinute));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, perMinute - w.count)));
    res.setHeader('RateLimit-Reset', String(w.resetSec));
    if (w.count > perMinute) {
      res.setHeader('Retry-After', String(w.resetSec));
      return next(new AppError('WM_ERR_RATE_LIMITED', `more than ${perMinute} requests in a minute from this ${p ? 'token' : 'address'}; retry in ${w.resetSec} s`));
    }
    next();
  };
}
