/**
 * Row ↔ record mapping shared by the SQLite and PostgreSQL stores: both keep the same columns (JSON as
 * TEXT, timestamps as ISO TEXT), so one mapping serves both. Numbers go through Number() because
 * PostgreSQL returns BIGINT as a string.
 */
import type { DatasetRecord, JobPatch, JobRecord, JobStatus, KeyRecord, KeyRef, ModelRecord, ReleaseArtifact, ReleasePatch, ReleaseRecord, UploadSketch, VerificationRecord, AuditEvent, AuditCheckpoint, CommitmentRecord } from './types.js';

export type Row = Record<string, unknown>;
export const json = (v: unknown): string => JSON.stringify(v ?? null);
export const parse = <T>(v: unknown): T => JSON.parse(String(v)) as T;

export function toModel(r: Row): ModelRecord {
  return {
    id: String(r.id), name: String(r.name), arch: (r.arch as string | null) ?? null, source: r.source as ModelRecord['source'],
    format: String(r.format), files: parse(r.files), paramCount: Number(r.param_count), ownerKeyId: (r.owner_key_id as string | null) ?? null,
    parentModelId: (r.parent_model_id as string | null) ?? null, createdBy: String(r.created_by), createdAt: String(r.created_at), meta: parse(r.meta),
  };
}
export function toDataset(r: Row): DatasetRecord {
  return {
    id: String(r.id), name: String(r.name), format: String(r.format), digest: String(r.digest), file: parse(r.file), shape: parse(r.shape),
    samples: Number(r.samples), classes: parse(r.classes), classCounts: parse(r.class_counts), split: parse(r.split), mean: parse(r.mean), std: parse(r.std),
    createdBy: String(r.created_by), createdAt: String(r.created_at),
  };
}
/** A dataset's column values in the order of DATASET_COLS. */
export const DATASET_COLS = ['id', 'name', 'format', 'digest', 'file', 'shape', 'samples', 'classes', 'class_counts', 'split', 'mean', 'std', 'created_by', 'created_at'] as const;
export function datasetValues(d: DatasetRecord): unknown[] {
  return [d.id, d.name, d.format, d.digest, json(d.file), json(d.shape), d.samples, json(d.classes), json(d.classCounts), json(d.split), json(d.mean), json(d.std), d.createdBy, d.createdAt];
}
export function toKey(r: Row): KeyRecord {
  return { id: String(r.id), modelId: String(r.model_id), kind: r.kind as KeyRecord['kind'], sealed: String(r.sealed), n: Number(r.n), createdAt: String(r.created_at) };
}
export function toJob(r: Row): JobRecord {
  return {
    id: String(r.id), kind: r.kind as JobRecord['kind'], status: r.status as JobStatus, input: parse(r.input),
    progress: r.progress == null ? null : parse(r.progress), result: r.result == null ? null : parse(r.result), error: (r.error as string | null) ?? null,
    createdBy: String(r.created_by), createdAt: String(r.created_at), startedAt: (r.started_at as string | null) ?? null, finishedAt: (r.finished_at as string | null) ?? null,
  };
}
export function toRelease(r: Row): ReleaseRecord {
  return {
    id: String(r.id), modelId: String(r.model_id), licensee: String(r.licensee), status: r.status as ReleaseRecord['status'],
    jobId: (r.job_id as string | null) ?? null, keyId: (r.key_id as string | null) ?? null, releaseModelId: (r.release_model_id as string | null) ?? null,
    createdBy: String(r.created_by), createdAt: String(r.created_at), error: (r.error as string | null) ?? null,
  };
}
export function toArtifact(r: Row): ReleaseArtifact {
  return { releaseId: String(r.release_id), format: String(r.format), files: parse(r.files), manifestJws: String(r.manifest_jws), createdAt: String(r.created_at) };
}
export function toVerification(r: Row): VerificationRecord {
  return {
    id: String(r.id), createdBy: String(r.created_by), createdAt: String(r.created_at), decision: r.decision as VerificationRecord['decision'],
    pValue: Number(r.p_value), report: parse(r.report), reportJws: String(r.report_jws), verdict: parse(r.verdict ?? '{}'), verdictJws: String(r.verdict_jws ?? ''),
  };
}
export function toAudit(r: Row): AuditEvent {
  return {
    seq: Number(r.seq), ts: String(r.ts), actor: String(r.actor), role: r.role as AuditEvent['role'], action: String(r.action),
    target: (r.target as string | null) ?? null, details: parse(r.details), prevHash: String(r.prev_hash), hash: String(r.hash),
  };
}

export const JOB_COLS: Record<keyof JobPatch, string> = { status: 'status', progress: 'progress', result: 'result', error: 'error', startedAt: 'started_at', finishedAt: 'finished_at', lease: 'lease' };
export const REL_COLS: Record<keyof ReleasePatch, string> = { status: 'status', keyId: 'key_id', releaseModelId: 'release_model_id', error: 'error' };

export function toKeyRef(r: Row): KeyRef {
  return { id: String(r.id), modelId: String(r.model_id), kind: r.kind as KeyRef['kind'], n: Number(r.n), createdAt: String(r.created_at) };
}
export function toSketch(r: Row): UploadSketch {
  const b = r.sketch as Buffer;
  return {
    verificationId: String(r.verification_id), subject: String(r.subject), signature: String(r.signature), digest: String(r.digest),
    sketch: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), createdAt: String(r.created_at),
  };
}
export function toCommitment(r: Row): CommitmentRecord {
  return { digest: String(r.digest), sealed: String(r.sealed), jws: String(r.jws), subject: String(r.subject), createdBy: String(r.created_by), createdAt: String(r.created_at) };
}
export function toCheckpoint(r: Row): AuditCheckpoint {
  return { seq: Number(r.seq), headHash: String(r.head_hash), ts: String(r.ts), kid: String(r.kid), jws: String(r.jws) };
}
/** The bytes of a sketch as stored (BLOB / BYTEA), without copying. */
export function sketchBytes(u: UploadSketch): Buffer {
  return Buffer.from(u.sketch.buffer, u.sketch.byteOffset, u.sketch.byteLength);
}
