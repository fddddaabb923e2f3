import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { SweepPoint, SweepResult } from '../src/attacks/sweep.js';
import { formatP, renderRobustnessReport } from '../src/report/markdown.js';

const pt = (strength: number, accuracy: number, r: number, match: boolean): SweepPoint => ({
  strength, accuracy, r, n: 1024, pValue: match ? 1e-20 : 0.3, log10p: match ? -20 : Math.log10(0.3), ber: 0, decision: match ? 'match' : 'no match', seconds: 0,
});

const result: SweepResult = {
  attack: { name: 'prune', title: 'magnitude pruning per layer', strengthName: 'fraction pruned', unit: '%', decreasing: false, functionPreserving: false },
  invariant: false,
  accuracyFloor: 0.95,
  rThreshold: 0.152,
  seconds: 3,
  series: [
    { model: 'naive', baseline: pt(0, 0.99, 1, true), points: [pt(0.5, 0.985, 0.6, true), pt(0.9, 0.96, 0.1, false), pt(0.99, 0.3, 0, false)], firstFailure: { strength: 0.9, accuracy: 0.96 }, accuracyFloor: 0.95, detectedWhereAccurate: false },
    { model: 'delve', baseline: pt(0, 0.99, 1, true), points: [pt(0.5, 0.985, 0.7, true), pt(0.9, 0.96, 0.3, true), pt(0.99, 0.3, 0.05, false)], firstFailure: { strength: 0.99, accuracy: 0.3 }, accuracyFloor: 0.95, detectedWhereAccurate: true },
  ],
};

describe('robustness report', () => {
  it('when rendering a sweep of two models, then there is a row per strength with both models, the first failure and the ≥95% statement per model', () => {
    const md = renderRobustnessReport([{ result, plot: 'plots/prune.svg' }], { command: 'x', generatedAt: 't', setup: ['s'] });
    assert.match(md, /\| fraction pruned \| naive accuracy \| naive r \| naive p \| naive decision \| delve accuracy/);
    assert.match(md, /\| none \| 99\.00% \| 1\.000 \| 1\.0e-20 \| match \| 99\.00%/);
    assert.match(md, /\| 90% \| 96\.00% \| 0\.100 \| 0\.300 \| no match \| 96\.00% \| 0\.300 \| 1\.0e-20 \| match \|/);
    assert.match(md, /\*\*naive\*\*: first fails at fraction pruned = 90% \(accuracy 96\.00%\); \*\*no\*\* — lost at a strength where accuracy is still ≥ 95%/);
    assert.match(md, /\*\*delve\*\*: first fails at fraction pruned = 99% \(accuracy 30\.00%\); \*\*yes\*\* — detected at every strength where accuracy ≥ 95%/);
    assert.match(md, /\| magnitude pruning per layer \| 90% \(96\.00%\) \| \*\*no\*\* \| 99% \(30\.00%\) \| yes \|/);
    assert.match(md, /!\[magnitude pruning per layer\]\(plots\/prune\.svg\)/);
  });

  it('when formatting p-values, then tiny ones keep their exponent from log10 p', () => {
    assert.equal(formatP(-8000.5), '3.2e-8001');
    assert.equal(formatP(Math.log10(0.25)), '0.250');
  });
});

describe('robustness report, unscorable points', () => {
  it('when a point has no score, then its cells say so and the reason is listed once under the table', () => {
    const bad: SweepPoint = { ...pt(0.5, 0.98, NaN, false), error: 'Cannot map key tensor(s) fc1/kernel' };
    const res: SweepResult = { ...result, series: [{ ...result.series[0]!, points: [bad, { ...bad, strength: 0.9 }] }] };
    const md = renderRobustnessReport([{ result: res }], { command: 'x', generatedAt: 't', setup: [] });
    assert.match(md, /\| 50% \| 98\.00% \| — \| — \| no match \(no score†\) \|/);
    assert.equal(md.match(/† naive @ 50%, naive @ 90%: the alignment refused the suspect — Cannot map key tensor\(s\) fc1\/kernel/g)?.length, 1);
  });
});
