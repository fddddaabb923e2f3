/**
 * A service in its own process for test/http-upload-memory.test.ts, so the test can read this process's
 * peak RSS from /proc. Prints one JSON line {url, admin, verifier} once listening.
 */
import { startWebServer } from '../src/http/server.js';

const dir = process.argv[2]!;
const server = await startWebServer({
  env: {},
  config: { port: 0, host: '127.0.0.1', dataDir: `${dir}/data`, keysDir: `${dir}/keys`, logLevel: 'warn', verifyWorkers: 1 },
  logSink: () => undefined,
});
const { signing, config } = server.service.ctx;
const mint = (role: 'admin' | 'verifier') => signing.mintToken({ sub: `${role}-1`, role, ttlSec: 600, issuer: config.issuer, audience: config.audience });
process.stdout.write(JSON.stringify({ url: server.url, admin: mint('admin'), verifier: mint('verifier') }) + '\n');
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
