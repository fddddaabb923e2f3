/**
 * The store's contract. SQLite (./sqlite.ts) fills it today; a PostgreSQL implementation can fill it
 * later: reads are async, and every change goes through `write()`, one atomic unit of work whose
 * writer methods only describe changes (ids and timestamps are made by the caller), so a networked
 * engine can run them in one transaction. The audit event of a change is appended in the same unit,
 * and a unit that appended audit events also stores a signed checkpoint of the chain's new head, made
 * by the `AuditHeadSigner` the store was built with (so deleting the newest entries is detectable).
 */
import type { Role } from '../crypto/signing.js';
import type { DatasetSummary } from '../data/uploadedDataset.js';

export interface FileRef {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
}

export type ModelSource = 'upload' | 'training' | 'release';

export interface ModelRecord {
  readonly id: string;
  readonly name: string;
  readonly arch: string | null;
  readonly source: ModelSource;
  /** Format of `files`: what was uploaded, or 'safetensors' for param sets the service made. */
  readonly format: string;
  readonly files: readonly FileRef[];
  readonly paramCount: number;
  readonly ownerKeyId: string | null;
  readonly parentModelId: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly meta: Readonly<Record<string, unknown>>;
}

/**
 * An uploaded dataset: the facts its content gave (src/data/uploadedDataset.ts DatasetSummary: digest,
 * shape, classes, split, statistics) and where its canonical images and labels are (one blob, named by
 * the digest: one record per content).
 */
export interface DatasetRecord extends DatasetSummary {
  readonly id: string;
  readonly name: string;
  /** What was uploaded: 'image-zip', 'npz' or 'idx'. */
  readonly format: string;
  readonly file: FileRef;
  readonly createdBy: string;
  readonly createdAt: string;
}

export type KeyKind = 'owner' | 'licensee';

export interface KeyRecord {
  readonly id: string;
  /** The model the key is embedded in (for a licensee key: the release's model). */
  readonly modelId: string;
  readonly kind: KeyKind;
  /** The watermark key JSON, sealed with the master key (AES-256-GCM, AAD = key id). */
  readonly sealed: string;
  readonly n: number;
  readonly createdAt: string;
}

/** A key commitment, made before the key's training starts (see core/commitment.ts). */
export interface CommitmentRecord {
  /** The public sha256 digest of the commitment. */
  readonly digest: string;
  /** The commitment itself (it holds the secret nonce), sealed with the master key (AAD = digest). */
  readonly sealed: string;
  /** The service's signed statement {digest, committedAt, owner, subject}: ES256 JWS, checkable against the JWKS. */
  readonly jws: string;
  readonly subject: string;
  readonly createdBy: string;
  readonly createdAt: string;
}

/** A key without its sealed secret: enough to index candidates. */
export type KeyRef = Omit<KeyRecord, 'sealed'>;

/** A compact fingerprint of an uploaded suspect, kept to spot near-identical re-uploads (probing). */
export interface UploadSketch {
  readonly verificationId: string;
  readonly subject: string;
  /** Tensor names and shapes: sketches are comparable only between suspects of one signature. */
  readonly signature: string;
  /** sha256 of the uploaded files. */
  readonly digest: string;
  readonly sketch: Float32Array;
  readonly createdAt: string;
}

export type ReleaseStatus = 'pending' | 'ready' | 'failed';

export interface ReleaseRecord {
  readonly id: string;
  /** The owner's model the release was made from. */
  readonly modelId: string;
  readonly licensee: string;
  readonly status: ReleaseStatus;
  readonly jobId: string | null;
  readonly keyId: string | null;
  readonly releaseModelId: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly error: string | null;
}

