/**
 * A throwaway PostgreSQL cluster for the tests: Debian's binaries (/usr/lib/postgresql/<v>/bin),
 * initdb in a temp dir, a free loopback port, the unix socket inside the temp dir, run as an
 * unprivileged user (postgres refuses to run as root, and the machines run as root). Removed at
 * `stop()` and, failing that, when the test process exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';

export interface PgCluster {
  /** postgres://…@127.0.0.1:<port>/<db> for a database of this cluster. */
  url(db?: string): string;
  /** Creates an empty database and returns its URL (one per test keeps tests apart). */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** The bin dir of the newest installed PostgreSQL, or undefined when the package is missing. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] && path.join(root, versions[0], 'bin');
}

/** Why PostgreSQL tests cannot run here, for `test(…, { skip })`; undefined when they can. */
export function pgSkipReason(): string | undefined {
  if (!pgBinDir()) return 'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql (.ci/run does)';
  if (!runAsUser()) return 'no unprivileged user (postgres or nobody) to run PostgreSQL as';
  return undefined;
}

/** The user the server runs as: Debian's package creates `postgres`; `nobody` otherwise. */
function runAsUser(): { name: string; uid: number; gid: number } | undefined {
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
    return { name, uid: Number(r.stdout.trim()), gid };
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the unprivileged user (runuser when root; directly otherwise). */
function asUser(user: string, bin: string, args: string[]): void {
  const [cmd, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', user, '--', bin, ...args]] : [bin, args];
  execFileSync(cmd as string, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

/**
 * Starts a cluster tuned for tests (no fsync: nothing here must survive a power cut).
 * @throws when PostgreSQL is missing (check `pgSkipReason()` first) or does not start.
 */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  const user = runAsUser();
  if (!bin || !user) throw new Error(pgSkipReason());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) fs.chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      asUser(user.name, path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running (start failed): nothing to stop
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  try {
    asUser(user.name, path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    asUser(user.name, path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  } catch (e) {
    const log = fs.existsSync(path.join(dir, 'server.log')) ? fs.readFileSync(path.join(dir, 'server.log'), 'utf8') : '';
    stop();
    throw new Error(`PostgreSQL did not start: ${(e as Error).message}\n${log}`);
  }
  const url = (db = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${db}`;
  return {
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        // an identifier cannot be a parameter; the name is checked above
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop,
  };
}
