/**
 * Moves an embedded install (SQLite file + model files under the data dir) into PostgreSQL + S3: model
 * files first (each re-hashed on the way, so a damaged file stops the move instead of landing in the
 * bucket), then every row in one PostgreSQL transaction, tables in foreign-key order and rows in their
 * insertion order, then the audit chain is walked again on the target and must end at the source's
 * head. Idempotent: objects already in the bucket and rows already in the database are skipped, so a
 * move that stopped midway is run again to finish it. A target whose audit chain is not a prefix of the
 * source's (another install's data, or the service ran on it since) is refused before anything is written.
 */
import type { PgStore } from './postgres.js';
import type { SqliteStore } from './sqlite.js';
import { FileBlobStore, type BlobStore } from './blobs.js';
import { ChainVerifier } from './auditChain.js';
import type { FileRef } from './types.js';

/** Every table the migrations make, parents before children. A table missing here stops the move (see `tablesOf`). */
const TABLE_ORDER = [
  'models', 'datasets', 'watermark_keys', 'key_commitments', 'jobs', 'releases', 'release_artifacts', 'verifications', 'audit_events', 'audit_checkpoints',
  'verification_quota', 'upload_sketches', 'event_tickets', 'rate_windows', 'job_checkpoints',
] as const;
/** Rows per INSERT: PostgreSQL takes at most 65535 parameters a statement. */
const BATCH = 200;

export interface MigrationReport {
  blobs: { copied: number; present: number };
  rows: Record<string, { source: number; copied: number }>;
  audit: { entries: number; headHash: string };
}

export class MigrationRefused extends Error {
  override name = 'MigrationRefused';
}

type Row = Record<string, unknown>;