export interface ReleaseArtifact {
  readonly releaseId: string;
  readonly format: string;
  readonly files: readonly FileRef[];
  readonly manifestJws: string;
  readonly createdAt: string;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobKind = 'train' | 'release' | 'attack';

export interface JobRecord {
  readonly id: string;
  readonly kind: JobKind;
  readonly status: JobStatus;
  /** The request, without secrets. */
  readonly input: Readonly<Record<string, unknown>>;
  readonly progress: Readonly<Record<string, unknown>> | null;
  readonly result: Readonly<Record<string, unknown>> | null;
  readonly error: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface VerificationRecord {
  readonly id: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly decision: 'match' | 'no match';
  readonly pValue: number;
  /** The full report (admin, auditor) and its JWS. */
  readonly report: Readonly<Record<string, unknown>>;
  readonly reportJws: string;
  /** The verdict any role may read (decision-level figures only) and its JWS. */
  readonly verdict: Readonly<Record<string, unknown>>;
  readonly verdictJws: string;
}

export interface AuditDraft {
  readonly actor: string;
  readonly role: Role | 'system';
  readonly action: string;
  readonly target: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditEvent extends AuditDraft {
  readonly seq: number;
  readonly ts: string;
  readonly prevHash: string;
  readonly hash: string;
}

/** A head of the audit chain: the seq and hash of its last entry, and when the head was taken. */
export interface AuditHead {
  readonly seq: number;
  readonly headHash: string;
  readonly ts: string;
}

/** A head the service signed: `jws` is a compact JWS (ES256) over the head, `kid` its key. */
export interface AuditCheckpoint extends AuditHead {
  readonly kid: string;
  readonly jws: string;
}

/**
 * Signs a head. The store calls it inside the write unit, so the checkpoint commits (or not) with the
 * entries it covers; it must be synchronous and quick (ES256: well under a millisecond).
 */
export type AuditHeadSigner = (head: AuditHead) => { kid: string; jws: string };

export interface AuditFilter {
  actor?: string;
  action?: string;
  since?: string;
  afterSeq?: number;
  limit: number;
}

export interface Page {
  limit: number;
  offset: number;
}

export type JobPatch = Partial<Pick<JobRecord, 'status' | 'progress' | 'result' | 'error' | 'startedAt' | 'finishedAt'>> & {
  /** The attempt that holds the job (queue mode): only it may settle the job (see `expectJobLease`). */
  lease?: string | null;
};
export type ReleasePatch = Partial<Pick<ReleaseRecord, 'status' | 'keyId' | 'releaseModelId' | 'error'>>;

/** Describes the changes of one atomic unit of work. */
export interface StoreWriter {
  insertModel(m: ModelRecord): void;
  insertDataset(d: DatasetRecord): void;
  insertKey(k: KeyRecord): void;
  insertCommitment(c: CommitmentRecord): void;
  insertUploadSketch(s: UploadSketch, keepPerSubject: number): void;
  setModelOwnerKey(modelId: string, keyId: string): void;
  insertJob(j: JobRecord): void;
  updateJob(id: string, patch: JobPatch): void;
  /** Aborts the whole unit unless the job's lease is still `lease` (null: no attempt holds it): an attempt that lost its job cannot settle it. */
  expectJobLease(id: string, lease: string | null): void;
  /** Aborts the whole unit when the job is already final (succeeded, failed or cancelled). */
  expectJobActive(id: string): void;
  insertRelease(r: ReleaseRecord): void;
  updateRelease(id: string, patch: ReleasePatch): void;
  insertArtifact(a: ReleaseArtifact): void;
  insertVerification(v: VerificationRecord): void;
  appendAudit(d: AuditDraft): void;
  /** Replaces a watermark key's sealed secret (master-key rotation). */
  resealKey(id: string, sealed: string): void;
  /** Replaces a commitment's sealed secret (master-key rotation). */
  resealCommitment(digest: string, sealed: string): void;
}

export interface Store {
  write(fn: (w: StoreWriter) => void): Promise<void>;

  getModel(id: string): Promise<ModelRecord | undefined>;
  listModels(page: Page): Promise<{ items: ModelRecord[]; total: number }>;
  getDataset(id: string): Promise<DatasetRecord | undefined>;
  /** The dataset of this content, if it was uploaded before. */
  getDatasetByDigest(digest: string): Promise<DatasetRecord | undefined>;
  listDatasets(page: Page): Promise<{ items: DatasetRecord[]; total: number }>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  /** Every key on record, for verifying a suspect against all of them. */
  listKeys(): Promise<KeyRecord[]>;
  getCommitment(digest: string): Promise<CommitmentRecord | undefined>;
  listCommitments(): Promise<CommitmentRecord[]>;
  /** Every key without its secret. */
  listKeyRefs(): Promise<KeyRef[]>;
  /** Changes whenever a key is added: candidate indexes rebuild when it moves. */
  keyIndexVersion(): Promise<string>;
  /** Adds one to the subject's count for the day (UTC, YYYY-MM-DD) if it stays ≤ limit; returns the count, or undefined when the limit is reached. */
  takeQuota(subject: string, day: string, limit: number): Promise<number | undefined>;
  recentUploadSketches(subject: string, signature: string, limit: number): Promise<UploadSketch[]>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(page: Page & { status?: JobStatus }): Promise<{ items: JobRecord[]; total: number }>;
  getRelease(id: string): Promise<ReleaseRecord | undefined>;
  listReleases(page: Page & { modelId?: string; licensee?: string }): Promise<{ items: ReleaseRecord[]; total: number }>;
  getArtifact(releaseId: string, format: string): Promise<ReleaseArtifact | undefined>;
  getVerification(id: string): Promise<VerificationRecord | undefined>;
  listVerifications(page: Page & { createdBy?: string }): Promise<{ items: VerificationRecord[]; total: number }>;
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;
  /** Walks the whole chain in order. */
  eachAudit(fn: (e: AuditEvent) => void): Promise<void>;
  /**
   * The latest signed head: the newest stored checkpoint, or the newest one this process wrote when
   * that is newer (its row was deleted under the running service). Undefined before the first one.
   */
  latestAuditCheckpoint(): Promise<AuditCheckpoint | undefined>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown inside a write unit (which is then rolled back) when the job is no longer as the unit expected it. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
  constructor(readonly jobId: string, why = 'was taken over by another attempt or cancelled') {
    super(`job ${jobId} ${why}; this unit of work is dropped`);
  }
}
