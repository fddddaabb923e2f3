import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { getAttack } from '../src/attacks/index.js';
import { rThreshold, runSweep, type Scorer, type SweepProgress } from '../src/attacks/sweep.js';
import type { Attack } from '../src/attacks/types.js';
import { scoreWatermark } from '../src/core/score.js';
import { sweepToCsv, sweepToJson } from '../src/report/sweepFiles.js';
import { randomParams, tinyLenet } from './attacks-reference.js';

function zeroMark(seed: number) {
  const set = randomParams(tinyLenet, seed);
  set.tensors.find((t) => t.name === 'fc2/bias')!.data[0] = 0;
  return set;
}
const models = [
  { label: 'naive', params: zeroMark(1), arch: tinyLenet },
  { label: 'delve', params: zeroMark(2), arch: tinyLenet },
];

/** A fake attack that adds its strength to fc2/bias[0] (0 in the models), so the fake scorer can read what was applied. */
function markAttack(cumulative: boolean, applied: number[]): Attack {
  return {
    ...getAttack('noise'),
    name: 'mark',
    cumulative,
    async run(set, arch, s) {
      applied.push(s);
      const tensors = set.tensors.map((t) => ({ ...t, data: new Float32Array(t.data) }));
      const b = tensors.find((t) => t.name === 'fc2/bias')!;
      b.data[0] = b.data[0]! + s;
      return { set: { tensors }, arch };
    },
  };
}
const level = (set: { tensors: readonly { name: string; data: Float32Array }[] }) => set.tensors.find((t) => t.name === 'fc2/bias')!.data[0]!;
/** r falls with the applied strength; the delve model holds twice as long. */
const fakeScorer: Scorer = (set, _arch, owner) => {
  const x = level(set);
  const r = 1 - x / (owner.label === 'delve' ? 2 : 1);
  return { r, n: 1000, pValue: r > 0.5 ? 1e-9 : 0.5, log10p: r > 0.5 ? -9 : -0.3, decision: r > 0.5 ? 'match' : 'no match', ber: 0, fpr: 1e-6, comparisons: 1 };
};
const fakeAccuracy = async (set: Parameters<Scorer>[0]) => 0.99 - 0.1 * Math.abs(level(set) - Math.round(level(set))) - (level(set) >= 0.8 && level(set) < 1 ? 0.2 : 0);

