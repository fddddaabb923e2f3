/**
 * Probing shows up as near-identical uploads: an attacker locating the key changes a few weights and
 * uploads again, thousands of times. Each suspect leaves a sketch — 64 weights of each tensor at
 * positions fixed by the tensor's name and shape — and an upload whose sketch equals (bit for bit, in
 * at least 90% of the sampled weights) one of the subject's recent uploads with different files is
 * flagged in the audit log ('verification.near-duplicate'). It does not refuse the request: the
 * verdict carries nothing to learn from, the flag is for the people reading the log.
 */
import crypto from 'node:crypto';
import type { ParamSet } from '../core/paramSet.js';
import type { StoreWriter } from '../store/types.js';
import type { Actor, ServiceContext } from './context.js';

const PER_TENSOR = 64;
const KEEP_PER_SUBJECT = 50;
const SAME_FRACTION = 0.9;

export function sketchOf(set: ParamSet): { signature: string; sketch: Float32Array } {
  const tensors = [...set.tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const signature = crypto.createHash('sha256').update(tensors.map((t) => `${t.name}[${t.shape.join(',')}]`).join(';')).digest('hex');
  const sketch = new Float32Array(tensors.length * PER_TENSOR);
  tensors.forEach((t, ti) => {
    const h = crypto.createHash('sha256').update(`${t.name}[${t.shape.join(',')}]`).digest();
    let s = h.readUInt32LE(0) || 1;
    for (let k = 0; k < PER_TENSOR; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      sketch[ti * PER_TENSOR + k] = t.data.length ? t.data[s % t.data.length]! : 0;
    }
  });
  return { signature, sketch };
}

function sameFraction(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (Object.is(a[i], b[i])) same++;
  return same / a.length;
}

/**
 * The upload's sketch compared with the subject's recent ones (a read, done before the verification's
 * write); `write` records the sketch and the flag in the caller's transaction, so one verification is one
 * commit and one signed audit head.
 */
export async function nearDuplicates(ctx: ServiceContext, actor: Actor, set: ParamSet, files: readonly { sha256: string }[]): Promise<{ write: (w: StoreWriter, verificationId: string) => void; warn: (verificationId: string) => void }> {
  const { signature, sketch } = sketchOf(set);
  const digest = crypto.createHash('sha256').update(files.map((f) => f.sha256).join(',')).digest('hex');
  const recent = await ctx.store.recentUploadSketches(actor.sub, signature, KEEP_PER_SUBJECT);
  const near = recent
    .filter((r) => r.digest !== digest)
    .map((r) => ({ id: r.verificationId, same: sameFraction(r.sketch, sketch) }))
    .filter((x) => x.same >= SAME_FRACTION);
  return {
    write: (w, verificationId) => {
      w.insertUploadSketch({ verificationId, subject: actor.sub, signature, digest, sketch, createdAt: new Date().toISOString() }, KEEP_PER_SUBJECT);
      if (near.length > 0) {
        w.appendAudit({
          actor: actor.sub, role: actor.role, action: 'verification.near-duplicate', target: verificationId,
          details: { similarTo: near.slice(0, 10).map((x) => x.id), count: near.length, sameFraction: Math.max(...near.map((x) => x.same)) },
        });
      }
    },
    warn: (verificationId) => {
      if (near.length > 0) ctx.logger.warn('near-identical suspect uploaded again', { subject: actor.sub, verificationId, similar: near.length });
    },
  };
}
