/**
 * The audit log: list events (auditor/admin), serve the latest signed head, and verify the chain —
 * entry by entry, then against the latest signed head and, when given, a head an outside witness kept.
 */
import { ChainVerifier, checkAnchor, type Anchor, type ChainCheck } from '../store/auditChain.js';
import { readSignedHead } from '../crypto/auditHead.js';
import type { AuditCheckpoint } from '../store/types.js';
import { AppError } from './errors.js';
import { parseTimestamp } from './timestamps.js';
import type { ServiceContext } from './context.js';

export async function listAuditEvents(ctx: ServiceContext, f: { actor?: string; action?: string; since?: string; after?: number; limit: number }) {
  const items = await ctx.store.listAudit({
    ...(f.actor ? { actor: f.actor } : {}), ...(f.action ? { action: f.action } : {}), ...(f.since ? { since: parseTimestamp(f.since, 'since') } : {}),
    ...(f.after !== undefined ? { afterSeq: f.after } : {}), limit: f.limit,
  });
  const last = items[items.length - 1];
  return { items, next: items.length === f.limit && last ? last.seq : null };
}

/** The latest signed head, for witnesses to keep. @throws AppError 404 before the first audit entry. */
export async function getAuditHead(ctx: ServiceContext): Promise<AuditCheckpoint> {
  const cp = await ctx.store.latestAuditCheckpoint();
  if (!cp) throw new AppError('WM_ERR_AUDIT_HEAD_NOT_FOUND', 'the audit log has no signed head yet: the first audited change writes one');
  return { seq: cp.seq, headHash: cp.headHash, ts: cp.ts, kid: cp.kid, jws: cp.jws };
}

export interface AnchoredChainCheck extends ChainCheck {
  signedHead: { seq: number; headHash: string; ts: string; kid: string; matches: boolean } | null;
  witness?: { seq: number; hash: string; matches: boolean };
}

export async function verifyAuditChain(ctx: ServiceContext, witness?: { seq: number; hash: string }): Promise<AnchoredChainCheck> {
  const cp = await ctx.store.latestAuditCheckpoint();
  // the JWS is the record: a checkpoint row whose columns disagree with its signed payload was edited
  let signedProblem: string | undefined;
  if (cp) {
    try {
      const h = readSignedHead(ctx.signing, ctx.config.issuer, cp.jws);
      if (h.seq !== cp.seq || h.headHash !== cp.headHash) signedProblem = `its stored seq/hash (${cp.seq}, ${cp.headHash.slice(0, 12)}…) differ from the signed ones (${h.seq}, ${h.headHash.slice(0, 12)}…)`;
    } catch (e) {
      signedProblem = (e as Error).message;
    }
  }
  const anchors: Anchor[] = [];
  if (cp && !signedProblem) anchors.push({ seq: cp.seq, hash: cp.headHash, source: `the signed head of ${cp.ts}` });
  if (witness) anchors.push({ seq: witness.seq, hash: witness.hash, source: "the witness's head" });

  const v = new ChainVerifier(anchors.map((a) => a.seq));
  await ctx.store.eachAudit((e) => v.push(e));
  const chain = v.result();
  const breaks: { seq: number; reason: string }[] = [];
  if (!chain.firstBroken) {
    if (cp && signedProblem) breaks.push({ seq: cp.seq, reason: `the latest signed head (entry ${cp.seq}) is not valid: ${signedProblem}; the stored heads were edited` });
    for (const a of anchors) {
      const b = checkAnchor(v, a);
      if (b) breaks.push(b);
    }
  }
  const firstBroken = chain.firstBroken ?? breaks.sort((a, b) => a.seq - b.seq)[0];
  const matches = (seq: number, hash: string): boolean => v.hashAt(seq) === hash;
  return {
    ok: !firstBroken,
    entries: chain.entries,
    headHash: chain.headHash,
    ...(firstBroken ? { firstBroken } : {}),
    signedHead: cp ? { seq: cp.seq, headHash: cp.headHash, ts: cp.ts, kid: cp.kid, matches: !signedProblem && matches(cp.seq, cp.headHash) } : null,
    ...(witness ? { witness: { ...witness, matches: matches(witness.seq, witness.hash) } } : {}),
  };
}
