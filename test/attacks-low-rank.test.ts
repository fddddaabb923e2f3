import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { getAttack, lowRank, parseRanks } from '../src/attacks/index.js';
import { singularValues, truncateRank } from '../src/attacks/linalg.js';
import { getArchitecture } from '../src/core/architectures.js';
import { initialParamSet } from '../src/core/init.js';
import type { ParamSet, ParamTensor } from '../src/core/paramSet.js';
import { snapshot } from './attacks-reference.js';

const arch = getArchitecture('lenet5');
const set = initialParamSet(arch, 17);
const tensor = (s: ParamSet, name: string): ParamTensor => s.tensors.find((t) => t.name === name)!;

/** PyTorch's matrix of a kernel: [out, in·kh·kw] from OIHW (conv, HWIO here) or [out, in] (dense, [in, out] here). */
function torchMatrix(t: ParamTensor): { data: Float64Array; rows: number; cols: number } {
  if (t.shape.length === 2) {
    const [fin, out] = t.shape as [number, number];
    const data = new Float64Array(out * fin);
    for (let i = 0; i < fin; i++) for (let o = 0; o < out; o++) data[o * fin + i] = t.data[i * out + o]!;
    return { data, rows: out, cols: fin };
  }
  const [kh, kw, cin, out] = t.shape as [number, number, number, number];
  const cols = cin * kh * kw;
  const data = new Float64Array(out * cols);
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let c = 0; c < cin; c++) for (let o = 0; o < out; o++) {
    data[o * cols + (c * kh + h) * kw + w] = t.data[((h * kw + w) * cin + c) * out + o]!;
  }
  return { data, rows: out, cols };
}

/** The inverse of torchMatrix for a conv kernel: [out, in·kh·kw] back to HWIO. */
function fromTorchConv(m: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const [kh, kw, cin, out] = shape as [number, number, number, number];
  const cols = cin * kh * kw;
  const data = new Float32Array(kh * kw * cin * out);
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let c = 0; c < cin; c++) for (let o = 0; o < out; o++) {
    data[((h * kw + w) * cin + c) * out + o] = m[o * cols + (c * kh + h) * kw + w]!;
  }
  return data;
}

