/**
 * An imported network written back as the licensor had it (issue 12: releases in the licensee's
 * format): 'onnx' is the ORIGINAL graph with only its initializers' values replaced; 'safetensors' and
 * 'pt' are the state_dict under the original names and layouts (PyTorch's, when the model came as a
 * state_dict plus its training-mode graph), batch-norm counters included when the original had them,
 * so `model.load_state_dict(...)` takes them strictly.
 */
import type { ParamSet } from '../../core/paramSet.js';
import { float32Bytes } from '../common.js';
import { writeStateDict } from '../pt.js';
import { writeSafetensors } from '../safetensors.js';
import type { ModelFile } from '../types.js';
import { originalTensors, type OriginMap } from './origin.js';
import { replaceInitializers } from './rewrite.js';

export type OriginalFormat = 'onnx' | 'safetensors' | 'pt';
export const ORIGINAL_FORMATS: readonly OriginalFormat[] = ['onnx', 'safetensors', 'pt'];

/**
 * @param originalGraph the uploaded ONNX model the origin map was imported from.
 * @throws Error when the param set or the graph do not belong to the origin map.
 */
export function writeOriginal(format: OriginalFormat, params: ParamSet, origin: OriginMap, originalGraph: Uint8Array): ModelFile[] {
  const tensors = originalTensors(params, origin);
  if (format === 'onnx') return [{ name: 'model.onnx', bytes: replaceInitializers(originalGraph, new Map(tensors.map((t) => [t.name, t.data] as const))) }];
  const counters = origin.counters ?? [];
  if (format === 'safetensors') return [{ name: 'model.safetensors', bytes: writeSafetensors({ tensors }, undefined, counters) }];
  return [{
    name: 'model.pt',
    bytes: writeStateDict([
      ...tensors.map((t) => ({ name: t.name, shape: t.shape, storage: 'FloatStorage' as const, bytes: float32Bytes(t.data) })),
      ...counters.map((c) => ({ name: c.name, shape: [], storage: 'LongStorage' as const, bytes: new Uint8Array(new BigInt64Array([BigInt(c.value)]).buffer) })),
    ]),
  }];
}
