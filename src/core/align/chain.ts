/**
 * The layer chain behind a list of target tensors: which tensors are a layer's kernel and bias, which
 * layer feeds which, and where a flatten sits between a conv and a dense layer. It is inferred from the
 * names (`<layer>/kernel|bias`) and shapes (HWIO, [in, out]) so it also works for keys without a
 * registered architecture; a given architecture is only checked against it.
 */
import { paramSpecs, type Architecture } from '../architectures.js';
import type { TargetTensor } from './types.js';

export interface ChainLayer {
  readonly name: string;
  readonly kind: 'conv' | 'dense';
  /** Index into the targets of the kernel, and of the bias if any. */
  readonly kernel: number;
  readonly bias?: number;
  readonly units: number;
  /** Input channels (conv) or input features (dense). */
  readonly inputs: number;
  /** For a dense layer right after a conv (through a flatten): spatial positions S and channels C, rows = S*C in HWC order. */
  readonly flatten?: { readonly spatial: number; readonly channels: number };
  readonly isFirst: boolean;
  readonly isOutput: boolean;
}

export type ChainResult = { readonly ok: true; readonly layers: readonly ChainLayer[] } | { readonly ok: false; readonly reason: string };

function splitRole(name: string): { layer: string; role: 'kernel' | 'bias' } | undefined {
  const m = /^(.*)\/(kernel|bias)$/.exec(name);
  return m ? { layer: m[1]!, role: m[2] as 'kernel' | 'bias' } : undefined;
}

/** Infers the sequential chain of conv/dense layers. Never throws: an unusable list gives `ok: false` and why. */
export function inferChain(targets: readonly TargetTensor[], arch?: Architecture): ChainResult {
  const order: string[] = [];
  const parts = new Map<string, { kernel?: number; bias?: number }>();
  for (let i = 0; i < targets.length; i++) {
    const s = splitRole(targets[i]!.name);
    if (!s) return { ok: false, reason: `tensor '${targets[i]!.name}' is not named <layer>/kernel or <layer>/bias` };
    if (!parts.has(s.layer)) {
      parts.set(s.layer, {});
      order.push(s.layer);
    }
    parts.get(s.layer)![s.role] = i;
  }
  const layers: ChainLayer[] = [];
  let prev: { kind: 'conv' | 'dense'; units: number } | undefined;
  for (let li = 0; li < order.length; li++) {
    const name = order[li]!;
    const p = parts.get(name)!;
    if (p.kernel === undefined) return { ok: false, reason: `layer '${name}' has a bias but no kernel among the tensors` };
    const shape = targets[p.kernel]!.shape;
    const kind = shape.length === 4 ? 'conv' : shape.length === 2 ? 'dense' : undefined;
    if (!kind) return { ok: false, reason: `kernel '${targets[p.kernel]!.name}' has rank ${shape.length}; expected 4 (HWIO) or 2 ([in, out])` };
    const units = shape[shape.length - 1]!;
    const inputs = shape[shape.length - 2]!;
    if (p.bias !== undefined && (targets[p.bias]!.shape.length !== 1 || targets[p.bias]!.shape[0] !== units)) {
      return { ok: false, reason: `bias '${targets[p.bias]!.name}' [${targets[p.bias]!.shape}] does not fit ${units} units` };
    }
    let flatten: ChainLayer['flatten'];
    if (prev) {
      if (prev.kind === 'conv' && kind === 'dense') {
        if (inputs % prev.units !== 0) return { ok: false, reason: `dense '${name}' has ${inputs} inputs, not a multiple of the ${prev.units} channels before it` };
        flatten = { spatial: inputs / prev.units, channels: prev.units };
      } else if (prev.kind === 'dense' && kind === 'conv') {
        return { ok: false, reason: `conv '${name}' follows a dense layer` };
      } else if (inputs !== prev.units) {
        return { ok: false, reason: `layer '${name}' has ${inputs} inputs but the layer before it has ${prev.units} units (missing tensors?)` };
      }
    }
    layers.push({
      name,
      kind,
      kernel: p.kernel,
      ...(p.bias !== undefined ? { bias: p.bias } : {}),
      units,
      inputs,
      ...(flatten ? { flatten } : {}),
      isFirst: li === 0,
      isOutput: li === order.length - 1,
    });
    prev = { kind, units };
  }
  if (layers.length === 0) return { ok: false, reason: 'no layers' };
  if (arch) {
    const want = paramSpecs(arch).filter((s) => s.role === 'kernel').map((s) => s.layer);
    const have = layers.map((l) => l.name);
    if (want.join(',') !== have.join(',')) return { ok: false, reason: `architecture '${arch.name}' has layers ${want.join(', ')} but the tensors give ${have.join(', ')}` };
  }
  return { ok: true, layers };
}
