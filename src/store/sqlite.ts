/**
 * The embedded store: SQLite through better-sqlite3 (WAL, foreign keys on, numbered migrations).
 * better-sqlite3 is synchronous, so a `write()` unit runs inside one SQLite transaction and the audit
 * chain's "read the last hash, append the next" cannot interleave; a unit that appended entries ends
 * with a signed checkpoint of the new head (audit_checkpoints), committed with them.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { auditHash, GENESIS_HASH } from './auditChain.js';
import type { CommitmentRecord, KeyRef, UploadSketch, AuditDraft, AuditEvent, AuditFilter, JobStatus, Page, Store, StoreWriter } from './types.js';
import {
  json, toArtifact, toDataset, datasetValues, DATASET_COLS, toAudit, toCheckpoint, toCommitment, toJob, toKey, toKeyRef, toModel, toRelease, toSketch, toVerification, sketchBytes, JOB_COLS, REL_COLS, type Row,
} from './rows.js';

export { toAudit } from './rows.js';
import type { AuditCheckpoint, AuditHead, AuditHeadSigner } from './types.js';
import { LeaseLost } from './types.js';

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly db: Database.Database;
  readonly #writer: StoreWriter;
  readonly #signHead: AuditHeadSigner | undefined;
  readonly #insCheckpoint: Database.Statement;
  /** The head the current write unit has appended up to (undefined: no audit entry yet). */
  #unitHead: AuditHead | undefined;
  /** The newest checkpoint this process committed: deleting its row under us does not hide it. */
  #lastSigned: AuditCheckpoint | undefined;

  /**
   * Opens (creating if needed) `<dataDir>/weightmark.db` and applies pending migrations. Without
   * `signHead` the store can read but refuses units that append audit entries: the chain must not
   * grow past its last signed head unanchored.
   */
  constructor(file: string, opts: { signHead?: AuditHeadSigner } = {}) {
    this.#signHead = opts.signHead;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // create the file 0600 before SQLite does (it would use 0644); its -wal and -shm take the same mode
    if (file !== ':memory:') fs.closeSync(fs.openSync(file, 'a', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.#migrate();
    this.#writer = this.#makeWriter();
    this.#insCheckpoint = this.db.prepare('INSERT INTO audit_checkpoints (seq, head_hash, ts, kid, jws) VALUES (?, ?, ?, ?, ?)');
  }

  #migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set(this.db.prepare('SELECT version FROM schema_migrations').all().map((r) => Number((r as Row).version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      })();
    }
  }

  /** Statements prepared once per SQL text: preparing is a parse and plan per call otherwise. */
  readonly #statements = new Map<string, Database.Statement>();
  #q(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) this.#statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  schemaVersion(): number {
    return Number((this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as Row).v ?? 0);
  }

  #makeWriter(): StoreWriter {
    const db = this.db;
    const insModel = db.prepare(`INSERT INTO models (id, name, arch, source, format, files, param_count, owner_key_id, parent_model_id, created_by, created_at, meta)
      VALUES (@id, @name, @arch, @source, @format, @files, @paramCount, @ownerKeyId, @parentModelId, @createdBy, @createdAt, @meta)`);
    const insDataset = db.prepare(`INSERT INTO datasets (${DATASET_COLS.join(', ')}) VALUES (${DATASET_COLS.map(() => '?').join(', ')})`);
    const insKey = db.prepare('INSERT INTO watermark_keys (id, model_id, kind, sealed, n, created_at) VALUES (@id, @modelId, @kind, @sealed, @n, @createdAt)');
    const setOwner = db.prepare('UPDATE models SET owner_key_id = ? WHERE id = ?');
    const insSketch = db.prepare('INSERT INTO upload_sketches (verification_id, subject, signature, digest, sketch, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    const trimSketches = db.prepare('DELETE FROM upload_sketches WHERE subject = ? AND verification_id NOT IN (SELECT verification_id FROM upload_sketches WHERE subject = ? ORDER BY created_at DESC LIMIT ?)');
    const resealKey = db.prepare('UPDATE watermark_keys SET sealed = ? WHERE id = ?');
    const resealCommitment = db.prepare('UPDATE key_commitments SET sealed = ? WHERE digest = ?');
    const insCommitment = db.prepare('INSERT INTO key_commitments (digest, sealed, jws, subject, created_by, created_at) VALUES (@digest, @sealed, @jws, @subject, @createdBy, @createdAt)');
    const insJob = db.prepare(`INSERT INTO jobs (id, kind, status, input, progress, result, error, created_by, created_at, started_at, finished_at)
      VALUES (@id, @kind, @status, @input, @progress, @result, @error, @createdBy, @createdAt, @startedAt, @finishedAt)`);
    const insRel = db.prepare(`INSERT INTO releases (id, model_id, licensee, status, job_id, key_id, release_model_id, created_by, created_at, error)
      VALUES (@id, @modelId, @licensee, @status, @jobId, @keyId, @releaseModelId, @createdBy, @createdAt, @error)`);
    const insArt = db.prepare('INSERT OR REPLACE INTO release_artifacts (release_id, format, files, manifest_jws, created_at) VALUES (?, ?, ?, ?, ?)');
    const insVer = db.prepare('INSERT INTO verifications (id, created_by, created_at, decision, p_value, report, report_jws, verdict, verdict_jws) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const lastAudit = db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    const insAudit = db.prepare('INSERT INTO audit_events (seq, ts, actor, role, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const patch = (table: string, cols: Record<string, string>, id: string, p: Record<string, unknown>): void => {
      const keys = Object.keys(p).filter((k) => p[k] !== undefined);
      if (!keys.length) return;
      const sets = keys.map((k) => `${cols[k]} = ?`).join(', ');
      const vals = keys.map((k) => (k === 'progress' || k === 'result' ? (p[k] === null ? null : json(p[k])) : p[k]));
      db.prepare(`UPDATE ${table} SET ${sets} WHERE id = ?`).run(...vals, id);
    };
    return {
      insertModel: (m) => insModel.run({ ...m, files: json(m.files), meta: json(m.meta) }),
      insertDataset: (d) => insDataset.run(...datasetValues(d)),
      insertKey: (k) => insKey.run(k),
      insertCommitment: (c) => insCommitment.run(c),
      resealKey: (id, sealed) => void resealKey.run(sealed, id),
      resealCommitment: (digest, sealed) => void resealCommitment.run(sealed, digest),
      insertUploadSketch: (u, keep) => {
        insSketch.run(u.verificationId, u.subject, u.signature, u.digest, sketchBytes(u), u.createdAt);
        trimSketches.run(u.subject, u.subject, keep);
      },
      setModelOwnerKey: (modelId, keyId) => setOwner.run(keyId, modelId),
      insertJob: (j) => insJob.run({ ...j, input: json(j.input), progress: j.progress ? json(j.progress) : null, result: j.result ? json(j.result) : null }),
      updateJob: (id, p) => patch('jobs', JOB_COLS, id, p),
      expectJobLease: (id, lease) => {
        const held = this.#q('SELECT lease FROM jobs WHERE id = ?').get(id) as Row | undefined;
        if (!held || (held.lease ?? null) !== lease) throw new LeaseLost(id);
      },
      expectJobActive: (id) => {
        const held = this.#q('SELECT status FROM jobs WHERE id = ?').get(id) as Row | undefined;
        if (!held || ['succeeded', 'failed', 'cancelled'].includes(String(held.status))) throw new LeaseLost(id, `is already ${String(held?.status ?? 'gone')}`);
      },
      insertRelease: (r) => insRel.run(r),
      updateRelease: (id, p) => patch('releases', REL_COLS, id, p),
      insertArtifact: (a) => insArt.run(a.releaseId, a.format, json(a.files), a.manifestJws, a.createdAt),
      insertVerification: (v) => insVer.run(v.id, v.createdBy, v.createdAt, v.decision, v.pValue, json(v.report), v.reportJws, json(v.verdict), v.verdictJws),
      appendAudit: (d: AuditDraft) => {
        const last = lastAudit.get() as Row | undefined;
        const seq = last ? Number(last.seq) + 1 : 1;
        const prevHash = last ? String(last.hash) : GENESIS_HASH;
        const ts = new Date().toISOString();
        const hash = auditHash(prevHash, { ...d, seq, ts });
        insAudit.run(seq, ts, d.actor, d.role, d.action, d.target, json(d.details), prevHash, hash);
        this.#unitHead = { seq, headHash: hash, ts };
      },
    };
  }

  async write(fn: (w: StoreWriter) => void): Promise<void> {
    let signed: AuditCheckpoint | undefined;
    try {
      this.db.transaction(() => {
        this.#unitHead = undefined;
        fn(this.#writer);
        const head = this.#unitHead as AuditHead | undefined; // set by appendAudit inside fn
        if (head) signed = this.#checkpoint(head.seq, head.headHash);
      }).immediate();
    } finally {
      this.#unitHead = undefined;
    }
    // only once committed: a rolled-back unit's head must not count as one the chain has to reach
    if (signed) this.#lastSigned = signed;
  }

  /** Signs and stores the head a unit left (inside its transaction). */
  #checkpoint(seq: number, headHash: string): AuditCheckpoint {
    if (!this.#signHead) throw new Error('this store was opened without an audit head signer, so it cannot append audit entries');
    const head = { seq, headHash, ts: new Date().toISOString() };
    const cp = { ...head, ...this.#signHead(head) };
    this.#insCheckpoint.run(cp.seq, cp.headHash, cp.ts, cp.kid, cp.jws);
    return cp;
  }

  async getModel(id: string) {
    const r = this.#q('SELECT * FROM models WHERE id = ?').get(id) as Row | undefined;
    return r && toModel(r);
  }
  async listModels(p: Page) {
    const items = (this.#q('SELECT * FROM models ORDER BY created_at DESC, id LIMIT ? OFFSET ?').all(p.limit, p.offset) as Row[]).map(toModel);
    const total = Number((this.#q('SELECT COUNT(*) AS n FROM models').get() as Row).n);
    return { items, total };
  }
  async getDataset(id: string) {
    const r = this.#q('SELECT * FROM datasets WHERE id = ?').get(id) as Row | undefined;
    return r && toDataset(r);
  }
  async getDatasetByDigest(digest: string) {
    const r = this.#q('SELECT * FROM datasets WHERE digest = ?').get(digest) as Row | undefined;
    return r && toDataset(r);
  }
  async listDatasets(p: Page) {
    const items = (this.#q('SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT ? OFFSET ?').all(p.limit, p.offset) as Row[]).map(toDataset);
    const total = Number((this.#q('SELECT COUNT(*) AS n FROM datasets').get() as Row).n);
    return { items, total };
  }
  async getKey(id: string) {
    const r = this.#q('SELECT * FROM watermark_keys WHERE id = ?').get(id) as Row | undefined;
    return r && toKey(r);
  }
  async listKeys() {
    return (this.#q('SELECT * FROM watermark_keys ORDER BY created_at, id').all() as Row[]).map(toKey);
  }
  async listKeyRefs(): Promise<KeyRef[]> {
    return (this.#q('SELECT id, model_id, kind, n, created_at FROM watermark_keys ORDER BY created_at, id').all() as Row[]).map(toKeyRef);
  }
  async keyIndexVersion(): Promise<string> {
    const r = this.#q('SELECT COUNT(*) AS n, MAX(rowid) AS m FROM watermark_keys').get() as Row;
    return `${r.n}:${r.m ?? 0}`;
  }
  async takeQuota(subject: string, day: string, limit: number): Promise<number | undefined> {
    return this.db.transaction(() => {
      const r = this.#q('SELECT count FROM verification_quota WHERE subject = ? AND day = ?').get(subject, day) as Row | undefined;
      const used = r ? Number(r.count) : 0;
      if (used >= limit) return undefined;
      this.#q('INSERT INTO verification_quota (subject, day, count) VALUES (?, ?, 1) ON CONFLICT(subject, day) DO UPDATE SET count = count + 1').run(subject, day);
      return used + 1;
    }).immediate();
  }
  async recentUploadSketches(subject: string, signature: string, limit: number): Promise<UploadSketch[]> {
    return (this.#q('SELECT * FROM upload_sketches WHERE subject = ? AND signature = ? ORDER BY created_at DESC LIMIT ?').all(subject, signature, limit) as Row[]).map(toSketch);
  }
  async getCommitment(digest: string): Promise<CommitmentRecord | undefined> {
    const r = this.#q('SELECT * FROM key_commitments WHERE digest = ?').get(digest) as Row | undefined;
    return r && toCommitment(r);
  }
  async listCommitments(): Promise<CommitmentRecord[]> {
    return (this.#q('SELECT * FROM key_commitments ORDER BY created_at, digest').all() as Row[]).map(toCommitment);
  }
  async getJob(id: string) {
    const r = this.#q('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r && toJob(r);
  }
  async listJobs(p: Page & { status?: JobStatus }) {
    const where = p.status ? 'WHERE status = ?' : '';
    const args = p.status ? [p.status] : [];
    const items = (this.#q(`SELECT * FROM jobs ${where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`).all(...args, p.limit, p.offset) as Row[]).map(toJob);
    const total = Number((this.#q(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(...args) as Row).n);
    return { items, total };
  }
  async getRelease(id: string) {
    const r = this.#q('SELECT * FROM releases WHERE id = ?').get(id) as Row | undefined;
    return r && toRelease(r);
  }
  async listReleases(p: Page & { modelId?: string; licensee?: string }) {
    const conds: string[] = [];
    const args: unknown[] = [];
    if (p.modelId) (conds.push('model_id = ?'), args.push(p.modelId));
    if (p.licensee) (conds.push('licensee = ?'), args.push(p.licensee));
    const where = conds.length ? 'WHERE ' + conds.join(' AND ') : '';
    const items = (this.#q(`SELECT * FROM releases ${where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`).all(...args, p.limit, p.offset) as Row[]).map(toRelease);
    const total = Number((this.#q(`SELECT COUNT(*) AS n FROM releases ${where}`).get(...args) as Row).n);
    return { items, total };
  }
  async getArtifact(releaseId: string, format: string) {
    const r = this.#q('SELECT * FROM release_artifacts WHERE release_id = ? AND format = ?').get(releaseId, format) as Row | undefined;
    return r && toArtifact(r);
  }
  async getVerification(id: string) {
    const r = this.#q('SELECT * FROM verifications WHERE id = ?').get(id) as Row | undefined;
    return r && toVerification(r);
  }
  async listVerifications(p: Page & { createdBy?: string }) {
    const where = p.createdBy ? 'WHERE created_by = ?' : '';
    const args = p.createdBy ? [p.createdBy] : [];
    const items = (this.#q(`SELECT * FROM verifications ${where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`).all(...args, p.limit, p.offset) as Row[]).map(toVerification);
    const total = Number((this.#q(`SELECT COUNT(*) AS n FROM verifications ${where}`).get(...args) as Row).n);
    return { items, total };
  }
  async listAudit(f: AuditFilter) {
    const conds: string[] = [];
    const args: unknown[] = [];
    if (f.actor) (conds.push('actor = ?'), args.push(f.actor));
    if (f.action) (conds.push('action = ?'), args.push(f.action));
    if (f.since) (conds.push('ts >= ?'), args.push(f.since));
    if (f.afterSeq !== undefined) (conds.push('seq > ?'), args.push(f.afterSeq));
    const where = conds.length ? 'WHERE ' + conds.join(' AND ') : '';
    return (this.#q(`SELECT * FROM audit_events ${where} ORDER BY seq LIMIT ?`).all(...args, f.limit) as Row[]).map(toAudit);
  }
  async eachAudit(fn: (e: AuditEvent) => void) {
    for (const r of this.#q('SELECT * FROM audit_events ORDER BY seq').iterate()) fn(toAudit(r as Row));
  }
  async latestAuditCheckpoint() {
    const r = this.#q('SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
    const stored: AuditCheckpoint | undefined = r && toCheckpoint(r);
    return this.#lastSigned && (!stored || stored.seq < this.#lastSigned.seq) ? this.#lastSigned : stored;
  }
  async ping() {
    this.#q('SELECT 1').get();
  }
  async close() {
    if (this.db.open) this.db.close();
  }
}
