/**
 * Signed heads of the audit chain. The chain itself is an unkeyed hash chain: anyone with write access
 * to the database can cut its newest entries or rewrite its tail and recompute every hash. A head
 * signed with the service's key (the same ES256 keys and JWKS as reports) fixes "the chain had entry
 * `seq` with hash `headHash` at `ts`"; a chain that no longer reaches it, or hashes differently
 * there, was tampered with. Outside witnesses keep these JWS (docs/audit.md).
 */
import type { SigningKeys } from './signing.js';
import type { AuditHead, AuditHeadSigner } from '../store/types.js';

/** The payload's `typ`, so a head cannot pass for a report or manifest signed with the same key (or back). */
export const AUDIT_HEAD_TYP = 'weightmark-audit-head';

export function auditHeadSigner(signing: SigningKeys, issuer: string): AuditHeadSigner {
  return (head) => {
    const jws = signing.signJws({ typ: AUDIT_HEAD_TYP, seq: head.seq, headHash: head.headHash, ts: head.ts }, issuer);
    const { kid } = JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string };
    return { kid, jws };
  };
}

/**
 * The head a JWS vouches for. @throws Error saying why it is not one: a signature that does not verify
 * against the JWKS, another issuer, or a payload that is not a head.
 */
export function readSignedHead(signing: SigningKeys, issuer: string, jws: string): AuditHead {
  let p: Record<string, unknown>;
  try {
    p = signing.verifyJws(jws, issuer);
  } catch (e) {
    throw new Error(`its signature does not verify against the JWKS (${(e as Error).message})`);
  }
  if (p.typ !== AUDIT_HEAD_TYP || !Number.isSafeInteger(p.seq) || typeof p.headHash !== 'string' || typeof p.ts !== 'string') {
    throw new Error(`its payload is not an audit head (typ '${String(p.typ)}')`);
  }
  return { seq: p.seq as number, headHash: p.headHash, ts: p.ts };
}
