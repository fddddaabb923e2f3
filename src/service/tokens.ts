/** Access tokens minted by an admin (POST /v1/tokens) or locally (`weightmark token`). */
import type { Role } from '../crypto/signing.js';
import { AppError } from './errors.js';
import type { Actor, ServiceContext } from './context.js';

export async function mintToken(ctx: ServiceContext, actor: Actor, req: { sub: string; role: Role; ttlSec?: number }) {
  const ttl = req.ttlSec ?? ctx.config.tokenTtlSec;
  if (ttl > ctx.config.tokenMaxTtlSec) throw new AppError('WM_ERR_VALIDATION', `ttlSec ${ttl} exceeds the maximum of ${ctx.config.tokenMaxTtlSec} s (WEIGHTMARK_TOKEN_MAX_TTL_SEC)`);
  const token = ctx.signing.mintToken({ sub: req.sub, role: req.role, ttlSec: ttl, issuer: ctx.config.issuer, audience: ctx.config.audience });
  await ctx.store.write((w) => w.appendAudit({ actor: actor.sub, role: actor.role, action: 'token.mint', target: req.sub, details: { role: req.role, ttlSec: ttl } }));
  return { token, expiresIn: ttl, sub: req.sub, role: req.role };
}

export async function rotateSigningKey(ctx: ServiceContext, actor: Actor) {
  const previous = ctx.signing.activeKid;
  const kid = ctx.signing.rotate();
  await ctx.store.write((w) => w.appendAudit({ actor: actor.sub, role: actor.role, action: 'signing-key.rotate', target: kid, details: { previous } }));
  return { kid, previous, keys: ctx.signing.jwks().keys.map((k) => k.kid) };
}
