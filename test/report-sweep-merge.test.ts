import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { SweepResult } from '../src/attacks/sweep.js';
import { detectionWhereAccurate } from '../src/report/markdown.js';
import { mergeSweeps, parseSweeps, sweepToJson } from '../src/report/sweepFiles.js';

/** A sweep reduced to what the merge reads (attack name, alignment) and a tag telling runs apart. */
function sweep(name: string, invariant: boolean, run: string): SweepResult {
  return {
    attack: { name, title: name, strengthName: 's', unit: '', decreasing: false, functionPreserving: false },
    invariant,
    accuracyFloor: 0.95,
    rThreshold: null,
    series: [],
    seconds: run === 'old' ? 1 : 2,
  };
}
const tags = (list: readonly SweepResult[]) => list.map((r) => `${r.attack.name}${r.invariant ? '+inv' : ''}:${r.seconds === 1 ? 'old' : 'new'}`);

describe('robustness-report --merge (mergeSweeps)', () => {
  const previous = [sweep('finetune', false, 'old'), sweep('permute', false, 'old'), sweep('permute', true, 'old'), sweep('noise', false, 'old')];

  it('replaces re-measured sections in place and keeps the others in their order', () => {
    const { merged, kept } = mergeSweeps(previous, [sweep('noise', false, 'new'), sweep('permute', true, 'new')]);
    assert.deepEqual(tags(merged), ['finetune:old', 'permute:old', 'permute+inv:new', 'noise:new']);
    assert.equal(kept, 2);
  });

  it('tells the two alignments of one attack apart', () => {
    const { merged } = mergeSweeps(previous, [sweep('permute', false, 'new')]);
    assert.deepEqual(tags(merged), ['finetune:old', 'permute:new', 'permute+inv:old', 'noise:old']);
  });

  it('appends sections the previous report did not have', () => {
    const { merged, kept } = mergeSweeps(previous, [sweep('reinit-hidden', false, 'new'), sweep('finetune', false, 'new')]);
    assert.deepEqual(tags(merged), ['finetune:new', 'permute:old', 'permute+inv:old', 'noise:old', 'reinit-hidden:new']);
    assert.equal(kept, 3);
  });
});

describe('reading a report back (parseSweeps)', () => {
  it('when a series predates per-series floors (only the sweep has one), then it gets the sweep\'s floor, so a merged report still reads "yes" where it was detected', () => {
    const old = { ...sweep('quantize', false, 'old'), series: [{ model: 'default', baseline: null, points: [{ strength: 8, accuracy: 0.99, r: 0.99, n: 10, pValue: 1e-9, log10p: -9, ber: 0, decision: 'match', seconds: 0 }], firstFailure: null, detectedWhereAccurate: true }] };
    const [read] = parseSweeps(sweepToJson([old as unknown as SweepResult]));
    assert.equal(read!.series[0]!.accuracyFloor, 0.95);
    assert.equal(detectionWhereAccurate(read!.series[0]!), 'yes');
  });
});

describe('robustness-report command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/robustness-report.ts', ...args], { encoding: 'utf8' });

  it('when --attacks names an attack the report does not know, then it stops before any work with the names it knows (its own chains included) and no stack trace', () => {
    const r = run('--arch', 'allcnnc', '--model', 'models/allcnnc', '--attacks', 'hide,overwrit', '--out', 'no-such-dir/report.md');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^robustness-report: --attacks: unknown 'overwrit'; the allcnnc report knows .*overwrite-low-lr, prune-then-fine-tune-low-lr, hide, rescale-both-then-fine-tune\n$/);
  });
});
