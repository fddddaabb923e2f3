/**
 * The store on PostgreSQL (through `pg`), for several API replicas sharing one database. Same tables
 * and migrations as SQLite (./migrations.ts, translated by `postgresSql`).
 *
 * A `write()` unit's function is synchronous, so the writer only records the changes; they then run in
 * one transaction. A unit that appends audit entries first takes a transaction-scoped advisory lock,
 * so "read the last hash, append the next" is serialised across every process on the database: two
 * replicas can never both extend the same head (the chain would fork). `seq` being the primary key is
 * the second line of defence: a forked append fails instead of being stored.
 */
import pg from 'pg';
import { MIGRATIONS, postgresSql } from './migrations.js';
import { auditHash, GENESIS_HASH } from './auditChain.js';
import type {
  AuditCheckpoint, AuditDraft, AuditEvent, AuditFilter, AuditHead, AuditHeadSigner, CommitmentRecord, JobStatus, KeyRef, Page, Store,
  StoreWriter, UploadSketch,
} from './types.js';
import { LeaseLost } from './types.js';
import {
  json, toArtifact, toDataset, datasetValues, DATASET_COLS, toAudit, toCheckpoint, toCommitment, toJob, toKey, toKeyRef, toModel, toRelease, toSketch, toVerification, sketchBytes,
  JOB_COLS, REL_COLS, type Row,
} from './rows.js';

/** Keys of the advisory locks (arbitrary, fixed): one for the audit chain, one for migrations. */
const AUDIT_LOCK = 0x776d_0001;
const MIGRATION_LOCK = 0x776d_0002;
/** Rows fetched per round trip when walking the whole chain. */
const AUDIT_PAGE = 1000;

type Client = pg.PoolClient;
type Op = (c: Client) => Promise<unknown>;

/** `WHERE a = $1 AND b = $2` from the filters that are set, numbering placeholders from `first`. */
function where(conds: [string, unknown][], first = 1): { sql: string; args: unknown[] } {
  const set = conds.filter(([, v]) => v !== undefined && v !== '');
  return { sql: set.length ? 'WHERE ' + set.map(([c], i) => `${c} $${first + i}`).join(' AND ') : '', args: set.map(([, v]) => v) };
}

export class PgStore implements Store {
  readonly engine = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly #signHead: AuditHeadSigner | undefined;
  #schemaVersion = 0;
  /** The newest checkpoint this process committed: deleting its row under us does not hide it. */
  #lastSigned: AuditCheckpoint | undefined;

  private constructor(pool: pg.Pool, signHead: AuditHeadSigner | undefined) {
    this.pool = pool;
    this.#signHead = signHead;
  }

