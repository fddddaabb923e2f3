/** The audit log: list events (auditor/admin) and recompute the hash chain. */
import { ChainVerifier, type ChainCheck } from '../store/auditChain.js';
import type { ServiceContext } from './context.js';

export async function listAuditEvents(ctx: ServiceContext, f: { actor?: string; action?: string; since?: string; after?: number; limit: number }) {
  const items = await ctx.store.listAudit({
    ...(f.actor ? { actor: f.actor } : {}), ...(f.action ? { action: f.action } : {}), ...(f.since ? { since: new Date(f.since).toISOString() } : {}),
    ...(f.after !== undefined ? { afterSeq: f.after } : {}), limit: f.limit,
  });
  const last = items[items.length - 1];
  return { items, next: items.length === f.limit && last ? last.seq : null };
}

export async function verifyAuditChain(ctx: ServiceContext): Promise<ChainCheck> {
  const v = new ChainVerifier();
  await ctx.store.eachAudit((e) => v.push(e));
  return v.result();
}
