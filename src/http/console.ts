/**
 * The operator's console: plain files (src/web, copied to dist/web by the build) served at `/` and
 * under `/console/`. It is a client of the API like any other — it holds the token in memory and every
 * figure it shows comes from a /v1 call made with that token, so a role sees in it exactly what the API
 * gives that role. Why it has no framework and no bundler: src/web/console/app.js.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';

export const CONSOLE_DIR = fileURLToPath(new URL('../web/', import.meta.url));

/**
 * Its own scripts, styles and images only: no inline script or style, no other origin, and API calls
 * (fetch, EventSource) to this origin. Blob and data images are the marks drawn in the browser.
 */
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

export const isConsolePath = (p: string): boolean => p === '/' || p === '/index.html' || p.startsWith('/console/');

export function mountConsole(app: express.Express): void {
  const index = (_req: express.Request, res: express.Response): void => res.sendFile('index.html', { root: CONSOLE_DIR, cacheControl: false, etag: false, lastModified: false });
  app.get(['/', '/index.html'], index);
  app.use('/console', express.static(path.join(CONSOLE_DIR, 'console'), { index: false, cacheControl: false, etag: false, lastModified: false, dotfiles: 'deny' }));
}
