/**
 * The service's ES256 (P-256) signing keys: access tokens, release manifests and verification reports
 * are all JWS signed with the active key and carry its `kid`. Rotation adds a key and makes it active;
 * old public keys stay in the JWKS so earlier signatures still verify.
 *
 * Layout: `<keysDir>/signing/<kid>.key.pem` (0600), `<kid>.pub.pem`, and `active` (the active kid).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto, { type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { writeFileAtomic } from './fsutil.js';

export const ROLES = ['admin', 'issuer', 'auditor', 'verifier'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  readonly sub: string;
  readonly role: Role;
  /** Token id, so rate limits and audit can tell tokens apart without seeing them. */
  readonly jti: string;
  /** Expiry (seconds since the epoch), so what a token grants (an event ticket) cannot outlive it. */
  readonly exp?: number;
}

export interface Jwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid: string;
  use: 'sig';
  alg: 'ES256';
}

interface SigningKey {
  kid: string;
  privateKey?: KeyObject;
  publicKey: KeyObject;
}

export type TokenFailure = 'missing' | 'expired' | 'invalid';
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(readonly reason: TokenFailure, message: string) {
    super(message);
  }
}

/** RFC 7638 JWK thumbprint of an EC public key, base64url: a stable, content-derived kid. */
function thumbprint(pub: KeyObject): string {
  const j = pub.export({ format: 'jwk' });
  const canonical = JSON.stringify({ crv: j.crv, kty: j.kty, x: j.x, y: j.y });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

/** Clock difference between the minting host and this one that an `iat` may show. */
const CLOCK_SKEW_SEC = 60;

/**
 * A token without `exp` would be valid forever, and one with a far `exp` nearly so; `iat` is needed to
 * measure the lifetime, and an `iat` in the future would stretch it past the maximum unnoticed.
 */
function checkLifetime(p: jwt.JwtPayload, maxTtlSec: number): void {
  const how = 'mint tokens with `weightmark token` or POST /v1/tokens';
  if (typeof p.exp !== 'number') throw new TokenError('invalid', `the token has no expiry (exp); every token must expire, within ${maxTtlSec} s of its issue; ${how}`);
  if (typeof p.iat !== 'number') throw new TokenError('invalid', `the token has no issue time (iat), so its lifetime cannot be checked against the maximum of ${maxTtlSec} s; ${how}`);
  const now = Math.floor(Date.now() / 1000);
  if (p.iat > now + CLOCK_SKEW_SEC) throw new TokenError('invalid', `the token's issue time (iat ${p.iat}) is ${p.iat - now} s in the future; ${how}`);
  if (p.exp - p.iat > maxTtlSec) {
    throw new TokenError('invalid', `the token's lifetime (exp − iat) is ${p.exp - p.iat} s, longer than the maximum of ${maxTtlSec} s (WEIGHTMARK_TOKEN_MAX_TTL_SEC); ${how}`);
  }
}

export class SigningKeys {
  readonly #dir: string;
  #keys = new Map<string, SigningKey>();
  #active = '';

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /** Loads the keys in `<keysDir>/signing`, creating the first one when there is none. */
  static loadOrCreate(keysDir: string): SigningKeys {
    const dir = path.join(keysDir, 'signing');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ks = new SigningKeys(dir);
    ks.#reload();
    if (ks.#keys.size === 0 || !ks.#active) ks.rotate();
    return ks;
  }

  #reload(): void {
    this.#keys.clear();
    for (const name of fs.readdirSync(this.#dir)) {
      const m = /^(.+)\.pub\.pem$/.exec(name);
      if (!m) continue;
      const kid = m[1]!;
      const publicKey = crypto.createPublicKey(fs.readFileSync(path.join(this.#dir, name)));
      const privFile = path.join(this.#dir, `${kid}.key.pem`);
      const privateKey = fs.existsSync(privFile) ? crypto.createPrivateKey(fs.readFileSync(privFile)) : undefined;
      this.#keys.set(kid, { kid, publicKey, ...(privateKey ? { privateKey } : {}) });
    }
    const activeFile = path.join(this.#dir, 'active');
    const active = fs.existsSync(activeFile) ? fs.readFileSync(activeFile, 'utf8').trim() : '';
    this.#active = this.#keys.get(active)?.privateKey ? active : '';
  }

  /** Creates a new P-256 key pair and makes it active. Returns its kid. */
  rotate(): string {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = thumbprint(publicKey);
    writeFileAtomic(path.join(this.#dir, `${kid}.key.pem`), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    writeFileAtomic(path.join(this.#dir, `${kid}.pub.pem`), publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
    writeFileAtomic(path.join(this.#dir, 'active'), kid + '\n', 0o644);
    this.#keys.set(kid, { kid, privateKey, publicKey });
    this.#active = kid;
    return kid;
  }

  get activeKid(): string {
    return this.#active;
  }

  /** The public keys, for `/.well-known/jwks.json`. */
  jwks(): { keys: Jwk[] } {
    return {
      keys: [...this.#keys.values()].map((k) => {
        const j = k.publicKey.export({ format: 'jwk' });
        return { kty: j.kty!, crv: j.crv!, x: j.x!, y: j.y!, kid: k.kid, use: 'sig', alg: 'ES256' };
      }),
    };
  }

  publicKeyPem(kid: string): string | undefined {
    return this.#keys.get(kid)?.publicKey.export({ format: 'pem', type: 'spki' }) as string | undefined;
  }

  #activeKey(): SigningKey & { privateKey: KeyObject } {
    const k = this.#keys.get(this.#active);
    if (!k?.privateKey) throw new Error('no active signing key');
    return k as SigningKey & { privateKey: KeyObject };
  }

  /** Signs a JSON payload as a compact JWS (ES256, `kid` header, `iss`, `iat`). */
  signJws(payload: Record<string, unknown>, issuer: string, typ = 'JWT'): string {
    const k = this.#activeKey();
    return jwt.sign(payload, k.privateKey, { algorithm: 'ES256', keyid: k.kid, issuer, header: { alg: 'ES256', kid: k.kid, typ } });
  }

  /** Verifies any JWS this service signed (any kid still in the JWKS) and returns its payload. */
  verifyJws(token: string, issuer: string): Record<string, unknown> {
    const header = jwt.decode(token, { complete: true })?.header;
    const k = header?.kid ? this.#keys.get(header.kid) : undefined;
    if (!k) throw new TokenError('invalid', 'signed with an unknown key');
    return jwt.verify(token, k.publicKey, { algorithms: ['ES256'], issuer }) as Record<string, unknown>;
  }

  mintToken(opts: { sub: string; role: Role; ttlSec: number; issuer: string; audience: string }): string {
    const k = this.#activeKey();
    return jwt.sign({ role: opts.role }, k.privateKey, {
      algorithm: 'ES256',
      keyid: k.kid,
      subject: opts.sub,
      issuer: opts.issuer,
      audience: opts.audience,
      expiresIn: opts.ttlSec,
      jwtid: crypto.randomUUID(),
    });
  }

  /**
   * Checks a bearer token: ES256 only (so `none` and HS/RS confusion fail), a kid we hold, our issuer
   * and audience, a bounded lifetime (`exp` and `iat` present, `exp − iat` ≤ `maxTtlSec`, `iat` not
   * in the future), not expired, a known role. @throws TokenError saying which check failed.
   */
  verifyToken(token: string, opts: { issuer: string; audience: string; maxTtlSec: number }): Principal {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new TokenError('invalid', 'the bearer token is not a JWT');
    if (decoded.header.alg !== 'ES256') throw new TokenError('invalid', `the token's algorithm '${decoded.header.alg}' is not accepted; only ES256`);
    const k = decoded.header.kid ? this.#keys.get(decoded.header.kid) : undefined;
    if (!k) throw new TokenError('invalid', 'the token was signed with an unknown key (kid)');
    let p: jwt.JwtPayload;
    try {
      p = jwt.verify(token, k.publicKey, { algorithms: ['ES256'], issuer: opts.issuer, audience: opts.audience }) as jwt.JwtPayload;
    } catch (e) {
      if (e instanceof jwt.TokenExpiredError) throw new TokenError('expired', 'the token has expired; mint a new one');
      throw new TokenError('invalid', `the token failed verification: ${(e as Error).message}`);
    }
    checkLifetime(p, opts.maxTtlSec);
    if (!ROLES.includes(p.role)) throw new TokenError('invalid', `the token's role '${String(p.role)}' is not one of ${ROLES.join(', ')}`);
    if (typeof p.sub !== 'string' || !p.sub) throw new TokenError('invalid', 'the token has no subject (sub)');
    return { sub: p.sub, role: p.role as Role, jti: typeof p.jti === 'string' ? p.jti : crypto.createHash('sha256').update(token).digest('hex').slice(0, 16), ...(typeof p.exp === 'number' ? { exp: p.exp } : {}) };
  }
}
