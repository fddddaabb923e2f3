import type { ParamSet, ParamTensor } from './paramSet.js';
import { sizeOf } from './paramSet.js';
import type { WatermarkKey } from './watermarkKey.js';

/**
 * The keyed tensors of a param set, in key order. The param set must already be in the key's layout
 * (see core/align): this function reads by name and refuses a shape that differs.
 * @throws Error naming the missing tensor or the shape found against the shape expected.
 */
export function keyedTensors(set: ParamSet, key: WatermarkKey): ParamTensor[] {
  const byName = new Map(set.tensors.map((t) => [t.name, t]));
  return key.tensors.map((kt) => {
    const t = byName.get(kt.name);
    if (!t) throw new Error(`The model has no tensor '${kt.name}' that the key marks; it has: ${[...byName.keys()].join(', ')}`);
    if (t.shape.length !== kt.shape.length || t.shape.some((d, i) => d !== kt.shape[i])) {
      throw new Error(`Tensor '${kt.name}' has shape [${t.shape.join(', ')}] but the key expects [${kt.shape.join(', ')}]`);
    }
    if (t.data.length !== sizeOf(t.shape)) throw new Error(`Tensor '${kt.name}' holds ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    return t;
  });
}

/** The values at the key's positions, in key order. */
export function extractValues(set: ParamSet, key: WatermarkKey): Float32Array {
  const tensors = keyedTensors(set, key);
  const out = new Float32Array(key.values.length);
  for (let i = 0; i < out.length; i++) out[i] = tensors[key.tensorIndex[i]!]!.data[key.flatIndex[i]!]!;
  return out;
}

/** A copy of the param set with the key's values written at its positions. */
export function embedValues(set: ParamSet, key: WatermarkKey): ParamSet {
  keyedTensors(set, key);
  const tensors = set.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }));
  const byKeyIndex = key.tensors.map((kt) => tensors.find((t) => t.name === kt.name)!);
  for (let i = 0; i < key.values.length; i++) byKeyIndex[key.tensorIndex[i]!]!.data[key.flatIndex[i]!] = key.values[i]!;
  return { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors };
}