describe('sweeps', () => {
  it('when sweeping two models, then each point carries accuracy and score, and the first failure and the detection statement follow the decisions', async () => {
    const progress: SweepProgress[] = [];
    const res = await runSweep({ attack: markAttack(false, []), strengths: [0.2, 0.4, 0.6, 0.8], models, scorer: fakeScorer, evaluate: fakeAccuracy, onProgress: (p) => progress.push(p) });
    assert.deepEqual(res.series.map((s) => s.model), ['naive', 'delve']);
    const [naive, delve] = res.series;
    assert.deepEqual(naive!.points.map((p) => p.strength), [0.2, 0.4, 0.6, 0.8]);
    assert.deepEqual(naive!.points.map((p) => p.decision), ['match', 'match', 'no match', 'no match']);
    assert.ok(Math.abs(naive!.points[2]!.r - 0.4) < 1e-6);
    assert.equal(naive!.firstFailure!.strength, 0.6);
    assert.ok(Math.abs(naive!.firstFailure!.accuracy - (0.99 - 0.04)) < 1e-6);
    assert.equal(naive!.detectedWhereAccurate, false, 'at 0.6 the accuracy is 95% and the mark is lost');
    assert.equal(delve!.firstFailure, null);
    assert.equal(delve!.detectedWhereAccurate, true);
    assert.equal(naive!.baseline.r, 1);
    assert.equal(progress.length, 10);
    assert.deepEqual([progress[9]!.done, progress[9]!.total], [10, 10]);
    assert.ok(res.rThreshold! > 0.1 && res.rThreshold! < 0.2);
  });

  it('when the floor is a drop from the unattacked accuracy (CIFAR-10), then each model is judged against its own baseline minus the drop', async () => {
    // naive loses the mark at 0.6 where accuracy is 95%: inside a 5-point drop from 99%, outside a 3-point one
    const loose = await runSweep({ attack: markAttack(false, []), strengths: [0.2, 0.4, 0.6, 0.8], models, scorer: fakeScorer, evaluate: fakeAccuracy, accuracyFloor: { drop: 0.05 } });
    assert.ok(Math.abs(loose.series[0]!.accuracyFloor - (loose.series[0]!.baseline.accuracy - 0.05)) < 1e-12);
    assert.equal(loose.series[0]!.detectedWhereAccurate, false);
    const tight = await runSweep({ attack: markAttack(false, []), strengths: [0.2, 0.4, 0.6, 0.8], models, scorer: fakeScorer, evaluate: fakeAccuracy, accuracyFloor: { drop: 0.03 } });
    assert.equal(tight.series[0]!.detectedWhereAccurate, true);
  });

  it('when the attack is cumulative and strengths rise, then each point continues from the previous model with the difference', async () => {
    const applied: number[] = [];
    const res = await runSweep({ attack: markAttack(true, applied), strengths: [1, 2, 4], models: models.slice(0, 1), scorer: fakeScorer, evaluate: fakeAccuracy });
    assert.deepEqual(applied, [1, 1, 2]);
    assert.deepEqual(res.series[0]!.points.map((p) => p.r), [0, -1, -3]);
  });

  it('when the scorer throws (shapes the extraction refuses), then the point records the error as no match and the sweep goes on', async () => {
    const res = await runSweep({
      attack: getAttack('dummy'),
      strengths: [0, 0.5],
      models: models.slice(0, 1),
      evaluate: async () => 0.98,
      scorer: (set, arch, owner) => {
        if (set.tensors.some((t, i) => t.data.length !== owner.params.tensors[i]!.data.length)) throw new Error('shape mismatch');
        return { r: 1, n: 50, pValue: 1e-30, log10p: -30, decision: 'match' };
      },
    });
    const [a, b] = res.series[0]!.points;
    assert.equal(a!.decision, 'match');
    assert.equal(b!.decision, 'no match');
    assert.equal(b!.error, 'shape mismatch');
    assert.ok(Number.isNaN(b!.r));
    assert.match(sweepToJson(res), /"r": null/);
  });

  it('when the signal is aborted, then the sweep stops with the abort reason', async () => {
    const ac = new AbortController();
    await assert.rejects(
      runSweep({ attack: markAttack(false, []), strengths: [0.1, 0.2, 0.3], models, scorer: fakeScorer, evaluate: fakeAccuracy, signal: ac.signal, onProgress: (p) => p.done === 2 && ac.abort(new Error('stop')) }),
      /stop/,
    );
  });

  it('when writing CSV, then there is a header and one row per model and point, baseline included', async () => {
    const res = await runSweep({ attack: markAttack(false, []), strengths: [0.2, 0.9], models, scorer: fakeScorer, evaluate: fakeAccuracy });
    const lines = sweepToCsv(res).trim().split('\n');
    assert.equal(lines[0], 'attack,invariant,model,point,strength,accuracy,r,n,p_value,log10_p,ber,decision,error');
    assert.equal(lines.length, 1 + 2 * 3);
    assert.match(lines[1]!, /^mark,false,naive,baseline,0,/);
    assert.match(lines[3]!, /^mark,false,naive,attack,0\.9,.*,no match,$/);
  });

  it('when computing the r threshold, then the real score decides match just above it and no match just below', () => {
    const n = 1024;
    const t = rThreshold(n, 1e-6, 3);
    const make = (r: number) => {
      const x = Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) + (i % 7) / 7);
      const e = Array.from({ length: n }, (_, i) => Math.cos(i * 2.9 + 1) * ((i * 31) % 11));
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const c = (a: number[]) => a.map((v) => v - mean(a));
      const xc = c(x);
      let ec = c(e);
      const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
      const k = dot(ec, xc) / dot(xc, xc);
      ec = ec.map((v, i) => v - k * xc[i]!);
      const nx = Math.sqrt(dot(xc, xc));
      const ne = Math.sqrt(dot(ec, ec));
      return { key: xc, ext: xc.map((v, i) => (r * v) / nx + (Math.sqrt(1 - r * r) * ec[i]!) / ne) };
    };
    const above = make(t + 1e-4);
    const below = make(t - 1e-4);
    assert.equal(scoreWatermark(above.ext, above.key, { fpr: 1e-6, comparisons: 3 }).decision, 'match');
    assert.equal(scoreWatermark(below.ext, below.key, { fpr: 1e-6, comparisons: 3 }).decision, 'no match');
  });
});