/** The source's tables in copy order. @throws MigrationRefused for a table this code does not know. */
function tablesOf(source: SqliteStore): string[] {
  const names = (source.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'").all() as { name: string }[]).map((r) => r.name);
  const unknown = names.filter((n) => !(TABLE_ORDER as readonly string[]).includes(n));
  if (unknown.length) throw new MigrationRefused(`migrate-store does not know table(s) ${unknown.join(', ')}: add them to TABLE_ORDER in src/store/migrateStore.ts`);
  return TABLE_ORDER.filter((t) => names.includes(t));
}

/** Primary-key order where it means time (audit seq), else insertion order (parents were inserted first). */
function orderOf(table: string): string {
  return table === 'audit_events' || table === 'audit_checkpoints' ? 'seq' : 'rowid';
}

/** @throws MigrationRefused when the target's audit chain is not a prefix of the source's. */
async function assertTargetIsPrefix(source: SqliteStore, target: PgStore): Promise<void> {
  const { rows } = await target.pool.query('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const last = rows[0] as { seq: string | number; hash: string } | undefined;
  if (!last) return;
  const at = source.db.prepare('SELECT hash FROM audit_events WHERE seq = ?').get(Number(last.seq)) as { hash: string } | undefined;
  if (!at) throw new MigrationRefused(`the target database's audit chain is ahead of this install's (entry ${last.seq} exists only there): it holds other data or was written since; migrate into an empty database`);
  if (at.hash !== last.hash) throw new MigrationRefused(`the target database's audit entry ${last.seq} differs from this install's: it holds another install's data; migrate into an empty database`);
}

/** Every blob the rows refer to: model files, anchors, dataset contents, signed download files. */
function referencedFiles(source: SqliteStore): FileRef[] {
  const out: FileRef[] = [];
  for (const r of source.db.prepare('SELECT files, meta FROM models').all() as { files: string; meta: string }[]) {
    out.push(...(JSON.parse(r.files) as FileRef[]));
    const anchor = (JSON.parse(r.meta) as { anchor?: FileRef }).anchor;
    if (anchor?.sha256) out.push(anchor);
  }
  for (const r of source.db.prepare('SELECT file FROM datasets').all() as { file: string }[]) out.push(JSON.parse(r.file) as FileRef);
  for (const r of source.db.prepare('SELECT files FROM release_artifacts').all() as { files: string }[]) out.push(...(JSON.parse(r.files) as FileRef[]));
  return out;
}

async function copyBlobs(from: FileBlobStore, to: BlobStore, onProgress: (line: string) => void): Promise<MigrationReport['blobs']> {
  const files = from.list();
  let copied = 0;
  let present = 0;
  for (const [i, f] of files.entries()) {
    if (await to.has(f.sha256)) {
      present++;
      continue;
    }
    const ref = await to.putFile(f.sha256, f.file);
    // content-addressed on both sides: a file whose bytes no longer give its name was damaged on disk
    if (ref.sha256 !== f.sha256) throw new MigrationRefused(`model file ${f.file} is damaged (its content hashes to ${ref.sha256}); restore it from a backup, then run migrate-store again`);
    copied++;
    if ((i + 1) % 50 === 0) onProgress(`model files: ${i + 1}/${files.length}`);
  }
  return { copied, present };
}

async function copyRows(source: SqliteStore, target: PgStore, tables: string[]): Promise<MigrationReport['rows']> {
  const report: MigrationReport['rows'] = {};
  const c = await target.pool.connect();
  try {
    await c.query('BEGIN');
    for (const table of tables) {
      const rows = source.db.prepare(`SELECT * FROM ${table} ORDER BY ${orderOf(table)}`).all() as Row[];
      let copied = 0;
      for (let at = 0; at < rows.length; at += BATCH) {
        const batch = rows.slice(at, at + BATCH);
        const cols = Object.keys(batch[0]!);
        const values = batch.map((_, r) => `(${cols.map((__, k) => `$${r * cols.length + k + 1}`).join(', ')})`).join(', ');
        // table and column names come from the source's schema (the migrations), never from input
        const res = await c.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values} ON CONFLICT DO NOTHING`, batch.flatMap((row) => cols.map((k) => row[k])));
        copied += res.rowCount ?? 0;
      }
      report[table] = { source: rows.length, copied };
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
  return report;
}

/**
 * Runs the move. The caller holds the data dir's lock (no service writes the source meanwhile).
 * @throws MigrationRefused (nothing half-done: rows are one transaction, blobs are idempotent) or the
 *   database/S3 error that stopped it.
 */
export async function migrateStore(o: { source: SqliteStore; sourceBlobs: FileBlobStore; target: PgStore; targetBlobs: BlobStore; onProgress?: (line: string) => void }): Promise<MigrationReport> {
  const say = o.onProgress ?? (() => undefined);
  const tables = tablesOf(o.source);
  await assertTargetIsPrefix(o.source, o.target);
  say('copying model files');
  const blobs = await copyBlobs(o.sourceBlobs, o.targetBlobs, say);
  const missing = [];
  for (const ref of referencedFiles(o.source)) if (!(await o.targetBlobs.has(ref.sha256))) missing.push(ref.sha256);
  if (missing.length) throw new MigrationRefused(`${missing.length} model file(s) the database refers to are not in ${o.sourceBlobs.root} (first: ${missing[0]}); restore them, then run migrate-store again`);
  say('copying rows');
  const rows = await copyRows(o.source, o.target, tables);
  say('verifying the audit chain on the target');
  const v = new ChainVerifier([]);
  await o.target.eachAudit((e) => v.push(e));
  const chain = v.result();
  const head = o.source.db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
  if (!chain.ok) throw new MigrationRefused(`the audit chain on the target is broken at entry ${chain.firstBroken!.seq}: ${chain.firstBroken!.reason}`);
  if (chain.entries !== (head?.seq ?? 0) || (head && chain.headHash !== head.hash)) {
    throw new MigrationRefused(`the target's audit chain ends at entry ${chain.entries} (${chain.headHash.slice(0, 12)}…), the source's at ${head?.seq ?? 0} (${head?.hash.slice(0, 12) ?? '—'}…)`);
  }
  return { blobs, rows, audit: { entries: chain.entries, headHash: chain.headHash } };
}
