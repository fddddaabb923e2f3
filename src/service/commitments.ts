/**
 * Key commitments on the service side: made, sealed, signed and written to the hash-chained audit log
 * when a training or release job is submitted — before any weight exists — and checked when a
 * verification leans on a key (its provenance).
 */
import { commitmentDigest, makeCommitment, parseCommitment, type KeyCommitment } from '../core/commitment.js';
import { checkDerivation, defaultKeySize, keyCapacity, planTargets, policyRecord } from '../core/keyPlan.js';
import { getArchitecture, paramSpecs } from '../core/architectures.js';
import { AppError } from './errors.js';
import { defaults } from '../core/config.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { CommitmentRecord, StoreWriter } from '../store/types.js';
import type { Actor, ServiceContext } from './context.js';

export interface NewCommitment {
  readonly commitment: KeyCommitment;
  readonly record: CommitmentRecord;
  /** Records the commitment and its 'key.commit' audit entry; call inside the job's write unit. */
  readonly write: (w: StoreWriter) => void;
}

/** A fresh commitment for the key a job will embed, sealed and signed, not yet written. */
export function newCommitment(ctx: ServiceContext, actor: Actor, input: { subject: string; arch: string; n?: number }): NewCommitment {
  const commitment = makeCommitment({
    owner: actor.sub, subject: input.subject, arch: input.arch, n: keySize(input.arch, input.n), allocation: policyRecord(defaults.key.allocation),
  });
  const digest = commitmentDigest(commitment);
  const statement = { typ: 'weightmark-key-commitment', digest, committedAt: commitment.createdAt, owner: commitment.owner, subject: commitment.subject, arch: commitment.arch, n: commitment.n };
  const record: CommitmentRecord = {
    digest, sealed: ctx.keystore.seal(JSON.stringify(commitment), digest), jws: ctx.signing.signJws(statement, ctx.config.issuer),
    subject: input.subject, createdBy: actor.sub, createdAt: commitment.createdAt,
  };
  return {
    commitment, record,
    write: (w) => {
      w.insertCommitment(record);
      w.appendAudit({ actor: actor.sub, role: actor.role, action: 'key.commit', target: input.subject, details: { digest, committedAt: commitment.createdAt, jws: record.jws } });
    },
  };
}

/**
 * Positions in a new key: as asked, or defaults.key.n — capped at defaults.key.maxShare of the
 * architecture's keyable weights and at what the allocation policy fits into them.
 * @throws AppError WM_ERR_VALIDATION when the asked size does not fit.
 */
export function keySize(archName: string, asked: number | undefined): number {
  const targets = planTargets(paramSpecs(getArchitecture(archName)).filter((s) => s.keyable));
  const capacity = keyCapacity(targets, defaults.key.allocation);
  if (asked !== undefined && asked > capacity) {
    throw new AppError('WM_ERR_VALIDATION', `a key of ${asked} positions does not fit ${archName}: at most ${capacity} (${defaults.key.allocation.maxFraction} of each layer's weights)`);
  }
  return asked ?? defaultKeySize(targets, defaults.key.allocation, defaults.key.n, defaults.key.maxShare);
}

/** The commitment behind a record (the secret part included). @throws when it cannot be opened. */
export function openCommitment(ctx: ServiceContext, rec: CommitmentRecord): KeyCommitment {
  return parseCommitment(JSON.parse(ctx.keystore.open(rec.sealed, rec.digest)));
}

export type Provenance =
  | { readonly status: 'committed'; readonly commitment: string; readonly committedAt: string; readonly statementJws: string }
  | { readonly status: 'unverified'; readonly reason: string };

/**
 * Where a key comes from: 'committed' when it follows from a commitment this service recorded and
 * signed (its time is the earliest the key could have been chosen); 'unverified' otherwise — an
 * uploaded key, or one whose derivation fails — and then no report may treat a match as ownership.
 */
export async function keyProvenance(ctx: ServiceContext, key: WatermarkKey, avoid?: readonly WatermarkKey[]): Promise<Provenance> {
  if (!key.commitment) return { status: 'unverified', reason: 'the key was registered without a commitment (uploaded by its owner); its positions and values could have been chosen at any time' };
  const rec = await ctx.store.getCommitment(key.commitment);
  if (!rec) return { status: 'unverified', reason: `the key names commitment ${key.commitment}, which this service never recorded` };
  let commitment: KeyCommitment;
  try {
    commitment = openCommitment(ctx, rec);
  } catch (e) {
    return { status: 'unverified', reason: `the commitment record cannot be opened: ${(e as Error).message}` };
  }
  const check = checkDerivation(key, commitment, avoid);
  if (!check.ok) return { status: 'unverified', reason: `the key does not follow from its commitment: ${check.reason}` };
  return { status: 'committed', commitment: rec.digest, committedAt: rec.createdAt, statementJws: rec.jws };
}