function significantRank(t: ParamTensor): number {
  const m = torchMatrix(t);
  const s = singularValues(m.data, m.rows, m.cols);
  return [...s].filter((x) => x > 1e-4 * s[0]!).length;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('low-rank compression', () => {
  it('when the rank kept is the full rank, then every weight comes back unchanged', () => {
    const { set: out, layers } = lowRank(set, arch, 500, {});
    for (const t of set.tensors) assert.deepEqual(tensor(out, t.name).data, t.data, t.name);
    assert.deepEqual(layers.map((l) => [l.layer, l.rank, l.fullRank]), [['conv1', 20, 20], ['conv2', 50, 50], ['fc1', 500, 500], ['fc2', 10, 10]]);
  });

  it('when a kernel of rank r is truncated at r through the projection, then it comes back to 1e-5', () => {
    const [m, n, r] = [60, 40, 7];
    const a = new Float32Array(m * n);
    for (let k = 0; k < r; k++) {
      const u = Array.from({ length: m }, (_, i) => Math.sin(i * (k + 1) * 0.37 + k));
      const v = Array.from({ length: n }, (_, j) => Math.cos(j * (k + 2) * 0.21 - k));
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) a[i * n + j] = a[i * n + j]! + 0.05 * u[i]! * v[j]!;
    }
    assert.ok(maxAbsDiff(truncateRank(a, m, n, r), a) < 1e-5);
  });

  it('when LeNet5 is compressed to rank 15, then each PyTorch-shaped kernel matrix has 15 significant singular values (fc2: its full 10) and biases are bit-identical', () => {
    const before = snapshot(set);
    const { set: out } = lowRank(set, arch, 15, {});
    assert.deepEqual(snapshot(set), before, 'input untouched');
    for (const [name, rank] of [['conv1/kernel', 15], ['conv2/kernel', 15], ['fc1/kernel', 15], ['fc2/kernel', 10]] as const) {
      assert.equal(significantRank(tensor(out, name)), rank, name);
    }
    assert.equal(significantRank(tensor(set, 'conv2/kernel')), 50, 'the original conv2 has full rank');
    for (const t of set.tensors.filter((x) => x.name.endsWith('/bias'))) assert.deepEqual(tensor(out, t.name).data, t.data, t.name);
  });

  it("when conv2 is truncated in our HWIO layout, then the result equals PyTorch's: reshape to [out, in·kh·kw], truncate, reshape back", () => {
    const conv2 = tensor(set, 'conv2/kernel');
    const m = torchMatrix(conv2);
    const reference = fromTorchConv(truncateRank(m.data, m.rows, m.cols, 8), conv2.shape);
    const ours = tensor(lowRank(set, arch, 8, { layers: ['conv2'] }).set, 'conv2/kernel').data;
    const scale = Math.max(...reference.map(Math.abs));
    assert.ok(maxAbsDiff(ours, reference) < 1e-5 * scale, `max difference ${maxAbsDiff(ours, reference)} at scale ${scale}`);
  });

  it('when ranks are given per layer, then only those layers are compressed, each at its rank; layers adds layers at the strength', async () => {
    const attack = getAttack('low-rank');
    const { set: out } = await attack.run(set, arch, 30, { seed: 1, options: { ranks: 'fc1=15,conv2=15,fc2=8' } });
    assert.deepEqual(tensor(out, 'conv1/kernel').data, tensor(set, 'conv1/kernel').data, 'conv1 not named: untouched');
    assert.deepEqual([significantRank(tensor(out, 'conv2/kernel')), significantRank(tensor(out, 'fc1/kernel')), significantRank(tensor(out, 'fc2/kernel'))], [15, 15, 8]);
    const { set: mixed } = await attack.run(set, arch, 5, { seed: 1, options: { layers: 'fc1,fc2', ranks: 'fc2=8' } });
    assert.deepEqual([significantRank(tensor(mixed, 'fc1/kernel')), significantRank(tensor(mixed, 'fc2/kernel'))], [5, 8]);
    assert.deepEqual(tensor(mixed, 'conv2/kernel').data, tensor(set, 'conv2/kernel').data);
  });

  it('when an option or the strength is wrong, then it throws saying what was found and what is accepted', async () => {
    const attack = getAttack('low-rank');
    await assert.rejects(attack.run(set, arch, 0, { seed: 1 }), /low-rank strength must be a positive integer \(the rank kept\), got 0/);
    await assert.rejects(attack.run(set, arch, 2.5, { seed: 1 }), /got 2\.5/);
    await assert.rejects(attack.run(set, arch, 5, { seed: 1, options: { layers: 'fc9' } }), /no kernel for layer 'fc9'; layers with a kernel: conv1, conv2, fc1, fc2/);
    await assert.rejects(attack.run(set, arch, 5, { seed: 1, options: { layers: 'fc1', ranks: 'fc2=3' } }), /ranks names fc2, not among the layers compressed \(fc1\)/);
    await assert.rejects(attack.run(set, arch, 5, { seed: 1, options: { ranks: 15 } }), /option ranks must be text like "fc1=15,conv2=15,fc2=8", got 15/);
    assert.throws(() => parseRanks('fc1:15'), /'fc1:15' is not layer=rank/);
    assert.throws(() => parseRanks('fc1=0'), /the rank of 'fc1' must be a positive integer/);
    assert.deepEqual(parseRanks(' fc1=15, conv2 = 3 '), { fc1: 15, conv2: 3 });
  });

  it('when the registry lists low-rank, then it needs no data, sweeps ranks downwards and is not function-preserving', () => {
    const a = getAttack('low-rank');
    assert.equal(a.needsData, false);
    assert.equal(a.strength.decreasing, true);
    assert.deepEqual([...a.strength.defaults], [50, 30, 20, 15, 10, 8, 5, 3]);
    assert.equal(a.functionPreserving, false);
  });
});
