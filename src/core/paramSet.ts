/**
 * A param set: a model's named tensors in one canonical layout (TensorFlow.js: conv kernels HWIO,
 * dense kernels [in, out]), each a Float32Array with its shape. Every format reader produces one,
 * every writer consumes one, and the watermark core only ever sees these.
 */
export interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface ParamSet {
  /** Architecture name from the registry when known (e.g. "lenet5"); absent for foreign models. */
  readonly arch?: string;
  readonly tensors: readonly ParamTensor[];
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function paramCount(set: ParamSet): number {
  let n = 0;
  for (const t of set.tensors) n += t.data.length;
  return n;
}

/** Finds a tensor by exact name. @throws Error naming the missing tensor and the ones present. */
export function tensorByName(set: ParamSet, name: string): ParamTensor {
  const t = set.tensors.find((x) => x.name === name);
  if (!t) {
    throw new Error(`Tensor '${name}' not found; the param set has: ${set.tensors.map((x) => x.name).join(', ')}`);
  }
  return t;
}

/** Deep copy, so attacks and training never alias the caller's arrays. */
export function cloneParamSet(set: ParamSet): ParamSet {
  return {
    ...(set.arch !== undefined ? { arch: set.arch } : {}),
    tensors: set.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) })),
  };
}
