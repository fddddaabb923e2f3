import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SweepPoint, SweepResult, SweepSeries } from '../src/attacks/sweep.js';
import { defaults } from '../src/core/config.js';
import { defaultPanelPaths, panelPathsBeside, refreshPaperPanels } from '../src/report/panelFiles.js';
import { PANELS_END, PANELS_START, paperPanels, paperPanelsSection, plotPanel, withPanelsBlock, type PanelNetwork } from '../src/report/panels.js';
import { sweepToJson } from '../src/report/sweepFiles.js';
import { all, parseXml, type XmlNode } from './svg-helpers.js';

const point = (strength: number, r: number, accuracy: number, threshold = 0.2): SweepPoint => ({
  strength, accuracy, r, n: 1024, pValue: 0, log10p: -10, ber: 0, decision: r >= threshold ? 'match' : 'no match', seconds: 0,
});

function series(model: string, points: SweepPoint[], accuracyFloor: number, baseline = point(0, 1, 0.99)): SweepSeries {
  const fail = points.find((p) => p.decision === 'no match');
  return {
    model, baseline, points, accuracyFloor,
    firstFailure: fail ? { strength: fail.strength, accuracy: fail.accuracy } : null,
    detectedWhereAccurate: points.every((p) => p.accuracy < accuracyFloor || p.decision === 'match'),
  };
}

const attacks = {
  quantize: { name: 'quantize', title: 'k-bit quantization per tensor', strengthName: 'bits', unit: 'bits', decreasing: true, functionPreserving: false },
  'fine-tune': { name: 'fine-tune', title: 'fine-tuning at lr 0.1', strengthName: 'epochs', unit: 'epochs', decreasing: false, functionPreserving: false },
  permute: { name: 'permute', title: 'neuron permutation', strengthName: 'fraction of units moved', unit: '%', decreasing: false, functionPreserving: true },
  'reinit-head': { name: 'reinit-head', title: 'head re-initialised, retrained alone', strengthName: 'epochs', unit: 'epochs', decreasing: false, functionPreserving: false },
  overwrite: { name: 'overwrite', title: "overwriting with the attacker's key", strengthName: 'epochs', unit: 'epochs', decreasing: false, functionPreserving: false },
  'reinit-classifier': { name: 'reinit-classifier', title: 'classifier re-initialised, retrained on frozen features', strengthName: 'epochs', unit: 'epochs', decreasing: false, functionPreserving: false },
} as const;

function sweep(attack: keyof typeof attacks, list: SweepSeries[], invariant = false, accuracyFloor = 0.95): SweepResult {
  return { attack: attacks[attack], invariant, accuracyFloor, rThreshold: 0.2, series: list, seconds: 1 };
}

const quantize = (models = ['paper', 'default']): SweepResult =>
  sweep('quantize', models.map((m, i) => series(m, [8, 6, 4, 2].map((b) => point(b, 1 - (8 - b) / (8 + i), 0.99 - (8 - b) / 20)), 0.95)));
const fineTune = (models = ['paper', 'default']): SweepResult =>
  sweep('fine-tune', models.map((m) => series(m, [1, 2, 3, 5].map((e) => point(e, 1 - e / 10, 0.98)), 0.95)));

const byClass = (doc: XmlNode, cls: string) => all(doc, (n) => n.attrs.class === cls);
/** The x coordinates of a path's vertices, in drawing order. */
const xsOf = (path: XmlNode) => [...path.attrs.d!.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));

