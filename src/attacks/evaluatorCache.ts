/**
 * Accuracy keyed by the exact bytes of the evaluated model. A report scores each function-preserving
 * attack twice (plain and invariant alignment) on the same attacked weights, and its first strength is
 * often the unattacked model: on ALL-CNN-C each of those evaluations costs ~40 s of ONNX Runtime for a
 * number already measured. Keying by content, not by attack and strength, means a repeat is recognised
 * only when the weights really are identical — nothing is assumed about an attack's determinism.
 */
import { createHash } from 'node:crypto';
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { Evaluator } from './sweep.js';

/** SHA-256 over the architecture (its name and layer widths) and every tensor's name, shape and float32 bytes. */
export function paramSetDigest(set: ParamSet, arch: Architecture): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ arch: arch.name, input: arch.inputShape, layers: arch.layers }));
  for (const t of [...set.tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(`\0${t.name}\0${t.shape.join('x')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

export interface CachedEvaluator extends Evaluator {
  /** Evaluations answered from the cache so far. */
  readonly hits: () => number;
}

/** `evaluate`, run once per distinct model; concurrent calls on the same model share one evaluation. */
export function cachedEvaluator(evaluate: Evaluator): CachedEvaluator {
  const seen = new Map<string, Promise<number>>();
  let hits = 0;
  const cached = (set: ParamSet, arch: Architecture): Promise<number> => {
    const digest = paramSetDigest(set, arch);
    const known = seen.get(digest);
    if (known) {
      hits++;
      return known;
    }
    const run = evaluate(set, arch);
    seen.set(digest, run);
    // A failed evaluation is not remembered: the next call measures again.
    run.catch(() => seen.delete(digest));
    return run;
  };
  return Object.assign(cached, { hits: () => hits });
}
