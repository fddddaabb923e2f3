/**
 * `weightmark serve` — runs the HTTP service until SIGTERM/SIGINT, then shuts down gracefully
 * (readiness off, in-flight requests finish, running jobs marked interrupted, store closed).
 * `weightmark token` — mints a token from the local signing key (no server needed).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/env.js';
import { ROLES, SigningKeys, type Role } from '../crypto/signing.js';
import { startWebServer } from '../http/server.js';
import { untilSignalled } from './untilSignalled.js';

const SERVE_HELP = `weightmark serve [--port N] [--host H] [--data-dir DIR] [--keys-dir DIR]
  Starts the HTTP API (docs at /docs). Every setting can also come from the environment; see docs/configuration.md.`;

export async function runServe(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' }, 'keys-dir': { type: 'string' }, help: { type: 'boolean' }, json: { type: 'boolean' } },
    strict: true,
  });
  if (a.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const env = {
    ...process.env,
    ...(a.port ? { PORT: a.port } : {}),
    ...(a.host ? { HOST: a.host } : {}),
    ...(a['data-dir'] ? { WEIGHTMARK_DATA_DIR: a['data-dir'] } : {}),
    ...(a['keys-dir'] ? { WEIGHTMARK_KEYS_DIR: a['keys-dir'] } : {}),
  };
  const server = await startWebServer({ env });
  return untilSignalled(server.service.ctx.logger, () => server.stop());
}

const TOKEN_HELP = `weightmark token --role admin|issuer|auditor|verifier --sub NAME [--ttl 3600] [--keys-dir DIR] [--json]
  Mints an access token with the local signing key (the keys dir the server uses).`;

/** Parses 3600, 90s, 15m, 12h, 30d. */
export function parseTtl(s: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(s.trim());
  if (!m) throw new Error(`--ttl '${s}' is not a duration like 3600, 15m, 12h or 30d`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
}

export async function runToken(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' }, 'keys-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (a.help || !a.role || !a.sub) {
    console.error(TOKEN_HELP);
    return a.help ? 0 : 2;
  }
  if (!ROLES.includes(a.role as Role)) throw new Error(`--role '${a.role}' is not one of ${ROLES.join(', ')}`);
  const config = loadConfig({ ...process.env, ...(a['keys-dir'] ? { WEIGHTMARK_KEYS_DIR: a['keys-dir'] } : {}) });
  const ttl = a.ttl ? parseTtl(a.ttl) : config.tokenTtlSec;
  if (ttl > config.tokenMaxTtlSec) throw new Error(`--ttl ${ttl}s exceeds WEIGHTMARK_TOKEN_MAX_TTL_SEC (${config.tokenMaxTtlSec}s)`);
  const signing = SigningKeys.loadOrCreate(config.keysDir);
  const token = signing.mintToken({ sub: a.sub, role: a.role as Role, ttlSec: ttl, issuer: config.issuer, audience: config.audience });
  if (a.json) console.log(JSON.stringify({ token, sub: a.sub, role: a.role, expiresIn: ttl, kid: signing.activeKid }));
  else console.log(token);
  return 0;
}
