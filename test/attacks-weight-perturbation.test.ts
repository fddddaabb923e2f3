import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { addGaussianNoise, float16RoundTrip, getAttack, int8Dynamic, pruneMagnitude, quantizeUniform } from '../src/attacks/index.js';
import { distinctLevels } from '../src/attacks/quantize.js';
import { meanStd } from '../src/attacks/tensors.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { randomParams, snapshot, tinyLenet } from './attacks-reference.js';

const set = randomParams(tinyLenet, 21);
const kernels = (s: ParamSet) => s.tensors.filter((t) => t.name.endsWith('/kernel'));

describe('quantization', () => {
  for (const bits of [2, 3, 4, 8]) {
    it(`when quantizing to ${bits} bits per tensor (min-max), then each tensor holds at most 2^${bits} levels including its min and max`, () => {
      const before = snapshot(set);
      const out = quantizeUniform(set, bits);
      assert.deepEqual(snapshot(set), before);
      out.tensors.forEach((t, i) => {
        const src = set.tensors[i]!.data;
        assert.ok(distinctLevels(t, false)[0]! <= 2 ** bits);
        const lo = Math.min(...src);
        const hi = Math.max(...src);
        assert.ok(Math.abs(Math.min(...t.data) - lo) < 1e-6 && Math.abs(Math.max(...t.data) - hi) < 1e-6);
        const step = (hi - lo) / (2 ** bits - 1);
        for (let j = 0; j < src.length; j++) assert.ok(Math.abs(t.data[j]! - src[j]!) <= step / 2 + 1e-6);
      });
    });
  }

  it('when quantizing to 3 bits per output channel, then each channel holds at most 8 levels while the tensor holds more', () => {
    const out = quantizeUniform(set, 3, { granularity: 'channel' });
    const fc1 = out.tensors.find((t) => t.name === 'fc1/kernel')!;
    for (const n of distinctLevels(fc1, true)) assert.ok(n <= 8);
    assert.ok(distinctLevels(fc1, false)[0]! > 8);
  });

  it('when quantizing symmetrically to 4 bits, then zero is a level and at most 15 levels are used', () => {
    const out = quantizeUniform(set, 4, { mode: 'symmetric' });
    for (const t of out.tensors) assert.ok(distinctLevels(t, false)[0]! <= 15);
    const t = out.tensors[0]!;
    const step = Math.max(...set.tensors[0]!.data.map(Math.abs)) / 7;
    for (const v of t.data) assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-4);
  });

  it('when an attack option has a value it does not know, then the attack refuses, naming the option and its choices', async () => {
    const run = (attack: string, options: Record<string, string | number | boolean>) => getAttack(attack).run(set, tinyLenet, 4, { seed: 1, options });
    await assert.rejects(run('quantize', { mode: 'symetric' }), /option mode must be one of minmax, symmetric, got "symetric"/);
    await assert.rejects(run('quantize-channel', { mode: 4 }), /option mode must be one of minmax, symmetric/);
    await assert.rejects(run('int8-ort', { weightType: 'int4' }), /option weightType must be one of int8, uint8/);
    await assert.rejects(run('int8-ort', { perChannel: 'yes' }), /option perChannel must be true or false, got "yes"/);
    const symmetric = await run('quantize', { mode: 'symmetric' });
    assert.deepEqual(symmetric.set.tensors[0]!.data, quantizeUniform(set, 4, { mode: 'symmetric' }).tensors[0]!.data);
  });

  it('when bits are outside 2..16, then quantization throws', () => {
    assert.throws(() => quantizeUniform(set, 1), /2\.\.16/);
  });

  it('when round-tripping through float16, then values move by at most a half-precision ulp', () => {
    const out = float16RoundTrip(set);
    out.tensors.forEach((t, i) =>
      t.data.forEach((v, j) => {
        const x = set.tensors[i]!.data[j]!;
        assert.ok(Math.abs(v - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
      }),
    );
  });

  it('when quantizing like ONNX Runtime dynamic int8, then kernels sit on a grid of max|w|/127 with at most 255 levels and biases are untouched', () => {
    const out = int8Dynamic(set);
    out.tensors.forEach((t, i) => {
      const src = set.tensors[i]!;
      if (!src.name.endsWith('/kernel')) return assert.deepEqual([...t.data], [...src.data]);
      const scale = Math.fround(Math.max(...src.data.map(Math.abs)) / 127);
      assert.ok(distinctLevels(t, false)[0]! <= 255);
      for (const v of t.data) assert.ok(Math.abs(v / scale - Math.round(v / scale)) < 1e-3);
    });
    const u8 = int8Dynamic(set, { weightType: 'uint8' });
    for (const t of kernels(u8)) assert.ok(distinctLevels(t, false)[0]! <= 256);
  });
});

describe('pruning', () => {
  for (const fraction of [0.1, 0.5, 0.9, 0.99]) {
    it(`when pruning ${fraction * 100}% per layer, then exactly that fraction of each kernel is zero and the largest weights are kept`, () => {
      const out = pruneMagnitude(set, fraction, 'layer');
      kernels(out).forEach((t) => {
        const src = set.tensors.find((x) => x.name === t.name)!.data;
        const k = Math.round(fraction * src.length);
        assert.equal(t.data.filter((v) => v === 0).length, k);
        const kept = [...t.data].filter((v) => v !== 0).map(Math.abs);
        const pruned = [...src].filter((_, j) => t.data[j] === 0).map(Math.abs);
        if (kept.length && pruned.length) assert.ok(Math.min(...kept) >= Math.max(...pruned));
        t.data.forEach((v, j) => assert.ok(v === 0 || v === src[j]));
      });
      assert.deepEqual([...out.tensors.find((t) => t.name === 'fc1/bias')!.data], [...set.tensors.find((t) => t.name === 'fc1/bias')!.data]);
    });
  }

  it('when pruning 70% globally, then exactly 70% of all kernel weights are zero under one threshold', () => {
    const out = pruneMagnitude(set, 0.7, 'global');
    const total = kernels(set).reduce((s, t) => s + t.data.length, 0);
    const zeros = kernels(out).reduce((s, t) => s + t.data.filter((v) => v === 0).length, 0);
    assert.equal(zeros, Math.round(0.7 * total));
    const kept = kernels(out).flatMap((t) => [...t.data].filter((v) => v !== 0).map(Math.abs));
    const pruned = kernels(set).flatMap((t) => {
      const o = out.tensors.find((x) => x.name === t.name)!.data;
      return [...t.data].filter((_, j) => o[j] === 0).map(Math.abs);
    });
    assert.ok(Math.min(...kept) >= Math.max(...pruned));
    const perLayer = kernels(out).map((t) => t.data.filter((v) => v === 0).length / t.data.length);
    assert.ok(Math.max(...perLayer) - Math.min(...perLayer) > 0.01, 'global pruning does not prune every layer alike');
  });
});

describe('noise', () => {
  it('when adding noise of 0.5 tensor std, then the difference has about 0.5 x that tensor std and the same seed repeats it', () => {
    const big = randomParams({ ...tinyLenet, layers: tinyLenet.layers.map((l) => (l.type === 'dense' && l.name === 'fc1' ? { ...l, units: 400 } : l)) }, 3);
    const out = addGaussianNoise(big, 0.5, 7);
    for (const t of big.tensors.filter((x) => x.data.length > 1000)) {
      const o = out.tensors.find((x) => x.name === t.name)!.data;
      const diff = o.map((v, j) => v - t.data[j]!);
      const ratio = meanStd(diff).std / meanStd(t.data).std;
      assert.ok(Math.abs(ratio - 0.5) < 0.03, `${t.name}: ${ratio}`);
    }
    assert.deepEqual(snapshot(addGaussianNoise(big, 0.5, 7)), snapshot(out));
    assert.notDeepEqual(snapshot(addGaussianNoise(big, 0.5, 8)), snapshot(out));
  });

  it('when the strength is 0, then the weights are unchanged', () => {
    assert.deepEqual(snapshot(addGaussianNoise(set, 0, 1)), snapshot(set));
  });
});
