import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { SweepResult, SweepSeries } from '../src/attacks/sweep.js';
import { failuresOnFile, runNotes, type FailedSweep } from '../src/report/runNotes.js';

const result = (name: string, invariant = false): SweepResult => ({
  attack: { name, title: name, strengthName: 'epochs', unit: 'epochs', decreasing: false, functionPreserving: invariant },
  invariant, accuracyFloor: 0.68, rThreshold: 0.15, series: [], seconds: 1,
});
const overwrite: FailedSweep = { label: 'overwrite', name: 'overwrite', invariant: false, title: "overwriting with the attacker's key", why: 'Training diverged (loss NaN at epoch 1, step 28)' };
const method = ['How accuracy is measured.'];
const seriesOf = (model: string): SweepSeries => ({ model, baseline: { strength: 0, accuracy: 0.7, r: 0.97, n: 10, pValue: 1e-9, log10p: -9, ber: 0, decision: 'match', seconds: 0 }, points: [], firstFailure: null, accuracyFloor: 0.65, detectedWhereAccurate: true });

describe('the notes of a report run', () => {
  it('when sweeps remain, then the notes open by saying how many of the planned sweeps ran, failed ones included; the last write drops it', () => {
    const measured = [result('float16')];
    const partial = runNotes({ notes: [], failed: [overwrite], results: measured, measured, planned: 4, final: false, method });
    assert.equal(partial[0], '**Incomplete**: 2 of the 4 sweeps of this command ran so far; the report is rewritten after each.');
    const done = runNotes({ notes: [], failed: [overwrite], results: measured, measured, planned: 2, final: true, method });
    assert.ok(done.every((n) => !n.includes('Incomplete')));
    assert.equal(done.at(-1), method[0], 'how it measured comes last');
  });

  it('when a sweep failed, then its note gives the error, and says so when the section shown is an older run\'s', () => {
    const fresh = runNotes({ notes: [], failed: [overwrite], results: [], measured: [], planned: 1, final: true, method });
    assert.ok(fresh.includes("'overwrite' (overwriting with the attacker's key): this command's sweep failed — Training diverged (loss NaN at epoch 1, step 28)."), fresh.join('\n'));
    const older = [result('overwrite')];
    const merged = runNotes({ notes: [], failed: [overwrite], results: older, measured: [], planned: 1, final: true, merge: { kept: 1, json: 'docs/r.json' }, method });
    assert.ok(merged.some((n) => n.endsWith("Training diverged (loss NaN at epoch 1, step 28); its section below is the previous run's.")), merged.join('\n'));
    // The invariant section of the same attack is another sweep: it does not count as the failed one's.
    const otherMode = runNotes({ notes: [], failed: [overwrite], results: [result('overwrite', true)], measured: [], planned: 1, final: true, method });
    assert.ok(otherMode.every((n) => !n.includes('previous run')));
  });

  it('when merging, then the notes list the sections this command measured and how many others came from the previous JSON', () => {
    const measured = [result('permute'), result('permute', true)];
    const notes = runNotes({ notes: ["'dummy' does not apply to resnet32: residual stream."], failed: [], results: [...measured, result('quantize')], measured, planned: 2, final: true, merge: { kept: 1, json: 'docs/robustness-resnet32.json' }, method });
    assert.deepEqual(notes.slice(0, 2), [
      "'dummy' does not apply to resnet32: residual stream.",
      "Sections re-measured by this command: 'permute', 'permute (invariant)'; the 1 others are the previous run's, read from docs/robustness-resnet32.json (the command that measured them is in the file's git history).",
    ]);
  });

  it('when a series is added to a report, then the notes name it, the sections that got it, where the other series come from, and how many sections still lack it', () => {
    const withModels = (r: SweepResult, ...models: string[]): SweepResult => ({ ...r, series: models.map(seriesOf) });
    const measured = [withModels(result('quantize'), 'paper', 'default'), withModels(result('permute', true), 'paper', 'default')];
    const results = [...measured, withModels(result('noise'), 'default'), withModels(result('low-rank'), 'paper', 'default')];
    const notes = runNotes({ notes: [], failed: [], results, measured, planned: 2, final: true, merge: { kept: 2, json: 'docs/robustness-allcnnc.json', series: 'paper' }, method });
    // low-rank was not measured by this command but holds 'paper' from an earlier one: only noise lacks it.
    assert.equal(notes[0], "The 'paper' series was measured by this command and set beside the sections' other series, which are an earlier run's (read from docs/robustness-allcnnc.json; the command that measured them is in the file's git history; their unattacked scores were checked to be what the model scores now): 'quantize', 'permute (invariant)'. 1 section(s) have no 'paper' series yet.");
    const complete = runNotes({ notes: [], failed: [], results: [...measured, withModels(result('noise'), 'paper', 'default')], measured, planned: 2, final: true, merge: { kept: 1, json: 'r.json', series: 'paper' }, method });
    assert.ok(!complete[0]!.includes('yet'), complete[0]);
  });

  it('when the run is quick, then that comes first (after the incomplete marker, while sweeps remain)', () => {
    const notes = runNotes({ notes: [], failed: [], results: [], measured: [], planned: 3, final: false, quick: true, method });
    assert.match(notes[0]!, /^\*\*Incomplete\*\*: 0 of the 3/);
    assert.match(notes[1]!, /^\*\*Quick run\*\*/);
  });

  it('when a later merge measures other attacks, then the earlier failure stays on file and in the notes, with the command that saw it; measuring the attack again retires it', () => {
    const first = failuresOnFile([], [], [overwrite], 'report --attacks overwrite --merge');
    assert.deepEqual(first, [{ ...overwrite, command: 'report --attacks overwrite --merge' }]);
    const later = failuresOnFile(first, [result('overwrite-low-lr')], [], 'report --attacks overwrite-low-lr --merge');
    assert.deepEqual(later, first, 'another attack measured: the failure is still the only record of why overwrite has no section');
    const notes = runNotes({ notes: [], failed: [], earlierFailed: later, results: [result('overwrite-low-lr')], measured: [result('overwrite-low-lr')], planned: 1, final: true, merge: { kept: 3, json: 'r.json' }, method });
    assert.ok(notes.includes("'overwrite' (overwriting with the attacker's key): its sweep failed in an earlier run (`report --attacks overwrite --merge`) — Training diverged (loss NaN at epoch 1, step 28)."), notes.join('\n'));
    assert.deepEqual(failuresOnFile(later, [result('overwrite')], [], 'report --attacks overwrite --merge'), [], 'measured now: retired');
    assert.deepEqual(failuresOnFile(later, [result('overwrite', true)], [], 'x'), later, 'the invariant sweep is another sweep');
    const again = failuresOnFile(later, [], [{ ...overwrite, why: 'diverged at step 3' }], 'cmd2');
    assert.deepEqual(again.map((f) => [f.why, f.command]), [['diverged at step 3', 'cmd2']], 'failing again replaces the old record');
  });

  it('when a --series run sweeps the attack an earlier run of every model failed on, then the failure stays, as the kept series\' — whether the new series\' sweep succeeds or fails too', () => {
    const earlier = [{ ...overwrite, command: 'report --attacks overwrite --merge' }];
    const series = { swept: 'paper', kept: ['default'] };
    const held = failuresOnFile(earlier, [{ ...result('overwrite'), series: [seriesOf('paper')] }], [], 'report --series paper', series);
    assert.deepEqual(held, [{ ...earlier[0]!, series: 'default' }], 'the paper series measured: the default one still has no sweep');
    const both = failuresOnFile(earlier, [], [overwrite], 'report --series paper', series);
    assert.deepEqual(both.map((f) => [f.series, f.command]), [['default', 'report --attacks overwrite --merge'], ['paper', 'report --series paper']]);
    // A later run of every model retires both; another --series paper run only the paper one.
    assert.deepEqual(failuresOnFile(both, [result('overwrite')], [], 'whole'), []);
    assert.deepEqual(failuresOnFile(both, [result('overwrite')], [], 'again', series).map((f) => f.series), ['default']);
    // The section below holds only the paper series: it is no earlier measurement of the default one's.
    const section = { ...result('overwrite'), series: [seriesOf('paper')] };
    const notes = runNotes({ notes: [], failed: [], earlierFailed: held, results: [section], measured: [section], planned: 1, final: true, merge: { kept: 0, json: 'r.json', series: 'paper' }, method });
    assert.ok(notes.includes("'overwrite' (overwriting with the attacker's key): the 'default' series' sweep failed in an earlier run (`report --attacks overwrite --merge`) — Training diverged (loss NaN at epoch 1, step 28)."), notes.join('\n'));
    const failedNow = runNotes({ notes: [], failed: [{ ...overwrite, series: 'paper' }], results: [], measured: [], planned: 1, final: true, merge: { kept: 0, json: 'r.json', series: 'paper' }, method });
    assert.ok(failedNow.some((n) => n.startsWith("'overwrite' (overwriting with the attacker's key): this command's 'paper' series' sweep failed")), failedNow.join('\n'));
  });
});
