/**
 * The audit log is a hash chain: hash(n) = sha256(hash(n-1) + canonicalJson(entry n)), where the entry
 * is {seq, ts, actor, role, action, target, details}. Changing, removing or reordering any stored entry
 * breaks every hash after it; `ChainVerifier` names the first entry that no longer fits. Removing
 * entries from the END, or rewriting the tail and rehashing, keeps the chain consistent: that is
 * caught by anchors, heads (seq, hash) signed earlier or kept by a witness (`checkAnchor`).
 */
import crypto from 'node:crypto';
import { canonicalJson } from './canonicalJson.js';
import type { AuditDraft, AuditEvent } from './types.js';

export const GENESIS_HASH = '0'.repeat(64);

export function auditHash(prevHash: string, entry: AuditDraft & { seq: number; ts: string }): string {
  const body = canonicalJson({
    seq: entry.seq,
    ts: entry.ts,
    actor: entry.actor,
    role: entry.role,
    action: entry.action,
    target: entry.target,
    details: entry.details,
  });
  return crypto.createHash('sha256').update(prevHash + body).digest('hex');
}

export interface ChainCheck {
  ok: boolean;
  entries: number;
  headHash: string;
  firstBroken?: { seq: number; reason: string };
}

export class ChainVerifier {
  #prev = GENESIS_HASH;
  #expectSeq = 1;
  #n = 0;
  #broken: { seq: number; reason: string } | undefined;
  /** The hash the chain has at each watched seq (anchors), once the walk got there intact. */
  readonly #watched = new Map<number, string>();

  constructor(readonly watch: readonly number[] = []) {}

  push(e: AuditEvent): void {
    if (this.#broken) return;
    this.#n++;
    if (e.seq !== this.#expectSeq) {
      this.#broken = { seq: e.seq, reason: `expected entry ${this.#expectSeq} here, found ${e.seq} (an entry was removed or reordered)` };
      return;
    }
    if (e.prevHash !== this.#prev) {
      this.#broken = { seq: e.seq, reason: 'its prev_hash does not equal the hash of the entry before it' };
      return;
    }
    const h = auditHash(this.#prev, e);
    if (h !== e.hash) {
      this.#broken = { seq: e.seq, reason: 'its content does not match its hash (the entry was edited)' };
      return;
    }
    this.#prev = h;
    this.#expectSeq++;
    if (this.watch.includes(e.seq)) this.#watched.set(e.seq, h);
  }

  /** The chain's hash at a watched seq; undefined when the intact chain does not reach it. */
  hashAt(seq: number): string | undefined {
    return this.#watched.get(seq);
  }

  /** The seq of the last entry of the intact chain (0 when empty). */
  get lastSeq(): number {
    return this.#expectSeq - 1;
  }

  result(): ChainCheck {
    return { ok: !this.#broken, entries: this.#n, headHash: this.#prev, ...(this.#broken ? { firstBroken: this.#broken } : {}) };
  }
}

/** A head the chain must still reach with the same hash: a signed checkpoint or a witness's copy. */
export interface Anchor {
  readonly seq: number;
  readonly hash: string;
  /** Who vouches for it, for the reason text ("the signed head of 2026-…", "the witness's head"). */
  readonly source: string;
}

/**
 * Checks an intact chain (no `firstBroken`) against an anchor. A chain that ends before the anchor
 * lost entries from its end (named: the first missing seq); one whose hash differs there was rewritten
 * at or before the anchor (named: the anchor's seq, the latest entry known to be wrong).
 */
export function checkAnchor(v: ChainVerifier, a: Anchor): { seq: number; reason: string } | undefined {
  const short = `${a.hash.slice(0, 12)}…`;
  if (v.lastSeq < a.seq) {
    const from = v.lastSeq + 1;
    return {
      seq: from,
      reason: `${a.source} vouches for entry ${a.seq} (hash ${short}) but the chain ends at entry ${v.lastSeq}: ${from === a.seq ? `entry ${a.seq} was` : `entries ${from} to ${a.seq} were`} removed from its end`,
    };
  }
  const h = v.hashAt(a.seq);
  if (h !== a.hash) {
    return { seq: a.seq, reason: `the chain's hash at entry ${a.seq} (${(h ?? '?').slice(0, 12)}…) differs from ${a.source} (${short}): the tail up to entry ${a.seq} was rewritten` };
  }
  return undefined;
}
