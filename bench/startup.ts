/**
 * Start-up of the compiled build (dist/): `weightmark --help`, `weightmark token` and the service until it
 * listens (fresh data and keys dirs, so the first start's key generation is included), against the same
 * from the TypeScript sources through tsx. Median of `runs`.
 *
 *   npx tsx bench/startup.ts [--runs 5]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

export interface StartupRow {
  readonly build: 'dist' | 'tsx';
  readonly helpMs: number;
  readonly tokenMs: number;
  readonly listeningMs: number;
}

function entry(build: StartupRow['build']): string[] {
  return build === 'dist' ? [path.join(root, 'dist', 'cli', 'main.js')] : ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')];
}

function timed(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return performance.now() - t0;
}

function listening(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, 'serve'], { env, cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    let ms: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (ms === undefined && buf.includes('"msg":"listening"')) {
        ms = performance.now() - t0;
        child.kill('SIGTERM');
      }
    });
    child.once('exit', (code) => (ms !== undefined ? resolve(ms) : reject(new Error(`serve exited (${code}) before listening`))));
  });
}

export async function benchStartup(runs = 5): Promise<StartupRow[]> {
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build`');
  const rows: StartupRow[] = [];
  for (const build of ['dist', 'tsx'] as const) {
    const help: number[] = [];
    const token: number[] = [];
    const listen: number[] = [];
    for (let i = 0; i < runs; i++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'wm-startup-'));
      const env = { ...process.env, NODE_OPTIONS: '', PORT: '0', HOST: '127.0.0.1', WEIGHTMARK_DATA_DIR: path.join(dir, 'data'), WEIGHTMARK_KEYS_DIR: path.join(dir, 'keys'), WEIGHTMARK_LOG_LEVEL: 'info' };
      try {
        help.push(timed([...entry(build), '--help'], env));
        listen.push(await listening(entry(build), env));
        token.push(timed([...entry(build), 'token', '--role', 'admin', '--sub', 'bench', '--ttl', '1h'], env));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    rows.push({ build, helpMs: median(help), tokenMs: median(token), listeningMs: median(listen) });
  }
  return rows;
}

export function formatStartup(rows: readonly StartupRow[]): string {
  return ['| build | `weightmark --help` | `weightmark token` | `serve` until listening (first start) |', '|---|---|---|---|',
    ...rows.map((r) => `| ${r.build === 'dist' ? 'compiled (dist/, what npm start runs)' : 'sources through tsx'} | ${r.helpMs.toFixed(0)} ms | ${r.tokenMs.toFixed(0)} ms | ${r.listeningMs.toFixed(0)} ms |`),
    '', `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ${os.availableParallelism()} CPUs`].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--runs');
  console.log(formatStartup(await benchStartup(i >= 0 ? Number(process.argv[i + 1]) : 5)));
}