describe('dual-axis panel', () => {
  it('when plotting two models, then one plot has the score axis left, the accuracy axis right, both dashed reference lines and a path per model and quantity', () => {
    const doc = parseXml(plotPanel(quantize()));
    assert.deepEqual(byClass(doc, 'axis').map((a) => a.attrs.id), ['score', 'accuracy']);
    const [score, accuracy] = byClass(doc, 'axis');
    assert.match(all(score!, (n) => n.name === 'text').map((t) => t.text).join(' '), /watermark score r/);
    assert.match(all(accuracy!, (n) => n.name === 'text').map((t) => t.text).join(' '), /test accuracy \(%\)/);
    const left = byClass(doc, 'ytick-left').map((t) => Number(t.attrs.x));
    const right = byClass(doc, 'ytick-right').map((t) => Number(t.attrs.x));
    assert.ok(left.length >= 3 && right.length >= 3);
    assert.ok(Math.max(...left) < Math.min(...right), 'score ticks on the left, accuracy ticks on the right');
    for (const cls of ['threshold', 'floor']) {
      const [line] = byClass(doc, cls);
      assert.ok(line?.attrs['stroke-dasharray'], `${cls} is dashed`);
    }
    const paths = byClass(doc, 'series').map((p) => `${p.attrs['data-model']}:${p.attrs['data-quantity']}`);
    assert.deepEqual(paths.sort(), ['default:accuracy', 'default:r', 'paper:accuracy', 'paper:r']);
  });

  it('when the reference lines are drawn, then the floor sits at its value on the right axis and the threshold at its value on the left', () => {
    const doc = parseXml(plotPanel(quantize()));
    // Tick text baselines sit 4 px below their value; the axis is linear between its ticks.
    const ticks = byClass(doc, 'ytick-right').map((t) => ({ v: Number(t.text), y: Number(t.attrs.y) - 4 }));
    const [a, b] = [ticks[0]!, ticks[ticks.length - 1]!];
    const expected = a.y + ((95 - a.v) * (b.y - a.y)) / (b.v - a.v);
    assert.ok(Math.abs(Number(byClass(doc, 'floor')[0]!.attrs.y1) - expected) < 0.3);
    // And the threshold at r = 0.2 on the left axis.
    const left = byClass(doc, 'ytick-left').map((t) => ({ v: Number(t.text), y: Number(t.attrs.y) - 4 }));
    const [c, d] = [left[0]!, left[left.length - 1]!];
    assert.ok(Math.abs(Number(byClass(doc, 'threshold')[0]!.attrs.y1) - (c.y + ((0.2 - c.v) * (d.y - c.y)) / (d.v - c.v))) < 0.3);
  });

  it('when the strength is decreasing (bits), then x runs from many to few; epochs run from few to many', () => {
    const q = parseXml(plotPanel(quantize(['only'])));
    const qx = xsOf(byClass(q, 'series').find((p) => p.attrs['data-quantity'] === 'r')!);
    assert.equal(qx.length, 4);
    assert.ok(qx.every((x, i) => i === 0 || x > qx[i - 1]!), '8, 6, 4, 2 bits drawn left to right');
    const f = parseXml(plotPanel(fineTune(['only'])));
    const fx = xsOf(byClass(f, 'series').find((p) => p.attrs['data-quantity'] === 'r')!);
    assert.ok(fx.every((x, i) => i === 0 || x > fx[i - 1]!), '1, 2, 3, 5 epochs drawn left to right');
  });

  it('when asked to start at zero, then each line begins with the unattacked model', () => {
    const doc = parseXml(plotPanel(fineTune(['only']), { baselineAtZero: true }));
    for (const p of byClass(doc, 'series')) assert.equal(xsOf(p).length, 5);
    assert.ok(byClass(doc, 'xtick').some((t) => t.text === '0'));
  });

  it('when a point has no score, then the r line is broken there and the point is marked', () => {
    const r = quantize(['only']);
    const broken: SweepResult = { ...r, series: [{ ...r.series[0]!, points: r.series[0]!.points.map((p, i) => (i === 1 ? { ...p, r: NaN, error: 'shapes differ' } : p)) }] };
    const doc = parseXml(plotPanel(broken));
    const rPath = byClass(doc, 'series').find((p) => p.attrs['data-quantity'] === 'r')!;
    assert.equal(rPath.attrs.d!.match(/M/g)!.length, 2);
    assert.equal(byClass(doc, 'unscored').length, 2, 'the point and its legend entry');
  });

  it('when titles and model names carry markup characters, then they are escaped', () => {
    const svg = plotPanel(quantize(['a<b & c']), { title: '(i) <ResNet> & "co"' });
    assert.doesNotThrow(() => parseXml(svg));
    assert.match(svg, /\(i\) &lt;ResNet&gt; &amp; &quot;co&quot;/);
  });
});

