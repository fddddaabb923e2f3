/**
 * Verification of a suspect model, top to bottom:
 * receive → read param set → candidate keys (by reference model) → align once per reference and score
 * every key of it → the best match and the licensee it names → each matching key's provenance →
 * the full report (admin, auditor) and the verdict (everyone) → sign both → record them (with the audit
 * entry, the subject's quota, and a flag when the subject keeps uploading near-identical suspects).
 * An unrelated model is a result ("no match"), not an error.
 *
 * What a verifier learns is the verdict only: the decision, the p-value only as "below" or "not below"
 * the false-positive rate, and the licensee only on a match. Full-precision figures would be an oracle
 * for the key's positions (one changed keyed weight moves r), so they stay in the report.
 */
import crypto from 'node:crypto';
import type { ParamSet } from '../core/paramSet.js';
import { defaults } from '../core/config.js';
import type { LayerScore } from '../core/score.js';
import type { VerificationRecord } from '../store/types.js';
import { AppError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import { getModel, loadReference, openKey, readUploadedModel } from './models.js';
import { importedMeta } from './importedModels.js';
import type { GroupInput, GroupOutcome, ModelFileIn, VerifyOptions } from './ports.js';
import { candidateIndex, type CandidateIndex, type IndexedKey, type ReferenceGroup } from './candidateIndex.js';
import { keyProvenance, type Provenance } from './commitments.js';
import { nearDuplicates } from './uploadSketch.js';

export interface VerifyRequest {
  files: readonly ModelFileIn[];
  modelId?: string;
  licensee?: string;
}

export interface CandidateScore {
  keyId: string;
  kind: IndexedKey['kind'];
  modelId: string;
  releaseId: string | null;
  licensee: string | null;
  referenceModelId: string;
  /** The model the key was made for (IndexedKey.baseModelId): what a match says the suspect derives from. */
  baseModelId: string;
  alignment: 'as read' | 'invariant' | null;
  r: number | null;
  n: number;
  pValue: number;
  log10p: number;
  /** The p-value is below the floor: "p < pValue". */
  atFloor: boolean;
  ber: number | null;
  decision: 'match' | 'no match';
  layers: readonly LayerScore[];
  provenance: Provenance | null;
  notes: readonly string[];
}

export type Claim = 'ownership' | 'key match only' | 'none';

export interface VerificationReport extends Record<string, unknown> {
  typ: 'weightmark-verification-report';
  verificationId: string;
  issuedAt: string;
  requestedBy: string;
  suspect: { format: string; files: { name: string; sha256: string; size: number }[]; tensors: number; parameters: number };
  scope: { modelId: string | null; licensee: string | null };
  fpr: number;
  /** Keys × alignments tried: the Bonferroni factor in every p-value. */
  comparisons: number;
  decision: 'match' | 'no match';
  pValue: number;
  log10p: number;
  atFloor: boolean;
  claim: Claim;
  conclusion: string;
  best: CandidateScore | null;
  leakedBy: string | null;
  /** Every matching key, and the strongest others. */
  candidates: CandidateScore[];
  keysScored: number;
  /** Keys whose p-value bound already ruled a match out (not scored in detail). */
  keysScreened: number;
  references: { modelId: string; aligned: boolean; invariant: boolean; alignments: number; failure: string | null; keys: number; mapping: GroupOutcome['mapping']; notes: string[] }[];
  statistics: { combination: string; floor: number; invariantInflation: number; method: string };
}

/** What any role may see: the decision at the granularity of the false-positive rate. */
export interface VerificationVerdict extends Record<string, unknown> {
  typ: 'weightmark-verification-verdict';
  verificationId: string;
  issuedAt: string;
  requestedBy: string;
  suspect: { files: { name: string; sha256: string; size: number }[] };
  scope: { modelId: string | null; licensee: string | null };
  decision: 'match' | 'no match';
  /** "p < 1e-06" on a match, "p ≥ 1e-06" otherwise: no finer figure. */
  evidence: string;
  claim: Claim;
  leakedBy: string | null;
  modelId: string | null;
  fpr: number;
  /** sha256 of the full report's JWS, so an auditor holding it can tie the two together. */
  reportDigest: string;
}

export async function verifySuspect(ctx: ServiceContext, actor: Actor, req: VerifyRequest): Promise<VerificationRecord> {
  const started = process.hrtime.bigint();
  const suspect = readUploadedModel(ctx, req.files);
  const index = await candidateIndex(ctx);
  const groups = await chooseGroups(ctx, index, req);
  // The files are hashed by the verification worker, in place: readModelFiles put them in shared memory.
  const { outcomes, digests } = await ctx.engines.verifyGroups(suspect.params, groups.inputs, { ...verifyOptions(ctx), detail: DETAIL }, req.files.map((f) => f.bytes));
  const scores = await candidateScores(ctx, index, groups.selected, outcomes);
  const report = buildReport(ctx, actor, req, { ...suspect, digests }, scores, groups.selected, outcomes);
  const reportJws = ctx.signing.signJws(report, ctx.config.issuer);
  const verdict = buildVerdict(report, reportJws);
  const verdictJws = ctx.signing.signJws(verdict, ctx.config.issuer);
  const rec: VerificationRecord = {
    id: report.verificationId, createdBy: actor.sub, createdAt: report.issuedAt, decision: report.decision, pValue: report.pValue, report, reportJws, verdict, verdictJws,
  };
  const near = await nearDuplicates(ctx, actor, suspect.params, report.suspect.files);
  await ctx.store.write((w) => {
    w.insertVerification(rec);
    w.appendAudit({
      actor: actor.sub, role: actor.role, action: 'verification.create', target: rec.id,
      details: { decision: report.decision, claim: report.claim, log10p: report.log10p, leakedBy: report.leakedBy, suspect: report.suspect.files, comparisons: report.comparisons },
    });
    near.write(w, rec.id);
  });
  near.warn(rec.id);
  ctx.metrics.inc('weightmark_verifications_total', 'Verifications by decision', { decision: report.decision });
  ctx.metrics.observe('weightmark_verification_seconds', 'Time to verify one suspect', {}, Number(process.hrtime.bigint() - started) / 1e9);
  return rec;
}

/** Keys per reference scored exactly even when they cannot match (the report's runners-up). */
const DETAIL = 10;

interface Selected {
  readonly group: ReferenceGroup;
  /** Rows of the group's bank in scope (undefined: all). */
  readonly only?: number[];
}

/** The references to align onto and the keys of each in scope: a model's own key and its releases', a licensee's, or all. */
async function chooseGroups(ctx: ServiceContext, index: CandidateIndex, req: VerifyRequest): Promise<{ selected: Selected[]; inputs: GroupInput[] }> {
  if (req.modelId) await getModel(ctx, req.modelId);
  const inScope = (k: IndexedKey): boolean =>
    (!req.modelId || k.modelId === req.modelId || k.referenceModelId === req.modelId) && (!req.licensee || k.licensee === req.licensee);
  const selected: Selected[] = [];
  for (const group of index.groups) {
    const rows = group.keys.filter(inScope).map((k) => k.row);
    if (rows.length === 0) continue;
    selected.push({ group, ...(rows.length < group.keys.length ? { only: rows } : {}) });
  }
  if (selected.length === 0) {
    if (req.licensee) throw new AppError('WM_ERR_LICENSEE_NOT_FOUND', `no ready release for licensee '${req.licensee}'${req.modelId ? ` of model '${req.modelId}'` : ''}`);
    if (req.modelId) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${req.modelId}' has no watermark key and no releases to verify against`);
    throw new AppError('WM_ERR_NO_CANDIDATE_KEYS', 'no watermark keys are registered yet; register or train a watermarked model first');
  }
  const inputs: GroupInput[] = [];
  for (const s of selected) inputs.push(await groupInput(ctx, s.group, s.only));
  return { selected, inputs };
}

/** The statistics every verification uses (an attack simulation too, so that its scores are these). */
export function verifyOptions(ctx: ServiceContext): VerifyOptions {
  return { fpr: ctx.config.fpr, combination: defaults.score.combination, inflation: defaults.score.invariantInflation };
}

/** What the verification core needs of one reference group: its reference (the anchor when it has one), mask and key bank. */
export async function groupInput(ctx: ServiceContext, group: ReferenceGroup, only?: readonly number[]): Promise<GroupInput & { reference: ParamSet }> {
  const model = await getModel(ctx, group.modelId);
  const reference = await loadReference(ctx, model);
  const imported = importedMeta(model);
  return {
    referenceId: group.digest, reference, arch: group.arch, ...(imported ? { architecture: imported.architecture, origin: imported.origin } : {}), mask: group.mask, bank: group.bank, ...(only ? { only } : {}),
    ...(group.anchored ? { inflation: 1 } : {}),
  };
}

async function candidateScores(ctx: ServiceContext, index: CandidateIndex, selected: readonly Selected[], outcomes: readonly GroupOutcome[]): Promise<CandidateScore[]> {
  const out: CandidateScore[] = [];
  for (let gi = 0; gi < selected.length; gi++) {
    const group = selected[gi]!.group;
    const o = outcomes[gi]!;
    for (const res of o.results) {
      const k = group.keys[res.key]!;
      const base = { keyId: k.keyId, kind: k.kind, modelId: k.modelId, releaseId: k.releaseId, licensee: k.licensee, referenceModelId: k.referenceModelId, baseModelId: k.baseModelId, n: k.n };
      if (!res.score) {
        out.push({ ...base, alignment: null, r: null, pValue: 1, log10p: 0, atFloor: false, ber: null, decision: 'no match', layers: [], provenance: null, notes: [`not scored: ${res.error}`] });
        continue;
      }
      const s = res.score;
      out.push({
        ...base, alignment: res.alignment ?? null, r: s.r, n: s.n, pValue: s.pValue, log10p: s.log10p, atFloor: s.atFloor, ber: s.ber, decision: s.decision,
        layers: s.layers, provenance: null, notes: [],
      });
    }
  }
  // Provenance where it matters: every match and the best candidate.
  out.sort((a, b) => a.log10p - b.log10p || (b.r ?? -2) - (a.r ?? -2));
  for (const c of out) {
    if (c.decision !== 'match' && c !== out[0]) continue;
    c.provenance = await provenanceOf(ctx, index, c.keyId);
  }
  return out;
}

const provenanceCache = new WeakMap<ServiceContext, Map<string, Provenance>>();

/** A key's provenance, checked once and remembered (it cannot change: key and commitment are immutable). */
async function provenanceOf(ctx: ServiceContext, index: CandidateIndex, keyId: string): Promise<Provenance> {
  let cache = provenanceCache.get(ctx);
  if (!cache) provenanceCache.set(ctx, (cache = new Map()));
  const hit = cache.get(keyId);
  if (hit) return hit;
  const rec = await ctx.store.getKey(keyId);
  if (!rec) return { status: 'unverified', reason: `key '${keyId}' is missing` };
  const key = await openKey(ctx, rec);
  // A licensee key was drawn avoiding its base model's owner key: the check needs that key too.
  const entry = index.byKeyId.get(keyId);
  const avoid = [];
  if (entry && entry.key.kind === 'licensee') {
    const base = await getModel(ctx, entry.key.baseModelId);
    const ownerRec = base.ownerKeyId ? await ctx.store.getKey(base.ownerKeyId) : undefined;
    if (ownerRec) avoid.push(await openKey(ctx, ownerRec));
  }
  const p = await keyProvenance(ctx, key, avoid);
  cache.set(keyId, p);
  return p;
}

function pTexts(fpr: number): { below: string; notBelow: string } {
  const f = fpr.toExponential(0).replace('e-', 'e-0').replace(/e-0(\d\d)/, 'e-$1');
  return { below: `p < ${f}`, notBelow: `p ≥ ${f}` };
}

function buildReport(
  ctx: ServiceContext, actor: Actor, req: VerifyRequest, suspect: { format: string; params: ParamSet; digests: readonly string[] },
  scores: CandidateScore[], selected: readonly Selected[], outcomes: readonly GroupOutcome[],
): VerificationReport {
  const best = scores[0] ?? null;
  const matches = scores.filter((s) => s.decision === 'match');
  const proven = matches.filter((s) => s.provenance?.status === 'committed');
  // The licensee whose committed key matches best names the leak; an owner-key-only match names no licensee.
  const leaked = proven.find((s) => s.licensee);
  const claim: Claim = proven.length > 0 ? 'ownership' : matches.length > 0 ? 'key match only' : 'none';
  const comparisons = outcomes.reduce((a, o, i) => a + o.alignments * (selected[i]!.only?.length ?? selected[i]!.group.keys.length), 0);
  const decision = best?.decision ?? 'no match';
  const top = proven[0] ?? matches[0];
  let conclusion: string;
  if (claim === 'ownership') {
    const p = top!.provenance as Extract<Provenance, { status: 'committed' }>;
    conclusion = `The suspect carries watermark key ${top!.keyId} (${top!.atFloor ? 'p < ' : 'p = '}${top!.pValue.toExponential(2)}), committed by this service on ${p.committedAt} before that key's model was trained: evidence that the suspect derives from model ${top!.baseModelId}${leaked ? `, from the copy released to ${leaked.licensee}` : ''}.`;
  } else if (claim === 'key match only') {
    conclusion = `The suspect's weights match key ${top!.keyId}, but that key's provenance is unverified (${(top!.provenance as Extract<Provenance, { status: 'unverified' }> | null)?.reason ?? 'not checked'}). A key can be fitted to any model after the fact, so this match is not evidence of ownership.`;
  } else {
    conclusion = `No registered key matches the suspect at the false-positive rate ${ctx.config.fpr}.`;
  }
  const detailed = new Set(scores.slice(0, DETAIL).map((s) => s.keyId));
  return {
    typ: 'weightmark-verification-report',
    verificationId: newId('ver'),
    issuedAt: new Date().toISOString(),
    requestedBy: actor.sub,
    suspect: {
      format: suspect.format,
      files: req.files.map((f, i) => ({ name: f.name, sha256: suspect.digests[i]!, size: f.bytes.length })),
      tensors: suspect.params.tensors.length,
      parameters: suspect.params.tensors.reduce((a, t) => a + t.data.length, 0),
    },
    scope: { modelId: req.modelId ?? null, licensee: req.licensee ?? null },
    fpr: ctx.config.fpr,
    comparisons: Math.max(1, comparisons),
    decision,
    pValue: best?.pValue ?? 1,
    log10p: best?.log10p ?? 0,
    atFloor: best?.atFloor ?? false,
    claim,
    conclusion,
    best,
    leakedBy: leaked?.licensee ?? null,
    candidates: scores.filter((s) => s.decision === 'match' || detailed.has(s.keyId)),
    keysScored: selected.reduce((a, s) => a + (s.only?.length ?? s.group.keys.length), 0),
    keysScreened: outcomes.reduce((a, o) => a + o.screened.count, 0),
    references: outcomes.map((o, i) => ({
      modelId: selected[i]!.group.modelId, aligned: o.aligned, invariant: o.invariant, alignments: o.alignments, failure: o.failure ?? null,
      keys: selected[i]!.only?.length ?? selected[i]!.group.keys.length, mapping: o.mapping, notes: o.notes,
      // 'anchor': the invariant stage aligned onto the weights from before the keys were drawn (exact null);
      // 'model': onto the model itself, t divided by √invariantInflation.
      alignedOnto: selected[i]!.group.anchored ? 'anchor' : 'model',
    })),
    statistics: {
      combination: defaults.score.combination, floor: 1e-38, invariantInflation: defaults.score.invariantInflation,
      method: 'per-layer and pooled correlation of the extraction with the committed signal (exact Student t), see docs/statistics.md',
    },
  };
}

function buildVerdict(report: VerificationReport, reportJws: string): VerificationVerdict {
  const t = pTexts(report.fpr);
  const match = report.decision === 'match';
  return {
    typ: 'weightmark-verification-verdict',
    verificationId: report.verificationId,
    issuedAt: report.issuedAt,
    requestedBy: report.requestedBy,
    suspect: { files: report.suspect.files },
    scope: report.scope,
    decision: report.decision,
    evidence: match ? t.below : t.notBelow,
    claim: report.claim,
    leakedBy: match ? report.leakedBy : null,
    modelId: report.claim === 'ownership' ? (report.best?.baseModelId ?? null) : null,
    fpr: report.fpr,
    reportDigest: crypto.createHash('sha256').update(reportJws).digest('hex'),
  };
}

/** Who may see the full report: admins and auditors. */
export const seesFullReport = (actor: Actor): boolean => actor.role === 'admin' || actor.role === 'auditor';

/** Auditors and admins read any verification; other roles only their own. */
export async function getVerification(ctx: ServiceContext, actor: Actor, id: string): Promise<VerificationRecord> {
  const v = await ctx.store.getVerification(id);
  if (!v) throw new AppError('WM_ERR_VERIFICATION_NOT_FOUND', `no verification with id '${id}'`);
  if (!seesFullReport(actor) && v.createdBy !== actor.sub) {
    throw new AppError('WM_ERR_FORBIDDEN', `verification '${id}' belongs to another subject; role '${actor.role}' may read only its own reports`);
  }
  return v;
}

/** The view of a verification a role may see: the verdict for everyone, the full report for admin and auditor. */
export function verificationView(actor: Actor, v: VerificationRecord) {
  const verdict = v.verdict as VerificationVerdict;
  const common = {
    id: v.id, createdAt: v.createdAt, createdBy: v.createdBy, decision: v.decision, evidence: verdict.evidence, claim: verdict.claim,
    leakedBy: verdict.leakedBy, modelId: verdict.modelId, verdict, verdictJws: v.verdictJws,
  };
  if (!seesFullReport(actor)) return common;
  return { ...common, pValue: v.pValue, log10p: Number(v.report.log10p ?? 0), report: v.report, reportJws: v.reportJws };
}

export async function listVerifications(ctx: ServiceContext, actor: Actor, page: { limit: number; offset: number }) {
  const all = seesFullReport(actor);
  const { items, total } = await ctx.store.listVerifications({ ...page, ...(all ? {} : { createdBy: actor.sub }) });
  return {
    items: items.map((v) => {
      const verdict = v.verdict as VerificationVerdict;
      return {
        id: v.id, createdBy: v.createdBy, createdAt: v.createdAt, decision: v.decision, evidence: verdict.evidence, claim: verdict.claim, leakedBy: verdict.leakedBy,
        ...(all ? { pValue: v.pValue } : {}),
      };
    }),
    total, limit: page.limit, offset: page.offset,
  };
}
