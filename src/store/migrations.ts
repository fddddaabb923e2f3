/** Numbered, append-only schema migrations. Never edit a shipped one: add the next number. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE models (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        arch TEXT,
        source TEXT NOT NULL CHECK (source IN ('upload','training','release')),
        format TEXT NOT NULL,
        files TEXT NOT NULL,
        param_count INTEGER NOT NULL,
        owner_key_id TEXT,
        parent_model_id TEXT REFERENCES models(id),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
      );
      CREATE TABLE watermark_keys (
        id TEXT PRIMARY KEY,
        model_id TEXT NOT NULL REFERENCES models(id),
        kind TEXT NOT NULL CHECK (kind IN ('owner','licensee')),
        sealed TEXT NOT NULL,
        n INTEGER NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
        input TEXT NOT NULL,
        progress TEXT,
        result TEXT,
        error TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
      );
      CREATE INDEX jobs_status ON jobs(status, created_at);
      CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        model_id TEXT NOT NULL REFERENCES models(id),
        licensee TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending','ready','failed')),
        job_id TEXT REFERENCES jobs(id),
        key_id TEXT REFERENCES watermark_keys(id),
        release_model_id TEXT REFERENCES models(id),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        error TEXT
      );
      CREATE INDEX releases_model ON releases(model_id);
      CREATE INDEX releases_licensee ON releases(licensee);
      CREATE TABLE release_artifacts (
        release_id TEXT NOT NULL REFERENCES releases(id),
        format TEXT NOT NULL,
        files TEXT NOT NULL,
        manifest_jws TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (release_id, format)
      );
      CREATE TABLE verifications (
        id TEXT PRIMARY KEY,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        decision TEXT NOT NULL,
        p_value REAL NOT NULL,
        report TEXT NOT NULL,
        report_jws TEXT NOT NULL
      );
      CREATE INDEX verifications_by ON verifications(created_by, created_at);
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_actor ON audit_events(actor, seq);
      CREATE INDEX audit_action ON audit_events(action, seq);
    `,
  },
  {
    version: 2,
    name: 'signed audit checkpoints',
    // one row per write unit that appended audit entries: the head it left, signed (ES256 JWS). The
    // jws is the record; the other columns are for lookup and are checked against its payload.
    sql: `
      CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY,
        head_hash TEXT NOT NULL,
        ts TEXT NOT NULL,
        kid TEXT NOT NULL,
        jws TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'key commitments',
    sql: `
      CREATE TABLE key_commitments (
        digest TEXT PRIMARY KEY,
        sealed TEXT NOT NULL,
        jws TEXT NOT NULL,
        subject TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );`,
  },
  {
    version: 4,
    name: 'verification quotas and upload sketches',
    sql: `
      CREATE TABLE verification_quota (
        subject TEXT NOT NULL,
        day TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (subject, day)
      );
      CREATE TABLE upload_sketches (
        verification_id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        signature TEXT NOT NULL,
        digest TEXT NOT NULL,
        sketch BLOB NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX upload_sketches_subject ON upload_sketches(subject, created_at);
      ALTER TABLE verifications ADD COLUMN verdict TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE verifications ADD COLUMN verdict_jws TEXT NOT NULL DEFAULT '';`,
  },
  {
    version: 5,
    name: 'state shared by replicas and workers',
    // lease: which attempt of a job may complete it (a worker presumed dead may still be running);
    // event_tickets, rate_windows: what a single process kept in memory; job_checkpoints: where the
    // worker that takes over a training job finds the last checkpoint (its files are blobs)
    sql: `
      ALTER TABLE jobs ADD COLUMN lease TEXT;
      CREATE TABLE event_tickets (
        digest TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        principal TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX event_tickets_subject ON event_tickets(subject, expires_at);
      CREATE TABLE rate_windows (
        key TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (key, window_start)
      );
      CREATE TABLE job_checkpoints (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id),
        epoch INTEGER NOT NULL,
        files TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );`,
  },
  {
    version: 6,
    name: 'uploaded datasets',
    // content-addressed: digest is the canonical bytes' sha256, unique, so an identical upload finds its record
    sql: `
      CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        file TEXT NOT NULL,
        shape TEXT NOT NULL,
        samples INTEGER NOT NULL,
        classes TEXT NOT NULL,
        class_counts TEXT NOT NULL,
        split TEXT NOT NULL,
        mean TEXT NOT NULL,
        std TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX datasets_created ON datasets(created_at);`,
  },
];

/**
 * The PostgreSQL text of a migration. The list above is written in SQLite's dialect, and keeps only
 * the few type names whose meaning differs: SQLite's INTEGER is 64-bit (PostgreSQL's is 32), REAL is
 * a double (PostgreSQL's is 4 bytes, too coarse for p-values), BLOB is PostgreSQL's BYTEA. Everything
 * else (TEXT, CHECK, REFERENCES, ALTER TABLE … ADD COLUMN) means the same in both; the store contract
 * test checks that both engines end with the same tables and columns.
 */
export function postgresSql(m: Migration): string {
  return m.sql.replace(/\bINTEGER\b/g, 'BIGINT').replace(/\bREAL\b/g, 'DOUBLE PRECISION').replace(/\bBLOB\b/g, 'BYTEA');
}