  /**
   * Connects to `url` (postgres://…) and applies pending migrations. Without `signHead` the store can
   * read but refuses units that append audit entries (as SqliteStore does).
   * @throws the connection or migration error; its message never holds the URL (it may carry a password).
   */
  static async open(url: string, opts: { signHead?: AuditHeadSigner; maxConnections?: number } = {}): Promise<PgStore> {
    const pool = new pg.Pool({ connectionString: url, max: opts.maxConnections ?? 10 });
    // an idle client's error (the server restarted) would otherwise crash the process; the next query reconnects
    pool.on('error', () => undefined);
    const store = new PgStore(pool, opts.signHead);
    try {
      await store.#migrate();
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  /** Replicas may start together: the advisory lock lets one migrate while the others wait, then find it done. */
  async #migrate(): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(postgresSql(m));
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
      }
      this.#schemaVersion = Number((await c.query('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
    });
  }

  /** The schema version reached at open (synchronous, as SqliteStore's). */
  schemaVersion(): number {
    return this.#schemaVersion;
  }

  async #tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async #rows(sql: string, args: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, args)).rows as Row[];
  }

  async write(fn: (w: StoreWriter) => void): Promise<void> {
    const ops: Op[] = [];
    const drafts: AuditDraft[] = [];
    fn(this.#recorder(ops, drafts));
    if (!ops.length) return;
    if (drafts.length && !this.#signHead) throw new Error('this store was opened without an audit head signer, so it cannot append audit entries');
    const signed = await this.#tx(async (c) => {
      // lock before any row: every unit that appends takes the lock first, so no lock-order deadlock
      if (drafts.length) await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
      let head: AuditHead | undefined;
      for (const op of ops) {
        const h = await op(c);
        if (h) head = h as AuditHead;
      }
      return head && this.#checkpoint(c, head);
    });
    // only once committed: a rolled-back unit's head must not count as one the chain has to reach
    if (signed) this.#lastSigned = signed;
  }

  /** A StoreWriter that records each change as a query to run in the unit's transaction. */
  #recorder(ops: Op[], drafts: AuditDraft[]): StoreWriter {
    const run = (sql: string, args: unknown[]): void => void ops.push((c) => c.query(sql, args).then(() => undefined));
    const patch = (table: string, cols: Record<string, string>, id: string, p: Record<string, unknown>): void => {
      const keys = Object.keys(p).filter((k) => p[k] !== undefined);
      if (!keys.length) return;
      // column names come from the fixed maps, never from the caller; values are parameters
      const sets = keys.map((k, i) => `${cols[k]} = $${i + 1}`).join(', ');
      const vals = keys.map((k) => (k === 'progress' || k === 'result' ? (p[k] === null ? null : json(p[k])) : p[k]));
      run(`UPDATE ${table} SET ${sets} WHERE id = $${keys.length + 1}`, [...vals, id]);
    };
    return {
      insertModel: (m) => run(
        `INSERT INTO models (id, name, arch, source, format, files, param_count, owner_key_id, parent_model_id, created_by, created_at, meta)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [m.id, m.name, m.arch, m.source, m.format, json(m.files), m.paramCount, m.ownerKeyId, m.parentModelId, m.createdBy, m.createdAt, json(m.meta)],
      ),
      insertDataset: (d) => run(`INSERT INTO datasets (${DATASET_COLS.join(', ')}) VALUES (${DATASET_COLS.map((_, i) => `$${i + 1}`).join(', ')})`, datasetValues(d)),
      insertKey: (k) => run('INSERT INTO watermark_keys (id, model_id, kind, sealed, n, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [k.id, k.modelId, k.kind, k.sealed, k.n, k.createdAt]),
      insertCommitment: (c) => run(
        'INSERT INTO key_commitments (digest, sealed, jws, subject, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [c.digest, c.sealed, c.jws, c.subject, c.createdBy, c.createdAt],
      ),
      resealKey: (id, sealed) => run('UPDATE watermark_keys SET sealed = $1 WHERE id = $2', [sealed, id]),
      resealCommitment: (digest, sealed) => run('UPDATE key_commitments SET sealed = $1 WHERE digest = $2', [sealed, digest]),
      insertUploadSketch: (u, keep) => {
        run('INSERT INTO upload_sketches (verification_id, subject, signature, digest, sketch, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [u.verificationId, u.subject, u.signature, u.digest, sketchBytes(u), u.createdAt]);
        run('DELETE FROM upload_sketches WHERE subject = $1 AND verification_id NOT IN (SELECT verification_id FROM upload_sketches WHERE subject = $1 ORDER BY created_at DESC LIMIT $2)', [u.subject, keep]);
      },
      setModelOwnerKey: (modelId, keyId) => run('UPDATE models SET owner_key_id = $1 WHERE id = $2', [keyId, modelId]),
      insertJob: (j) => run(
        `INSERT INTO jobs (id, kind, status, input, progress, result, error, created_by, created_at, started_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [j.id, j.kind, j.status, json(j.input), j.progress ? json(j.progress) : null, j.result ? json(j.result) : null, j.error, j.createdBy, j.createdAt, j.startedAt, j.finishedAt],
      ),
      updateJob: (id, p) => patch('jobs', JOB_COLS, id, p),
      expectJobLease: (id, lease) => void ops.push(async (c) => {
        const held = (await c.query('SELECT lease FROM jobs WHERE id = $1 FOR UPDATE', [id])).rows[0] as Row | undefined;
        if (!held || (held.lease ?? null) !== lease) throw new LeaseLost(id);
      }),
      expectJobActive: (id) => void ops.push(async (c) => {
        const held = (await c.query('SELECT status FROM jobs WHERE id = $1 FOR UPDATE', [id])).rows[0] as Row | undefined;
        if (!held || ['succeeded', 'failed', 'cancelled'].includes(String(held.status))) throw new LeaseLost(id, `is already ${String(held?.status ?? 'gone')}`);
      }),
      insertRelease: (r) => run(
        `INSERT INTO releases (id, model_id, licensee, status, job_id, key_id, release_model_id, created_by, created_at, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [r.id, r.modelId, r.licensee, r.status, r.jobId, r.keyId, r.releaseModelId, r.createdBy, r.createdAt, r.error],
      ),
      updateRelease: (id, p) => patch('releases', REL_COLS, id, p),
      insertArtifact: (a) => run(
        `INSERT INTO release_artifacts (release_id, format, files, manifest_jws, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (release_id, format) DO UPDATE SET files = EXCLUDED.files, manifest_jws = EXCLUDED.manifest_jws, created_at = EXCLUDED.created_at`,
        [a.releaseId, a.format, json(a.files), a.manifestJws, a.createdAt],
      ),
      insertVerification: (v) => run(
        'INSERT INTO verifications (id, created_by, created_at, decision, p_value, report, report_jws, verdict, verdict_jws) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [v.id, v.createdBy, v.createdAt, v.decision, v.pValue, json(v.report), v.reportJws, json(v.verdict), v.verdictJws],
      ),
      appendAudit: (d) => {
        drafts.push(d);
        ops.push((c) => this.#append(c, d));
      },
    };
  }

  /** Appends one entry after the current head; runs under the audit lock, so the head cannot move meanwhile. */
  async #append(c: Client, d: AuditDraft): Promise<AuditHead> {
    const last = (await c.query('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1')).rows[0] as Row | undefined;
    const seq = last ? Number(last.seq) + 1 : 1;
    const prevHash = last ? String(last.hash) : GENESIS_HASH;
    const ts = new Date().toISOString();
    const hash = auditHash(prevHash, { ...d, seq, ts });
    await c.query(
      'INSERT INTO audit_events (seq, ts, actor, role, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [seq, ts, d.actor, d.role, d.action, d.target, json(d.details), prevHash, hash],
    );
    return { seq, headHash: hash, ts };
  }

  /** Signs and stores the head a unit left (inside its transaction). */
  async #checkpoint(c: Client, head: AuditHead): Promise<AuditCheckpoint> {
    const at = { seq: head.seq, headHash: head.headHash, ts: new Date().toISOString() };
    const cp = { ...at, ...this.#signHead!(at) };
    await c.query('INSERT INTO audit_checkpoints (seq, head_hash, ts, kid, jws) VALUES ($1, $2, $3, $4, $5)', [cp.seq, cp.headHash, cp.ts, cp.kid, cp.jws]);
    return cp;
  }

  async #one(sql: string, args: unknown[]): Promise<Row | undefined> {
    return (await this.#rows(sql, args))[0];
  }

  /** The first row mapped to its record, or undefined when there is none. */
  async #get<T>(map: (r: Row) => T, sql: string, args: unknown[]): Promise<T | undefined> {
    const r = await this.#one(sql, args);
    return r && map(r);
  }

  async #page<T>(table: string, w: { sql: string; args: unknown[] }, p: Page, map: (r: Row) => T): Promise<{ items: T[]; total: number }> {
    const n = w.args.length;
    const items = (await this.#rows(`SELECT * FROM ${table} ${w.sql} ORDER BY created_at DESC, id LIMIT $${n + 1} OFFSET $${n + 2}`, [...w.args, p.limit, p.offset])).map(map);
    const total = Number((await this.#one(`SELECT COUNT(*) AS n FROM ${table} ${w.sql}`, w.args))?.n ?? 0);
    return { items, total };
  }

  async getModel(id: string) {
    return this.#get(toModel, 'SELECT * FROM models WHERE id = $1', [id]);
  }
  async listModels(p: Page) {
    return this.#page('models', where([]), p, toModel);
  }
  async getDataset(id: string) {
    return this.#get(toDataset, 'SELECT * FROM datasets WHERE id = $1', [id]);
  }
  async getDatasetByDigest(digest: string) {
    return this.#get(toDataset, 'SELECT * FROM datasets WHERE digest = $1', [digest]);
  }
  async listDatasets(p: Page) {
    return this.#page('datasets', where([]), p, toDataset);
  }
  async getKey(id: string) {
    return this.#get(toKey, 'SELECT * FROM watermark_keys WHERE id = $1', [id]);
  }
  async listKeys() {
    return (await this.#rows('SELECT * FROM watermark_keys ORDER BY created_at, id')).map(toKey);
  }
  async listKeyRefs(): Promise<KeyRef[]> {
    return (await this.#rows('SELECT id, model_id, kind, n, created_at FROM watermark_keys ORDER BY created_at, id')).map(toKeyRef);
  }
  /** Keys are never deleted, so the count moves with every key added (SQLite adds its rowid; PostgreSQL rows have none). */
  async keyIndexVersion(): Promise<string> {
    const r = await this.#one('SELECT COUNT(*) AS n, MAX(created_at) AS t FROM watermark_keys', []);
    return `${r?.n ?? 0}:${r?.t ?? ''}`;
  }
  /** One statement: the increment and the limit check are atomic across replicas (the row is locked by the upsert). */
  async takeQuota(subject: string, day: string, limit: number): Promise<number | undefined> {
    if (limit <= 0) return undefined;
    const r = await this.#one(
      `INSERT INTO verification_quota (subject, day, count) VALUES ($1, $2, 1)
       ON CONFLICT (subject, day) DO UPDATE SET count = verification_quota.count + 1 WHERE verification_quota.count < $3
       RETURNING count`,
      [subject, day, limit],
    );
    return r ? Number(r.count) : undefined;
  }
  async recentUploadSketches(subject: string, signature: string, limit: number): Promise<UploadSketch[]> {
    return (await this.#rows('SELECT * FROM upload_sketches WHERE subject = $1 AND signature = $2 ORDER BY created_at DESC LIMIT $3', [subject, signature, limit])).map(toSketch);
  }
  async getCommitment(digest: string): Promise<CommitmentRecord | undefined> {
    return this.#get(toCommitment, 'SELECT * FROM key_commitments WHERE digest = $1', [digest]);
  }
  async listCommitments(): Promise<CommitmentRecord[]> {
    return (await this.#rows('SELECT * FROM key_commitments ORDER BY created_at, digest')).map(toCommitment);
  }
  async getJob(id: string) {
    return this.#get(toJob, 'SELECT * FROM jobs WHERE id = $1', [id]);
  }
  async listJobs(p: Page & { status?: JobStatus }) {
    return this.#page('jobs', where([['status =', p.status]]), p, toJob);
  }
  async getRelease(id: string) {
    return this.#get(toRelease, 'SELECT * FROM releases WHERE id = $1', [id]);
  }
  async listReleases(p: Page & { modelId?: string; licensee?: string }) {
    return this.#page('releases', where([['model_id =', p.modelId], ['licensee =', p.licensee]]), p, toRelease);
  }
  async getArtifact(releaseId: string, format: string) {
    return this.#get(toArtifact, 'SELECT * FROM release_artifacts WHERE release_id = $1 AND format = $2', [releaseId, format]);
  }
  async getVerification(id: string) {
    return this.#get(toVerification, 'SELECT * FROM verifications WHERE id = $1', [id]);
  }
  async listVerifications(p: Page & { createdBy?: string }) {
    return this.#page('verifications', where([['created_by =', p.createdBy]]), p, toVerification);
  }
  async listAudit(f: AuditFilter) {
    const w = where([['actor =', f.actor], ['action =', f.action], ['ts >=', f.since], ['seq >', f.afterSeq]]);
    return (await this.#rows(`SELECT * FROM audit_events ${w.sql} ORDER BY seq LIMIT $${w.args.length + 1}`, [...w.args, f.limit])).map(toAudit);
  }
  /** Pages by seq, so a long chain is never held in memory at once. */
  async eachAudit(fn: (e: AuditEvent) => void) {
    for (let after = 0; ;) {
      const rows = await this.#rows('SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2', [after, AUDIT_PAGE]);
      for (const r of rows) fn(toAudit(r));
      if (rows.length < AUDIT_PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }
  async latestAuditCheckpoint() {
    const r = await this.#one('SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1', []);
    const stored: AuditCheckpoint | undefined = r && toCheckpoint(r);
    return this.#lastSigned && (!stored || stored.seq < this.#lastSigned.seq) ? this.#lastSigned : stored;
  }
  async ping() {
    await this.pool.query('SELECT 1');
  }
  #closed: Promise<void> | undefined;
  async close() {
    await (this.#closed ??= this.pool.end());
  }
}