const network = (name: string, label: string, results: SweepResult[] | null): PanelNetwork => ({ name, label, results, docLink: `robustness-${name}.md` });

/** The summary table's rows as attack → cells, read from the section (inside the markers, when there are any). */
function tableRows(md: string): Map<string, string[]> {
  const lines = md.slice(Math.max(0, md.indexOf(PANELS_START))).split('\n');
  const head = lines.findIndex((l) => l.startsWith('| attack |'));
  const rows = new Map<string, string[]>();
  for (let i = head + 2; lines[i]?.startsWith('|'); i++) {
    const [attack, ...cells] = lines[i]!.split(' | ').map((c) => c.replace(/^\| |\s\|$/g, ''));
    rows.set(attack!, cells);
  }
  return rows;
}

describe('paper panels section', () => {
  // LeNet5: the paper-style series fails at 2 bits, the default one does not; the table reads 'default'.
  const lenet = network('lenet5', 'LeNet5-caffe', [
    sweep('quantize', [
      series('paper', [point(8, 0.9, 0.99), point(2, 0.1, 0.97)], 0.95),
      series('default', [point(8, 0.9, 0.99), point(2, 0.5, 0.97)], 0.95),
    ]),
    sweep('fine-tune', [series('paper', [point(1, 0.9, 0.99)], 0.95), series('default', [point(1, 0.9, 0.99)], 0.95)]),
  ]);
  // ResNet-32: the floor is its own (unattacked 0.92 − 5 points = 0.87), below the sweep-wide 0.95.
  const resnet = network('resnet32', 'ResNet-32', [
    sweep('quantize', [series('naive', [point(8, 0.9, 0.92), point(4, 0.1, 0.9), point(2, 0.05, 0.3)], 0.87, point(0, 1, 0.92))]),
    sweep('fine-tune', [series('naive', [point(1, 0.9, 0.5), point(2, 0.1, 0.4)], 0.87, point(0, 1, 0.92))]),
    sweep('permute', [series('naive', [point(1, 0.1, 0.92)], 0.87)], false),
    sweep('permute', [series('naive', [point(1, 0.95, 0.92)], 0.87)], true),
  ]);
  const missing = network('allcnnc', 'ALL-CNN-C', null);
  const md = paperPanelsSection([lenet, missing, resnet], 'plots/panels');
  const rows = tableRows(md);

  it('when the default series survives where the paper series fails, then LeNet5 reads yes from the default series and says so', () => {
    assert.equal(rows.get('k-bit quantization per tensor')![0], 'yes');
    assert.match(md, /\| attack \| LeNet5-caffe \(default\) \| ResNet-32 \(naive\) \|/);
    assert.match(md, /the table reads the 'default' series .* also has 'paper'/);
  });

  it('when it says how to regenerate, then the time it gives is the sweeps\' time summed from the JSON, per measured network', () => {
    assert.match(md, /the sweeps on file took LeNet5-caffe 2 s and ResNet-32 4 s in all/);
    const long = network('resnet32', 'ResNet-32', [{ ...quantize(['default']), seconds: 3000 }, { ...fineTune(['default']), seconds: 2400 }]);
    assert.match(paperPanelsSection([long], 'p'), /took ResNet-32 1\.5 h in all/);
  });

  it('when the paper series is in some of a network\'s sweeps only (a --series run under way), then its line says in how many', () => {
    assert.doesNotMatch(md, /also has 'paper' \(in/, 'LeNet5 has it in every sweep');
    const partial = network('allcnnc', 'ALL-CNN-C', [sweep('quantize', [series('paper', [point(8, 0.9, 0.99)], 0.95), series('default', [point(8, 0.9, 0.99)], 0.95)]), sweep('permute', [series('default', [point(1, 0.9, 0.99)], 0.95)])]);
    assert.match(paperPanelsSection([partial], 'p'), /the full section also has 'paper' \(in 1 of 2 sweeps\)\./);
  });

  it('when a network was measured with one series only, then its line says there is no paper-style key beside it', () => {
    assert.match(md, /\*\*ResNet-32\*\* \(i\), \(j\): \[full section\]\(robustness-resnet32\.md\); one series, 'naive' .*no paper-style key beside it\./);
    assert.doesNotMatch(md, /\*\*LeNet5-caffe\*\*[^\n]*one series/);
  });

  it('when a CIFAR report compares training strategies, then the table reads the default strategy\'s series', () => {
    const strategy = defaults.training.strategy;
    const other = strategy === 'naive' ? 'delve' : 'naive';
    const both = network('allcnnc', 'ALL-CNN-C', [sweep('quantize', [series(other, [point(8, 0.1, 0.99)], 0.95), series(strategy, [point(8, 0.9, 0.99)], 0.95)])]);
    const section = paperPanelsSection([both], 'p');
    assert.equal(tableRows(section).get('k-bit quantization per tensor')![0], 'yes');
    assert.ok(section.includes(`ALL-CNN-C (${strategy})`));
  });

  it('when a series fails where its accuracy is still above its own floor, then the row says **no** with the strength and accuracy', () => {
    assert.equal(rows.get('k-bit quantization per tensor')![1], '**no** (fails at bits = 4, accuracy 90.00%)');
    assert.equal(rows.get('neuron permutation')![1], '**no** (fails at fraction of units moved = 100%, accuracy 92.00%)');
    assert.equal(rows.get('neuron permutation — invariant alignment')![1], 'yes');
  });

  it('when no attacked point keeps the accuracy, then the row says n/a; an attack a network did not run reads —', () => {
    assert.match(rows.get('fine-tuning at lr 0.1')![1]!, /^n\/a \(accuracy < 87\.00% everywhere\)$/);
    assert.equal(rows.get('neuron permutation')![0], '—');
  });

  it('when an attack is another one on a network (its twin), then that network\'s cell reads the twin\'s row and says so; without the twin it reads —', () => {
    const lenetBoth = network('lenet5', 'LeNet5-caffe', [
      sweep('reinit-head', [series('default', [point(1, 0.9, 0.99)], 0.95)]),
      sweep('reinit-classifier', [series('default', [point(1, 0.1, 0.99)], 0.95)]),
    ]);
    const allcnnc = { ...network('allcnnc', 'ALL-CNN-C', [sweep('reinit-head', [series('naive', [point(1, 0.8, 0.7), point(2, 0.1, 0.6)], 0.68, point(0, 1, 0.73))])]), twins: { 'reinit-classifier': 'reinit-head' } };
    const table = tableRows(paperPanelsSection([lenetBoth, allcnnc], 'p'));
    assert.deepEqual(table.get('classifier re-initialised, retrained on frozen features'), ['**no** (fails at epochs = 1, accuracy 99.00%)', "yes (fails at epochs = 2, accuracy 60.00%) — the same attack as 'head re-initialised, retrained alone' on ALL-CNN-C"]);
    const untwinned = tableRows(paperPanelsSection([lenetBoth, { ...allcnnc, twins: {} }], 'p'));
    assert.equal(untwinned.get('classifier re-initialised, retrained on frozen features')![1], '—');
  });

  it('when a network\'s sweep of an attack failed (on file, not measured since), then its cell says so with the reason instead of —', () => {
    const lenetOverwrite = network('lenet5', 'LeNet5-caffe', [sweep('overwrite', [series('default', [point(1, 0.9, 0.99)], 0.95)])]);
    const allcnnc = { ...network('allcnnc', 'ALL-CNN-C', [sweep('fine-tune', [series('naive', [point(1, 0.9, 0.7)], 0.68)])]), failed: [{ name: 'overwrite', invariant: false, why: 'Training diverged at epoch 1, step 28 (loss NaN); lower the learning rate' }] };
    const table = tableRows(paperPanelsSection([lenetOverwrite, allcnnc], 'p'));
    assert.equal(table.get("overwriting with the attacker's key")![1], 'sweep failed (Training diverged at epoch 1, step 28 (loss NaN))');
    const measuredSince = { ...allcnnc, results: [...(allcnnc.results ?? []), sweep('overwrite', [series('naive', [point(1, 0.9, 0.7)], 0.68)])] };
    assert.equal(tableRows(paperPanelsSection([lenetOverwrite, measuredSince], 'p')).get("overwriting with the attacker's key")![1], 'yes');
  });

  it('when a --series run gave an attack only a paper series, where the default one had failed, then the default column still says that sweep failed and a paper failure leaves the column alone', () => {
    const lenetOverwrite = network('lenet5', 'LeNet5-caffe', [sweep('overwrite', [series('default', [point(1, 0.9, 0.99)], 0.95)])]);
    const diverged = { name: 'overwrite', invariant: false, why: 'Training diverged at epoch 1, step 28 (loss NaN); lower the learning rate' };
    const results = [sweep('fine-tune', [series('paper', [point(1, 0.1, 0.7)], 0.68), series('default', [point(1, 0.9, 0.7)], 0.68)]), sweep('overwrite', [series('paper', [point(1, 0.1, 0.7)], 0.68)])];
    const allcnnc = { ...network('allcnnc', 'ALL-CNN-C', results), failed: [{ ...diverged, series: 'default' }] };
    const table = tableRows(paperPanelsSection([lenetOverwrite, allcnnc], 'p'));
    assert.equal(table.get("overwriting with the attacker's key")![1], 'sweep failed (Training diverged at epoch 1, step 28 (loss NaN))', 'not the paper series\' **no**');
    assert.equal(table.get('fine-tuning at lr 0.1')![1], 'yes');
    const paperFailed = { ...network('allcnnc', 'ALL-CNN-C', [results[0]!, sweep('overwrite', [series('default', [point(1, 0.9, 0.7)], 0.68)])]), failed: [{ ...diverged, series: 'paper' }] };
    assert.equal(tableRows(paperPanelsSection([lenetOverwrite, paperFailed], 'p')).get("overwriting with the attacker's key")![1], 'yes');
    assert.match(paperPanelsSection([lenetOverwrite, allcnnc], 'p'), /\| ALL-CNN-C \(default\) \|/);
  });

  it('when a network has no results, then it is not yet measured: no column, no numbers, no image', () => {
    assert.match(md, /- \*\*ALL-CNN-C\*\* \(g\), \(h\): not yet measured/);
    assert.ok(!/ALL-CNN-C \(/.test(md.split('\n').find((l) => l.startsWith('| attack |'))!));
    assert.match(md, /\(g\) ALL-CNN-C — fine-tuning: \*not yet measured\*/);
    assert.ok(!md.includes('plots/panels/g.svg') && !md.includes('plots/panels/h.svg'));
  });

  it('when laid out, then the panels follow the paper: a row per network, fine-tuning (e, g, i) left and quantization (f, h, j) right', () => {
    assert.deepEqual(paperPanels([lenet, missing, resnet]).map((p) => `${p.letter}:${p.network.name}:${p.kind}`), [
      'e:lenet5:fine-tuning', 'f:lenet5:quantization', 'g:allcnnc:fine-tuning', 'h:allcnnc:quantization', 'i:resnet32:fine-tuning', 'j:resnet32:quantization',
    ]);
    const grid = md.split('\n').filter((l) => l.includes('.svg') || l.includes('*not yet measured*'));
    assert.equal(grid.length, 3);
    assert.match(grid[0]!, /^\| !\[\(e\) LeNet5-caffe — fine-tuning at lr 0\.1\]\(plots\/panels\/e\.svg\) \| !\[\(f\) LeNet5-caffe — k-bit quantization per tensor\]\(plots\/panels\/f\.svg\) \|$/);
    assert.match(grid[2]!, /i\.svg.*j\.svg/);
  });
});

describe('panels block in the report', () => {
  const report = ['# Robustness', '', '## Summary', '', 'Per attack…', '', '| attack | x |', '|---|---|', '| a | yes |', '', '## quantization', '', 'text', '', '## Notes', '', '- n', ''].join('\n');

  it('when the block is absent, then it goes right after the summary table', () => {
    const out = withPanelsBlock(report, 'SECTION');
    assert.ok(out.includes(`| a | yes |\n\n${PANELS_START}\nSECTION\n${PANELS_END}\n\n## quantization`));
  });

  it('when there is no summary table, then the block goes before the notes', () => {
    const out = withPanelsBlock('# R\n\ntext\n\n## Notes\n\n- n\n', 'SECTION');
    assert.equal(out, `# R\n\ntext\n\n${PANELS_START}\nSECTION\n${PANELS_END}\n\n## Notes\n\n- n\n`);
  });

  it('when run twice, then the file is the same; a new section replaces only what is between the markers', () => {
    const once = withPanelsBlock(report, 'SECTION');
    assert.equal(withPanelsBlock(once, 'SECTION'), once);
    const changed = withPanelsBlock(once, 'OTHER\n\nLINES');
    const [before, after] = [once.slice(0, once.indexOf(PANELS_START)), once.slice(once.indexOf(PANELS_END))];
    assert.ok(changed.startsWith(before) && changed.endsWith(after));
    assert.ok(changed.includes('OTHER\n\nLINES') && !changed.includes('SECTION'));
    assert.equal(changed.replace('OTHER\n\nLINES', 'SECTION'), once);
  });

  it('when refreshed from files where only the LeNet5 JSON exists (without per-series floors), then e and f are drawn and the CIFAR networks are not yet measured', () => {
    const dir = mkdtempSync(join(tmpdir(), 'panels-'));
    try {
      const paths = defaultPanelPaths(dir);
      const old = [quantize(), fineTune()].map((r) => ({ ...r, series: r.series.map(({ accuracyFloor: _drop, ...s }) => s) }));
      writeFileSync(paths.json.lenet5, sweepToJson(old as unknown as SweepResult[]));
      writeFileSync(paths.markdown, report);
      assert.deepEqual(refreshPaperPanels(paths).map((f) => f.slice(dir.length + 1)), ['plots/panels/e.svg', 'plots/panels/f.svg']);
      assert.ok(!existsSync(join(paths.plots, 'g.svg')));
      const md = readFileSync(paths.markdown, 'utf8');
      assert.match(md, /\*\*ResNet-32\*\* \(i\), \(j\): not yet measured \(no `.*robustness-resnet32\.json`\)/);
      // The sweep's 95% is each series' floor: without it every point would count as below the floor (n/a).
      assert.equal(tableRows(md).get('k-bit quantization per tensor')![0], 'yes');
      refreshPaperPanels(paths);
      assert.equal(readFileSync(paths.markdown, 'utf8'), md);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('panel paths beside a report', () => {
  it('when the report is LeNet5\'s, then it carries the block and its JSON is the LeNet5 one; a CIFAR report points at the LeNet5 markdown beside it', () => {
    const lenet = panelPathsBeside(join('d', 'lenet.md'), 'lenet5');
    assert.equal(lenet.markdown, join('d', 'lenet.md'));
    assert.equal(lenet.json.lenet5, join('d', 'lenet.json'));
    assert.equal(lenet.plots, join('d', 'plots', 'panels'));
    const resnet = panelPathsBeside(join('d', 'robustness-resnet32.md'), 'resnet32');
    assert.equal(resnet.markdown, join('d', 'robustness.md'));
    assert.deepEqual(resnet.json, { lenet5: join('d', 'robustness.json'), allcnnc: join('d', 'robustness-allcnnc.json'), resnet32: join('d', 'robustness-resnet32.json') });
  });
});
