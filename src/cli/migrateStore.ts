/**
 * `weightmark migrate-store`: moves an embedded install (the SQLite file and model files under the data
 * dir) into the PostgreSQL database and S3 bucket the environment names (WEIGHTMARK_DATABASE_URL,
 * WEIGHTMARK_S3_*), as src/store/migrateStore.ts describes. The service must be stopped: the command
 * takes the data dir's lock for as long as it runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/env.js';
import { lockDataDir } from '../store/dataDirLock.js';
import { FileBlobStore, openBlobStore } from '../store/blobs.js';
import { parse, UsageError } from './args.js';

const HELP = `weightmark migrate-store [--data-dir DIR] [--json]
  Copies the embedded install in the data dir (weightmark.db and models/) into PostgreSQL and S3:
    WEIGHTMARK_DATABASE_URL=postgres://…  WEIGHTMARK_S3_BUCKET=…  [WEIGHTMARK_S3_URL=…]  AWS_ACCESS_KEY_ID=…  AWS_SECRET_ACCESS_KEY=…
  Stop the service first. Safe to run again: what is already there is skipped; a target holding other data is refused.
  Then start the service with the same variables (and the same keys dir). See docs/deploy.md.`;

export async function runMigrateStore(argv: string[]): Promise<number> {
  const a = parse(argv, { 'data-dir': { type: 'string' } });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const config = loadConfig({ ...process.env, ...(a['data-dir'] ? { WEIGHTMARK_DATA_DIR: a['data-dir'] } : {}) });
  if (!config.databaseUrl) throw new UsageError('set WEIGHTMARK_DATABASE_URL to the PostgreSQL database to move into');
  if (!config.s3) throw new UsageError('set WEIGHTMARK_S3_BUCKET (and WEIGHTMARK_S3_URL off AWS) to the bucket to move model files into');
  const dbFile = path.join(config.dataDir, 'weightmark.db');
  if (!fs.existsSync(dbFile)) throw new UsageError(`no embedded install in ${config.dataDir} (no weightmark.db); pass --data-dir`);
  const say = (line: string): void => {
    if (!a.json) console.error(line);
  };
  const release = lockDataDir(config.dataDir);
  // loaded here, not at the top: `weightmark --help` and every other command stay free of pg and the AWS SDK
  const [{ SqliteStore }, { PgStore }, { migrateStore }] = await Promise.all([import('../store/sqlite.js'), import('../store/postgres.js'), import('../store/migrateStore.js')]);
  const source = new SqliteStore(dbFile);
  const closers: (() => Promise<void> | void)[] = [() => source.close(), release];
  try {
    const target = await PgStore.open(config.databaseUrl);
    closers.unshift(() => target.close());
    const targetBlobs = await openBlobStore({ dir: '', s3: config.s3 });
    closers.unshift(() => targetBlobs.close());
    const started = performance.now();
    const report = await migrateStore({ source, sourceBlobs: new FileBlobStore(path.join(config.dataDir, 'models')), target, targetBlobs, onProgress: say });
    const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
    if (a.json) console.log(JSON.stringify({ ...report, seconds }));
    else {
      const rows = Object.entries(report.rows).map(([t, r]) => `${t} ${r.copied}/${r.source}`).join(', ');
      console.log(`model files: ${report.blobs.copied} copied, ${report.blobs.present} already there`);
      console.log(`rows copied (new/all): ${rows}`);
      console.log(`audit chain on the target: ${report.audit.entries} entries, intact, head ${report.audit.headHash.slice(0, 16)}… (${seconds} s)`);
    }
    return 0;
  } finally {
    for (const close of closers) await close();
  }
}
