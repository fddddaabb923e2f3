import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { SweepResult, SweepSeries } from '../src/attacks/sweep.js';
import { detectionWhereAccurate } from '../src/report/markdown.js';
import { mergeSeries, mergeSweeps, parseSweeps, sweepToJson } from '../src/report/sweepFiles.js';

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

describe('robustness-report --merge --series paper (mergeSeries)', () => {
  const series = (model: string, r: number) => ({ model, baseline: { strength: 0, accuracy: 0.9, r, n: 10, pValue: 1e-9, log10p: -9, ber: 0, decision: 'match' as const, seconds: 0 }, points: [], firstFailure: null, accuracyFloor: model === 'paper' ? 0.84 : 0.85, detectedWhereAccurate: true });
  const withSeries = (name: string, invariant: boolean, run: string, ...s: SweepSeries[]): SweepResult => ({ ...sweep(name, invariant, run), series: s, accuracyFloor: s[0]!.accuracyFloor, rThreshold: run === 'old' ? 0.2 : 0.3 });
  const previous = [withSeries('quantize', false, 'old', series('naive', 0.97)), withSeries('permute', true, 'old', series('paper', 0.5), series('naive', 0.96)), withSeries('noise', false, 'old', series('naive', 0.97))];
  const fresh = [withSeries('permute', true, 'new', series('paper', 1)), withSeries('quantize', false, 'new', series('paper', 1)), withSeries('low-rank', false, 'new', series('paper', 1))];

  it('puts the fresh series first in its section, replaces an older one of that name, renames the kept ones and takes the first series\' floor and threshold', () => {
    const { merged, kept } = mergeSeries(previous, fresh, { naive: 'default' });
    assert.deepEqual(merged.map((r) => [r.attack.name, r.series.map((s) => `${s.model}:${s.baseline.r}`)]), [
      ['quantize', ['paper:1', 'default:0.97']],
      ['permute', ['paper:1', 'default:0.96']],
      ['noise', ['default:0.97']],
      ['low-rank', ['paper:1']],
    ]);
    assert.deepEqual(merged.map((r) => [r.accuracyFloor, r.rThreshold, r.seconds]), [[0.84, 0.3, 3], [0.84, 0.3, 3], [0.85, 0.2, 1], [0.84, 0.3, 2]]);
    assert.equal(kept, 1, 'noise got no paper series (low-rank is new, not kept)');
  });

  it('takes a replaced series\' time off its section, so re-measuring a series does not count it twice', () => {
    const timed = (model: string, ...seconds: number[]) => ({ ...series(model, 0.9), points: seconds.map((t, i) => ({ ...series(model, 0.9).baseline, strength: i + 1, seconds: t })) });
    const before = [{ ...withSeries('quantize', false, 'old', timed('paper', 30, 40), timed('default', 50)), seconds: 125 }];
    const again = [{ ...withSeries('quantize', false, 'new', timed('paper', 20, 25)), seconds: 48 }];
    const { merged } = mergeSeries(before, again);
    assert.equal(merged[0]!.seconds, 125 - 70 + 48);
    assert.deepEqual(merged[0]!.series.map((s) => s.points.map((p) => p.seconds)), [[20, 25], [50]]);
    assert.equal(mergeSeries(merged, again).merged[0]!.seconds, merged[0]!.seconds + 3, 'a second identical run adds only its time outside the points (48 − 45 s)');
  });

  it('keeps every label when nothing is renamed', () => {
    assert.deepEqual(mergeSeries(previous, []).merged.map((r) => r.series.map((s) => s.model)), [['naive'], ['paper', 'naive'], ['naive']]);
  });

  it('names the folder of a kept series that records none, after renaming, and never overwrites one it records', () => {
    const recorded = [withSeries('quantize', false, 'old', { ...series('naive', 0.97), source: 'models/earlier' }), withSeries('noise', false, 'old', series('naive', 0.97))];
    const { merged } = mergeSeries(recorded, [withSeries('noise', false, 'new', { ...series('paper', 1), source: 'models/x-paper' })], { naive: 'default' }, { default: 'models/x', paper: 'models/x-paper' });
    assert.deepEqual(merged.map((r) => r.series.map((s) => `${s.model}@${s.source}`)), [['default@models/earlier'], ['paper@models/x-paper', 'default@models/x']]);
  });
});

describe('reading a report back (parseSweeps)', () => {
  it('when a series predates per-series floors (only the sweep has one), then it gets the sweep\'s floor, so a merged report still reads "yes" where it was detected', () => {
    const old = { ...sweep('quantize', false, 'old'), series: [{ model: 'default', baseline: null, points: [{ strength: 8, accuracy: 0.99, r: 0.99, n: 10, pValue: 1e-9, log10p: -9, ber: 0, decision: 'match', seconds: 0 }], firstFailure: null, detectedWhereAccurate: true }] };
    const [read] = parseSweeps(sweepToJson([old as unknown as SweepResult]));
    assert.equal(read!.series[0]!.accuracyFloor, 0.95);
    assert.equal(detectionWhereAccurate(read!.series[0]!), 'yes');
  });
  it('when the JSON is not a report\'s sweeps (another JSON file, a sweep without series), then it says so instead of failing inside', () => {
    for (const text of ['{"name":"weightmark"}', '[{"attack":{"name":"quantize"}}]', '[null]']) assert.throws(() => parseSweeps(text), /not a robustness report's sweeps/);
  });
});

describe('robustness-report command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/robustness-report.ts', ...args], { encoding: 'utf8' });

  it('when --attacks names an attack the report does not know, then it stops before any work with the names it knows (its own chains included) and no stack trace', () => {
    const r = run('--arch', 'allcnnc', '--model', 'models/allcnnc', '--attacks', 'hide,overwrit', '--out', 'no-such-dir/report.md');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^robustness-report: --attacks: unknown 'overwrit'; the allcnnc report knows .*overwrite-low-lr, prune-then-fine-tune-low-lr, hide, rescale-both-then-fine-tune\n$/);
  });

  it('when --series is asked for without what it needs, then it says so before any work', () => {
    const noMerge = run('--arch', 'resnet32', '--model', 'models/resnet32', '--paper', 'models/resnet32', '--series', 'paper', '--out', 'no-such-dir/report.md');
    assert.equal(noMerge.status, 1);
    assert.match(noMerge.stderr, /^robustness-report: --series paper adds a series to the report at --out: it needs --merge and --paper DIR\n$/);
    const other = run('--arch', 'resnet32', '--model', 'models/resnet32', '--merge', '--series', 'default', '--out', 'no-such-dir/report.md');
    assert.match(other.stderr, /--series paper, got 'default'/);
    const noAttacks = run('--arch', 'resnet32', '--model', 'models/resnet32', '--merge', '--out', 'no-such-dir/report.md');
    assert.match(noAttacks.stderr, /name them with --attacks a,b \(or add a series to all of them with --series paper\)/);
  });
});
