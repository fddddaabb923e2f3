/**
 * Key commitments: a key the service generates is derived from a commitment made before training —
 * who asked, for what, when, and a nonce the service draws — so positions and signal cannot be chosen
 * after a suspect exists (the forged-ownership, or ambiguity, attack). Two hashes of the same canonical
 * commitment in separate domains:
 * - the **digest** is public: it goes into the signed, hash-chained audit log before training starts;
 * - the **seed** is secret (the nonce is): it drives the CSPRNG that draws positions and signal.
 * Anyone later shown the commitment can recompute both and check that the key follows from it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonicalJson.js';

export const COMMITMENT_SCHEME = 'weightmark-commitment/v1';

export interface KeyCommitment {
  readonly scheme: typeof COMMITMENT_SCHEME;
  /** Who the key is made for (the token's subject, or the CLI user). */
  readonly owner: string;
  /** What the key marks: a job id or model name. */
  readonly subject: string;
  readonly arch: string;
  /** Positions in the key. */
  readonly n: number;
  /** The allocation policy's name and numbers, so the position layout is part of what was committed. */
  readonly allocation: Readonly<Record<string, string | number>>;
  readonly createdAt: string;
  /** 32 random bytes (hex) drawn by whoever makes the commitment: the secret part. */
  readonly nonce: string;
}

/** A fresh commitment with a random nonce and the current time. */
export function makeCommitment(fields: Omit<KeyCommitment, 'scheme' | 'nonce' | 'createdAt'> & { createdAt?: string; nonce?: string }): KeyCommitment {
  return {
    scheme: COMMITMENT_SCHEME,
    owner: fields.owner,
    subject: fields.subject,
    arch: fields.arch,
    n: fields.n,
    allocation: { ...fields.allocation },
    createdAt: fields.createdAt ?? new Date().toISOString(),
    nonce: fields.nonce ?? randomBytes(32).toString('hex'),
  };
}

/** The public digest (hex), recorded and signed before training. */
export function commitmentDigest(c: KeyCommitment): string {
  return createHash('sha256').update('weightmark/commitment-digest/v1\0').update(canonicalJson(c)).digest('hex');
}

/** The secret seed of the key's CSPRNG. */
export function commitmentSeed(c: KeyCommitment): Uint8Array {
  return new Uint8Array(createHash('sha256').update('weightmark/commitment-seed/v1\0').update(canonicalJson(c)).digest());
}

/**
 * Validates a commitment read from JSON.
 * @throws Error naming the field that is wrong.
 */
export function parseCommitment(json: unknown): KeyCommitment {
  const fail = (what: string): never => {
    throw new Error(`Invalid key commitment: ${what}`);
  };
  if (typeof json !== 'object' || json === null) fail('expected a JSON object');
  const c = json as Record<string, unknown>;
  if (c.scheme !== COMMITMENT_SCHEME) fail(`scheme must be '${COMMITMENT_SCHEME}', found ${JSON.stringify(c.scheme)}`);
  for (const f of ['owner', 'subject', 'arch', 'createdAt'] as const) if (typeof c[f] !== 'string') fail(`${f} must be a string`);
  if (typeof c.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(c.nonce)) fail('nonce must be 64 lowercase hex digits');
  if (!Number.isInteger(c.n) || (c.n as number) < 2) fail('n must be an integer ≥ 2');
  if (typeof c.allocation !== 'object' || c.allocation === null) fail('allocation must be an object');
  if (Number.isNaN(Date.parse(c.createdAt as string))) fail(`createdAt '${String(c.createdAt)}' is not a date`);
  return json as KeyCommitment;
}
