/**
 * The audit log is a hash chain: hash(n) = sha256(hash(n-1) + canonicalJson(entry n)), where the entry
 * is {seq, ts, actor, role, action, target, details}. Changing, removing or reordering any stored entry
 * breaks every hash after it; `verifyChain` names the first entry that no longer fits.
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
  }

  result(): ChainCheck {
    return { ok: !this.#broken, entries: this.#n, headHash: this.#prev, ...(this.#broken ? { firstBroken: this.#broken } : {}) };
  }
}
