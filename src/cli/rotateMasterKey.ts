/**
 * `weightmark rotate-master-key --new-key-file FILE`: re-seals every watermark key and commitment in the
 * store (SQLite in the data dir, or PostgreSQL with WEIGHTMARK_DATABASE_URL) under a new master key
 * (src/service/rotateMasterKey.ts), then, for an embedded install whose key is the keys dir's
 * master.key, puts the new key there and keeps the old one beside it as master.key.retired-<time>.
 * Every process must be stopped: the command takes the data dir's lock, and on a shared database it
 * checks afterwards that every secret opens with the new key (a replica left running would have sealed
 * one under the old key).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, parseMasterKey } from '../config/env.js';
import { auditHeadSigner } from '../crypto/auditHead.js';
import { writeFileAtomic } from '../crypto/fsutil.js';
import { Keystore } from '../crypto/keystore.js';
import { SigningKeys } from '../crypto/signing.js';
import { lockDataDir } from '../store/dataDirLock.js';
import { openStore } from '../store/open.js';
import { rotateMasterKey } from '../service/rotateMasterKey.js';
import { parse, required, UsageError } from './args.js';

const HELP = `weightmark rotate-master-key --new-key-file FILE [--data-dir DIR] [--json]
  Re-seals every watermark key and commitment under the master key in FILE (32 bytes as 64 hex digits or
  base64; make one with: openssl rand -hex 32). The current key is WEIGHTMARK_MASTER_KEY or <keys dir>/master.key.
  Stop the service and every worker first. Embedded install with master.key: the new key replaces it and
  the old one is kept as master.key.retired-<time>. With WEIGHTMARK_MASTER_KEY: set it to the new key on
  every process before restarting them. See docs/deploy.md.`;

export async function runRotateMasterKey(argv: string[]): Promise<number> {
  const a = parse(argv, { 'new-key-file': { type: 'string' }, 'data-dir': { type: 'string' } });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const config = loadConfig({ ...process.env, ...(a['data-dir'] ? { WEIGHTMARK_DATA_DIR: a['data-dir'] } : {}) });
  const keyFile = path.join(config.keysDir, 'master.key');
  if (!config.masterKey && !fs.existsSync(keyFile)) throw new UsageError(`no current master key: neither WEIGHTMARK_MASTER_KEY nor ${keyFile}`);
  const current = config.masterKey ?? parseMasterKey(fs.readFileSync(keyFile, 'utf8'), keyFile);
  const newFile = required(a['new-key-file'], 'new-key-file');
  if (!fs.existsSync(newFile)) throw new UsageError(`--new-key-file ${newFile} does not exist (make one with: openssl rand -hex 32 > ${newFile})`);
  const next = parseMasterKey(fs.readFileSync(newFile, 'utf8'), newFile);
  const dbFile = path.join(config.dataDir, 'weightmark.db');
  // Opening the store would create an empty install where none is: a mistyped --data-dir must not look like success.
  if (!config.databaseUrl && !fs.existsSync(dbFile)) throw new UsageError(`no embedded install in ${config.dataDir} (no weightmark.db); pass --data-dir, or set WEIGHTMARK_DATABASE_URL`);
  if (next.equals(current)) throw new UsageError('the new master key is the current one');
  const release = lockDataDir(config.dataDir);
  try {
    const signing = SigningKeys.loadOrCreate(config.keysDir);
    const store = await openStore({ databaseUrl: config.databaseUrl, sqliteFile: dbFile, signHead: auditHeadSigner(signing, config.issuer) });
    try {
      const report = await rotateMasterKey(store, new Keystore(current), new Keystore(next), 'cli:rotate-master-key');
      if (!config.masterKey) {
        const retired = `${keyFile}.retired-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        fs.copyFileSync(keyFile, retired);
        fs.chmodSync(retired, 0o600);
        writeFileAtomic(keyFile, next.toString('base64') + '\n', 0o600);
      }
      if (a.json) console.log(JSON.stringify({ ...report, keyFile: config.masterKey ? null : keyFile }));
      else {
        console.log(`Re-sealed ${report.keys} watermark key(s) and ${report.commitments} commitment(s) under the new master key (audit: master-key.rotate).`);
        console.log(config.masterKey ? 'Set WEIGHTMARK_MASTER_KEY to the new key on every process, then restart them.' : `${keyFile} now holds the new key; the old one is kept beside it (.retired-*): delete it once backups no longer need it.`);
      }
      return 0;
    } finally {
      await store.close();
    }
  } finally {
    release();
  }
}
