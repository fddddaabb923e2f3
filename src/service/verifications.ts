/**
 * Verification of a suspect model, top to bottom:
 * receive → read param set → choose candidate keys → align to each → extract → score (Bonferroni over
 * every key × alignment tried) → pick the best → sign the report → record it (with an audit entry).
 * An unrelated model is a result ("no match", with its p-value), not an error.
 */
import crypto from 'node:crypto';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { KeyRecord, VerificationRecord } from '../store/types.js';
import { AppError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import { getModel, loadParams, openKey, readUploadedModel } from './models.js';
import type { AlignOutcome, ModelFileIn, ScoreOut } from './ports.js';

export interface VerifyRequest {
  files: readonly ModelFileIn[];
  modelId?: string;
  licensee?: string;
}

interface Candidate {
  keyRecord: KeyRecord;
  key: WatermarkKey;
  modelId: string;
  arch: string | null;
  reference: ParamSet;
  releaseId: string | null;
  licensee: string | null;
}

interface Aligned {
  candidate: Candidate;
  outcome: AlignOutcome;
}

export interface CandidateScore {
  keyId: string;
  kind: KeyRecord['kind'];
  modelId: string;
  releaseId: string | null;
  licensee: string | null;
  aligned: boolean;
  r: number | null;
  n: number;
  pValue: number;
  log10p: number;
  ber: number | null;
  decision: 'match' | 'no match';
  comparisons: number;
  mapping: readonly { keyTensor: string; suspectTensor: string; method: string; transform: string }[];
  notes: readonly string[];
}

export interface VerificationReport extends Record<string, unknown> {
  typ: 'weightmark-verification-report';
  verificationId: string;
  issuedAt: string;
  requestedBy: string;
  suspect: { format: string; files: { name: string; sha256: string; size: number }[]; tensors: number; parameters: number };
  scope: { modelId: string | null; licensee: string | null };
  fpr: number;
  comparisons: number;
  decision: 'match' | 'no match';
  pValue: number;
  log10p: number;
  best: CandidateScore | null;
  leakedBy: string | null;
  candidates: CandidateScore[];
}

export async function verifySuspect(ctx: ServiceContext, actor: Actor, req: VerifyRequest): Promise<{ id: string; report: VerificationReport; reportJws: string }> {
  const started = process.hrtime.bigint();
  const suspect = readUploadedModel(ctx, req.files);
  const candidates = await chooseCandidates(ctx, req);
  const aligned = await alignCandidates(ctx, suspect.params, candidates);
  const comparisons = aligned.reduce((a, x) => a + (x.outcome.ok ? x.outcome.comparisons : 1), 0);
  const scores = aligned.map((a) => scoreCandidate(ctx, a, comparisons));
  const best = pickBest(scores);
  const report = buildReport(ctx, actor, req, suspect, scores, best, comparisons);
  const reportJws = ctx.signing.signJws(report, ctx.config.issuer);
  await recordVerification(ctx, actor, report, reportJws);
  ctx.metrics.inc('weightmark_verifications_total', 'Verifications by decision', { decision: report.decision });
  ctx.metrics.observe('weightmark_verification_seconds', 'Time to verify one suspect', {}, Number(process.hrtime.bigint() - started) / 1e9);
  return { id: report.verificationId, report, reportJws };
}

/** The keys to try: the named model's (its owner key and every release of it), a licensee's, or all. */
async function chooseCandidates(ctx: ServiceContext, req: VerifyRequest): Promise<Candidate[]> {
  let keys = await ctx.store.listKeys();
  const releases = new Map<string, { id: string; licensee: string; modelId: string }>();
  for (const r of (await ctx.store.listReleases({ limit: 100_000, offset: 0 })).items) {
    if (r.releaseModelId) releases.set(r.releaseModelId, { id: r.id, licensee: r.licensee, modelId: r.modelId });
  }
  if (req.modelId) {
    await getModel(ctx, req.modelId);
    keys = keys.filter((k) => k.modelId === req.modelId || releases.get(k.modelId)?.modelId === req.modelId);
    if (keys.length === 0) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${req.modelId}' has no watermark key and no releases to verify against`);
  }
  if (req.licensee) {
    const theirs = new Set([...releases.entries()].filter(([, r]) => r.licensee === req.licensee).map(([m]) => m));
    if (theirs.size === 0) throw new AppError('WM_ERR_LICENSEE_NOT_FOUND', `no ready release for licensee '${req.licensee}'`);
    keys = keys.filter((k) => theirs.has(k.modelId));
  }
  if (keys.length === 0) throw new AppError('WM_ERR_NO_CANDIDATE_KEYS', 'no watermark keys are registered yet; register or train a watermarked model first');
  const out: Candidate[] = [];
  for (const k of keys) {
    const model = await getModel(ctx, k.modelId);
    const rel = releases.get(k.modelId);
    out.push({
      keyRecord: k, key: await openKey(ctx, k), modelId: k.modelId, arch: model.arch, reference: await loadParams(ctx, model),
      releaseId: rel?.id ?? null, licensee: rel?.licensee ?? null,
    });
  }
  return out;
}

/** Aligns the suspect onto every candidate key (the key's own model is the content reference) and extracts. */
async function alignCandidates(ctx: ServiceContext, suspect: ParamSet, cands: Candidate[]): Promise<Aligned[]> {
  const outcomes = await ctx.engines.alignAndExtract(
    suspect,
    cands.map((c) => ({ key: c.key, referenceId: c.modelId, reference: c.reference, fpr: ctx.config.fpr, ...(c.arch ? { arch: c.arch } : {}) })),
  );
  return cands.map((candidate, i) => ({ candidate, outcome: outcomes[i]! }));
}

function scoreCandidate(ctx: ServiceContext, a: Aligned, comparisons: number): CandidateScore {
  const c = a.candidate;
  const o = a.outcome;
  const base = { keyId: c.keyRecord.id, kind: c.keyRecord.kind, modelId: c.modelId, releaseId: c.releaseId, licensee: c.licensee, n: c.key.values.length, comparisons };
  if (!o.ok) {
    return { ...base, aligned: false, r: null, pValue: 1, log10p: 0, ber: null, decision: 'no match', mapping: [], notes: [`not aligned: ${o.failure}`] };
  }
  let s: ScoreOut;
  try {
    s = ctx.engines.scoreAgainstKey(o.extracted, c.key, { fpr: ctx.config.fpr, comparisons });
  } catch (e) {
    return { ...base, aligned: false, r: null, pValue: 1, log10p: 0, ber: null, decision: 'no match', mapping: o.mapping, notes: [...o.notes, `not scored: ${(e as Error).message}`] };
  }
  return { ...base, aligned: true, r: s.r, n: s.n, pValue: s.pValue, log10p: s.log10p, ber: s.ber, decision: s.decision, mapping: o.mapping, notes: o.notes };
}

function pickBest(scores: CandidateScore[]): CandidateScore | null {
  let best: CandidateScore | null = null;
  for (const s of scores) if (!best || s.log10p < best.log10p || (s.log10p === best.log10p && (s.r ?? -2) > (best.r ?? -2))) best = s;
  return best;
}

function buildReport(
  ctx: ServiceContext, actor: Actor, req: VerifyRequest, suspect: { format: string; params: ParamSet },
  scores: CandidateScore[], best: CandidateScore | null, comparisons: number,
): VerificationReport {
  const decision = best?.decision ?? 'no match';
  // The licensee whose key matches best names the leak; an owner-key-only match names no licensee.
  const leaked = scores.filter((s) => s.decision === 'match' && s.licensee).sort((a, b) => a.log10p - b.log10p)[0];
  return {
    typ: 'weightmark-verification-report',
    verificationId: newId('ver'),
    issuedAt: new Date().toISOString(),
    requestedBy: actor.sub,
    suspect: {
      format: suspect.format,
      files: req.files.map((f) => ({ name: f.name, sha256: crypto.createHash('sha256').update(f.bytes).digest('hex'), size: f.bytes.length })),
      tensors: suspect.params.tensors.length,
      parameters: suspect.params.tensors.reduce((a, t) => a + t.data.length, 0),
    },
    scope: { modelId: req.modelId ?? null, licensee: req.licensee ?? null },
    fpr: ctx.config.fpr,
    comparisons,
    decision,
    pValue: best?.pValue ?? 1,
    log10p: best?.log10p ?? 0,
    best,
    leakedBy: leaked?.licensee ?? null,
    candidates: scores,
  };
}

async function recordVerification(ctx: ServiceContext, actor: Actor, report: VerificationReport, reportJws: string): Promise<void> {
  const rec: VerificationRecord = {
    id: report.verificationId, createdBy: actor.sub, createdAt: report.issuedAt, decision: report.decision, pValue: report.pValue, report, reportJws,
  };
  await ctx.store.write((w) => {
    w.insertVerification(rec);
    w.appendAudit({
      actor: actor.sub, role: actor.role, action: 'verification.create', target: rec.id,
      details: { decision: report.decision, log10p: report.log10p, leakedBy: report.leakedBy, suspect: report.suspect.files, comparisons: report.comparisons },
    });
  });
}

/** Auditors and admins read any report; other roles only their own. */
export async function getVerification(ctx: ServiceContext, actor: Actor, id: string): Promise<VerificationRecord> {
  const v = await ctx.store.getVerification(id);
  if (!v) throw new AppError('WM_ERR_VERIFICATION_NOT_FOUND', `no verification with id '${id}'`);
  if (actor.role !== 'admin' && actor.role !== 'auditor' && v.createdBy !== actor.sub) {
    throw new AppError('WM_ERR_FORBIDDEN', `verification '${id}' belongs to another subject; role '${actor.role}' may read only its own reports`);
  }
  return v;
}

export async function listVerifications(ctx: ServiceContext, actor: Actor, page: { limit: number; offset: number }) {
  const all = actor.role === 'admin' || actor.role === 'auditor';
  const { items, total } = await ctx.store.listVerifications({ ...page, ...(all ? {} : { createdBy: actor.sub }) });
  return {
    items: items.map((v) => ({ id: v.id, createdBy: v.createdBy, createdAt: v.createdAt, decision: v.decision, pValue: v.pValue, leakedBy: (v.report.leakedBy as string | null) ?? null })),
    total, limit: page.limit, offset: page.offset,
  };
}
