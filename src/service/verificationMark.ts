/**
 * For a matching key made from a picture: the mark as drawn from the suspect's weights, beside the picture the
 * key holds — what an owner shows a court next to the numbers. Admin only, and only in the answer to the
 * upload (the suspect is not kept, so it cannot be drawn again later).
 *
 * Why admin only: the drawn mark is the suspect's weight at every secret position, in key order. Anyone
 * holding the suspect file could look those values up in it and recover the positions — the key itself,
 * which only an admin may export (GET /v1/models/{id}/key). Auditors keep the per-layer figures.
 */
import { alignToKey } from '../core/align/index.js';
import { findArchitecture } from '../core/architectures.js';
import { extractValues } from '../core/extract.js';
import type { ParamSet } from '../core/paramSet.js';
import { extractedPicture } from '../core/picture.js';
import { encodePngGrey } from '../formats/png.js';
import type { Actor, ServiceContext } from './context.js';
import { getModel, loadReference, openKey, readUploadedModel } from './models.js';
import type { ModelFileIn } from './ports.js';
import type { VerificationReport } from './verifications.js';

export interface VerificationMark {
  readonly keyId: string;
  readonly licensee: string | null;
  readonly width: number;
  readonly height: number;
  /** PNG (greyscale, base64): the picture the key was made from, redrawn from the key's values. */
  readonly original: string;
  /** PNG (greyscale, base64): the suspect's values at the key's positions, on the same grey scale. */
  readonly extracted: string;
}

export const seesMark = (actor: Actor): boolean => actor.role === 'admin';

/**
 * The mark for the answer to `actor`'s upload: undefined for other roles, when no matching key is a
 * picture, or when it cannot be drawn (logged: the verification itself stands without it).
 */
export async function markFor(ctx: ServiceContext, actor: Actor, files: readonly ModelFileIn[], report: VerificationReport): Promise<VerificationMark | undefined> {
  if (!seesMark(actor)) return undefined;
  try {
    return await drawMark(ctx, () => readUploadedModel(ctx, files).params, report);
  } catch (e) {
    ctx.logger.warn('could not draw the mark of a picture key', { verification: report.verificationId, error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

const png = (width: number, height: number, pixels: Uint8Array): string => Buffer.from(encodePngGrey(width, height, pixels)).toString('base64');

/**
 * The mark of the best-scoring matching key made from a picture, aligned as its score was (as read, or
 * through the invariant re-alignment onto its reference); undefined when no such key matched (the
 * picture of a key that does not match would be noise beside another key's match).
 */
export async function drawMark(ctx: ServiceContext, readSuspect: () => ParamSet, report: VerificationReport): Promise<VerificationMark | undefined> {
  for (const candidate of report.candidates) {
    if (candidate.decision !== 'match') continue;
    const rec = await ctx.store.getKey(candidate.keyId);
    if (!rec) continue;
    const key = await openKey(ctx, rec);
    if (key.valueKind !== 'image' || !key.image) continue;
    const referenceModel = await getModel(ctx, candidate.referenceModelId);
    const reference = await loadReference(ctx, referenceModel);
    const archName = key.arch ?? referenceModel.arch;
    const arch = findArchitecture(archName);
    // Read again only here, on the rare path of a picture key: the verification worker keeps no copy.
    const aligned = alignToKey(readSuspect(), key, { reference, ...(arch ? { arch } : {}), invariant: candidate.alignment === 'invariant' });
    const { width, height } = key.image;
    return {
      keyId: candidate.keyId, licensee: candidate.licensee, width, height,
      original: png(width, height, extractedPicture(key, key.values)),
      extracted: png(width, height, extractedPicture(key, extractValues(aligned.params, key))),
    };
  }
  return undefined;
}
