import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialParamSet } from '../src/core/init.js';
import { materializeKey, planKey, planTargets } from '../src/core/keyPlan.js';
import { buildKeyBank, scoreBank } from '../src/core/keyBank.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { gaussianSource } from '../src/core/locking.js';
import type { WatermarkKey } from '../src/core/watermarkKey.js';
import type { ParamSet } from '../src/core/paramSet.js';

const base = initialParamSet('lenet5', 4);
const targets = planTargets(base.tensors);
const policy = { minPerLayer: 64, maxFraction: 0.2, share: 'size' as const };
const keys: WatermarkKey[] = Array.from({ length: 40 }, (_, i) =>
  i % 5 === 4
    ? generateKey(keyTargetsFromParamSet(base), { seed: `v1-${i}`, id: `v1-${i}`, n: 512 })
    : materializeKey(planKey(targets, { seed: `k${i}`, n: 1024, policy }), base, { id: `k${i}` }));
const bank = buildKeyBank(keys);

/** The base with key 7's values written in, then noise of `sd` on every weight. */
function suspect(sd: number, seed: number): ParamSet {
  const g = gaussianSource(seed);
  const marked = embedValues(base, keys[7]!);
  return { tensors: marked.tensors.map((t) => ({ ...t, data: t.data.map((v) => v + sd * g()) })) };
}

test('when a bank scores keys, then every exact entry equals scoreAgainstKey of that key (signal and value keys alike)', () => {
  const s = suspect(0.01, 1);
  const opts = { fpr: 1e-6, comparisons: keys.length, combination: 'min' as const, inflation: 1 };
  const out = scoreBank(bank, s, { ...opts, detail: keys.length });
  keys.forEach((k, i) => {
    const e = out[i]!;
    assert.ok('score' in e, `key ${i}: ${JSON.stringify(e)}`);
    const one = scoreAgainstKey(extractValues(s, k), k, opts);
    assert.ok(Math.abs(e.score.r - one.r) < 1e-6 && Math.abs(e.score.log10p - one.log10p) < 1e-5, `key ${i}: ${e.score.log10p} vs ${one.log10p}`);
    assert.equal(e.score.decision, one.decision);
  });
});

test('when most keys are screened out, then no key that matches is ever among them', () => {
  const opts = { fpr: 1e-6, comparisons: keys.length, combination: 'min' as const, inflation: 1 };
  for (const [sd, seed] of [[0.001, 2], [0.05, 3], [0.12, 4], [0.2, 5], [0.4, 6]] as const) {
    const s = suspect(sd, seed);
    const out = scoreBank(bank, s, { ...opts, detail: 2 });
    keys.forEach((k, i) => {
      const exact = scoreAgainstKey(extractValues(s, k), k, opts);
      const e = out[i]!;
      if (exact.decision === 'match') assert.ok('score' in e && e.score.decision === 'match', `noise ${sd}: key ${i} matches but was screened`);
      if ('screened' in e) assert.ok(e.screened.log10pBound <= exact.log10p + 1e-9, 'the screening bound is a lower bound');
    });
  }
});

test('when a bank is asked for some keys only, then only those are scored', () => {
  const out = scoreBank(bank, suspect(0.01, 7), { fpr: 1e-6, comparisons: 3, combination: 'min', inflation: 1, only: [7, 8, 9] });
  assert.deepEqual(out.map((e) => e.key), [7, 8, 9]);
  assert.ok('score' in out[0]! && out[0].score.decision === 'match');
});

test('when a few keys are screened on their own, then their bounds equal those of the one-pass screening of the whole bank', () => {
  const s = suspect(0.2, 8);
  const opts = { fpr: 1e-6, comparisons: keys.length, combination: 'fisher' as const, inflation: 1, detail: 0 };
  const all = new Map(scoreBank(bank, s, opts).map((e) => [e.key, e]));
  const few = scoreBank(bank, s, { ...opts, only: [3, 11, 24] });
  assert.equal(few.length, 3);
  for (const e of few) {
    const a = all.get(e.key)!;
    assert.ok('screened' in e && 'screened' in a, `key ${e.key}: ${JSON.stringify(e)}`);
    assert.ok(Math.abs(e.screened.r - a.screened.r) < 1e-9 && Math.abs(e.screened.log10pBound - a.screened.log10pBound) < 1e-9, `key ${e.key}: ${JSON.stringify(e.screened)} vs ${JSON.stringify(a.screened)}`);
  }
});
