import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { SweepResult } from '../src/attacks/sweep.js';
import { mergeSweeps } from '../src/report/sweepFiles.js';

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

describe('robustness-report command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/robustness-report.ts', ...args], { encoding: 'utf8' });

  it('when --attacks names an attack the report does not know, then it stops before any work with the names it knows (its own chains included) and no stack trace', () => {
    const r = run('--arch', 'allcnnc', '--model', 'models/allcnnc', '--attacks', 'hide,overwrit', '--out', 'no-such-dir/report.md');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^robustness-report: --attacks: unknown 'overwrit'; the allcnnc report knows .*overwrite-low-lr, prune-then-fine-tune-low-lr, hide\n$/);
  });
});
