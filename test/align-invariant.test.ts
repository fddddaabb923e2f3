import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getArchitecture, type Architecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { alignToKey } from '../src/core/align/index.js';
import { embedKey, extractAt, forward, gauss, maxAbsDiff, obfuscate, pearson, randomParams, rngFrom, tinyConv, tinyMlp, toTorch } from './align-helpers.js';

function assertRecovered(aligned: ParamSet, original: ParamSet, tol: number): void {
  for (const t of original.tensors) {
    const a = aligned.tensors.find((x) => x.name === t.name)!;
    assert.deepEqual(a.shape, t.shape, t.name);
    const scale = t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(maxAbsDiff(a.data, t.data) <= tol * scale, `${t.name}: max diff ${maxAbsDiff(a.data, t.data)} vs scale ${scale}`);
  }
}

function assertSameFunction(a: ParamSet, b: ParamSet, arch: Architecture, seed: number): void {
  const rng = rngFrom(seed);
  const [h, w, c] = arch.inputShape;
  for (let k = 0; k < 3; k++) {
    const x = Float32Array.from({ length: h * w * c }, () => rng());
    const ya = forward(a, arch, x);
    const yb = forward(b, arch, x);
    assert.ok(maxAbsDiff(ya, yb) < 1e-4 * ya.reduce((m, v) => Math.max(m, Math.abs(v)), 1), 'the attack must preserve the function');
  }
}

for (const arch of [tinyConv, tinyMlp]) {
  test(`when a ${arch.name} has its units permuted and rescaled, then alignment recovers the original exactly`, () => {
    const rng = rngFrom(10);
    const ref = randomParams(arch, rng);
    const key = embedKey(ref, 60, rng);
    const suspect = obfuscate(ref, arch, rng, { permute: true, scaleRange: 4 });
    assertSameFunction(ref, suspect, arch, 1);
    const res = alignToKey(suspect, key, { reference: ref });
    assertRecovered(res.params, ref, 1e-5);
    assert.match(res.mapping.find((m) => m.keyTensor === 'fc1/kernel')!.transform, /units permuted \(exact\).*rescaled per unit/);
    assert.ok(res.mapping.some((m) => /inputs permuted; inputs rescaled back/.test(m.transform)));
  });

  test(`when a ${arch.name} gets dummy neurons besides permutation and scaling, then the dummies are dropped`, () => {
    const rng = rngFrom(20);
    const ref = randomParams(arch, rng);
    const key = embedKey(ref, 60, rng);
    const suspect = obfuscate(ref, arch, rng, { permute: true, scaleRange: 3, dummies: 5 });
    assertSameFunction(ref, suspect, arch, 2);
    assert.notDeepEqual(suspect.tensors[0]!.shape, ref.tensors[0]!.shape);
    const res = alignToKey(suspect, key, { reference: ref });
    assertRecovered(res.params, ref, 1e-5);
    assert.ok(res.mapping.some((m) => /5 extra unit\(s\) dropped/.test(m.transform)));
  });
}

test('when the attacked tiny conv net is also exported with PyTorch names and layouts, then it is still recovered', () => {
  const rng = rngFrom(30);
  const ref = randomParams(tinyConv, rng);
  const key = embedKey(ref, 60, rng);
  const suspect = toTorch(obfuscate(ref, tinyConv, rng, { permute: true, scaleRange: 3, dummies: 2 }), tinyConv);
  const res = alignToKey(suspect, key, { reference: ref });
  assertRecovered(res.params, ref, 1e-5);
  assert.match(res.mapping.find((m) => m.keyTensor === 'fc1/kernel')!.transform, /flatten CHW→HWC/);
});

test('when lenet5 is permuted and rescaled in PyTorch layout, then alignment recovers it within seconds', () => {
  const arch = getArchitecture('lenet5');
  const rng = rngFrom(40);
  const ref = randomParams(arch, rng);
  const key = embedKey(ref, 1000, rng);
  const suspect = toTorch(obfuscate(ref, arch, rng, { permute: true, scaleRange: 2 }), arch);
  const t0 = performance.now();
  const res = alignToKey(suspect, key, { reference: ref });
  const ms = performance.now() - t0;
  assertRecovered(res.params, ref, 1e-5);
  assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
  console.log(`lenet5 invariant alignment: ${ms.toFixed(0)} ms, comparisons ${res.comparisons}`);
});

test('when a derived model was fine-tuned (noise) and then obfuscated, then the extracted values still correlate with the key', () => {
  const rng = rngFrom(50);
  const ref = randomParams(tinyConv, rng);
  const key = embedKey(ref, 150, rng);
  const tuned = { tensors: ref.tensors.map((t) => ({ ...t, data: t.data.map((v) => v + gauss(rng) * 0.3 * Math.abs(v)) })) };
  const suspect = obfuscate(tuned, tinyConv, rng, { permute: true, scaleRange: 3, dummies: 2 });
  const res = alignToKey(suspect, key, { reference: ref });
  const r = pearson(extractAt(res.params, key), key.values);
  const rTuned = pearson(extractAt(tuned, key), key.values);
  assert.ok(r > 0.9 && Math.abs(r - rTuned) < 0.02, `r = ${r}, before obfuscation ${rTuned}`);
});
