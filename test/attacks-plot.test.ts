import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { SweepPoint, SweepResult } from '../src/attacks/sweep.js';
import { plotSweep } from '../src/report/plot.js';
import { accuracyRange, fittingLabels, labelWidth } from '../src/report/plotScales.js';
import { all, parseXml, type XmlNode } from './svg-helpers.js';

const point = (strength: number, r: number, accuracy: number): SweepPoint => ({ strength, accuracy, r, n: 1024, pValue: 0, log10p: -10, ber: 0, decision: r > 0.2 ? 'match' : 'no match', seconds: 0 });
const num = (n: XmlNode, attr: string): number => Number(n.attrs[attr]);
const panel = (doc: XmlNode, id: string): XmlNode => all(doc, (n) => n.attrs.class === 'panel' && n.attrs.id === id)[0]!;
const frame = (p: XmlNode): XmlNode => all(p, (n) => n.name === 'rect' && n.attrs.fill === 'none')[0]!;
/** Marker centres of one panel: filled and hollow circles and squares (not the "no score" marks). */
const markerCentres = (p: XmlNode) => [
  ...all(p, (n) => n.name === 'circle' && !n.attrs.r!.startsWith('4.5')).map((n) => ({ x: num(n, 'cx'), y: num(n, 'cy'), fill: n.attrs.fill })),
  ...all(p, (n) => n.name === 'rect' && n.attrs.fill !== 'none').map((n) => ({ x: num(n, 'x') + 3.5, y: num(n, 'y') + 3.5, fill: n.attrs.fill })),
];
const withPoints = (base: SweepResult, strengths: number[], make: (si: number, strength: number, i: number) => SweepPoint): SweepResult => ({
  ...base,
  series: base.series.map((s, si) => ({ ...s, points: strengths.map((st, i) => make(si, st, i)) })),
});

const result = (models: string[]): SweepResult => ({
  attack: { name: 'quantize', title: 'k-bit quantization <per tensor> & co', strengthName: 'bits', unit: 'bits', decreasing: true, functionPreserving: false },
  invariant: false,
  accuracyFloor: 0.95,
  rThreshold: 0.17,
  seconds: 1,
  series: models.map((model, i) => ({
    model,
    baseline: point(0, 1, 0.99),
    points: [8, 6, 4, 3, 2].map((b) => point(b, b === 3 && i === 1 ? NaN : 1 - (8 - b) / (6 + i), 0.99 - (8 - b) / 10)),
    firstFailure: null,
    accuracyFloor: 0.95,
    detectedWhereAccurate: true,
  })),
});

describe('sweep plot', () => {
  it('when plotting two models, then the SVG is well-formed with one series path per model in each panel, a legend and the dashed threshold', () => {
    const svg = plotSweep(result(['naive', 'delve']));
    const doc = parseXml(svg);
    assert.equal(doc.name, 'svg');
    assert.equal(doc.attrs.xmlns, 'http://www.w3.org/2000/svg');
    const panels = all(doc, (n) => n.attrs.class === 'panel');
    assert.deepEqual(panels.map((p) => p.attrs.id), ['score', 'accuracy']);
    for (const p of panels) {
      const paths = all(p, (n) => n.name === 'path' && n.attrs.class === 'series');
      assert.deepEqual(paths.map((x) => x.attrs['data-model']), ['naive', 'delve']);
      for (const x of paths) assert.match(x.attrs.d!, /^M[\d.]+ [\d.]+( [ML][\d.]+ [\d.]+)+$/);
    }
    const thresholds = all(doc, (n) => n.attrs.class === 'threshold');
    assert.equal(thresholds.length, 2);
    assert.ok(thresholds.every((t) => t.attrs['stroke-dasharray']));
    assert.equal(all(doc, (n) => n.attrs.class === 'legend' && n.attrs.id !== 'no-score').length, 2);
  });

  it('when a point has no score, then the r line is broken there (a second M) while the accuracy line is not', () => {
    const doc = parseXml(plotSweep(result(['naive', 'delve'])));
    const [score, accuracy] = all(doc, (n) => n.attrs.class === 'panel');
    const delveR = all(score!, (n) => n.attrs['data-model'] === 'delve')[0]!.attrs.d!;
    const delveAcc = all(accuracy!, (n) => n.attrs['data-model'] === 'delve')[0]!.attrs.d!;
    assert.equal(delveR.match(/M/g)!.length, 2);
    assert.equal(delveAcc.match(/M/g)!.length, 1);
  });

  it('when the title has markup characters, then they are escaped', () => {
    assert.doesNotThrow(() => parseXml(plotSweep(result(['a<b']))));
  });

  it('when a dashed line is drawn, then its label sits above the panel frame, where no marker can be', () => {
    const doc = parseXml(plotSweep(result(['naive', 'delve'])));
    for (const id of ['score', 'accuracy']) {
      const p = panel(doc, id);
      const labels = all(p, (n) => n.attrs.class === 'threshold-label').flatMap((g) => all(g, (n) => n.name === 'text'));
      assert.equal(labels.length, 1, id);
      assert.ok(num(labels[0]!, 'y') < num(frame(p), 'y'), `${id}: label at y ${labels[0]!.attrs.y}, frame from ${frame(p).attrs.y}`);
      assert.ok(markerCentres(p).every((m) => m.y >= num(frame(p), 'y')));
    }
  });

  it('when accuracies lie between 94% and 99.4%, then the accuracy axis is zoomed to them, marked by a break, and 94% and 98.6% are far apart', () => {
    const sweep = withPoints(result(['m']), [8, 4, 2], (_si, st) => point(st, 0.9, st === 8 ? 0.994 : st === 4 ? 0.986 : 0.94));
    const acc = panel(parseXml(plotSweep(sweep)), 'accuracy');
    assert.equal(all(acc, (n) => n.attrs.class === 'axis-break').length, 1);
    const ys = markerCentres(acc).map((m) => m.y).sort((a, b) => a - b);
    assert.ok(ys[2]! - ys[1]! > 60, `98.6% and 94% are ${(ys[2]! - ys[1]!).toFixed(1)} px apart`);
    // An accuracy that falls low keeps the full axis: no zoom, no break.
    const falling = withPoints(result(['m']), [8, 2], (_si, st) => point(st, 0.5, st === 8 ? 0.99 : 0.1));
    assert.equal(all(panel(parseXml(plotSweep(falling)), 'accuracy'), (n) => n.attrs.class === 'axis-break').length, 0);
  });

  it("when x labels would collide (prune-global's 90, 95 and 99%), then some are left out, none overlap, the last stays and every point keeps its tick", () => {
    const strengths = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99];
    const base = { ...result(['paper', 'default']), attack: { ...result(['x']).attack, name: 'prune-global', title: 'global magnitude pruning', strengthName: 'fraction pruned', unit: '%', decreasing: false } };
    const p = panel(parseXml(plotSweep(withPoints(base, strengths, (_si, st) => point(st, 1 - st, 0.99)))), 'score');
    const labels = all(p, (n) => n.attrs.class === 'xtick');
    // Every label here is at most two digits ('10' … '99').
    const texts = labels.map((l) => ({ x: num(l, 'x'), w: labelWidth('99') }));
    assert.ok(labels.length < strengths.length && labels.length >= 6, `${labels.length} labels`);
    for (let i = 1; i < texts.length; i++) assert.ok(texts[i]!.x - texts[i - 1]!.x >= (texts[i]!.w + texts[i - 1]!.w) / 2, `labels ${i - 1} and ${i} overlap`);
    const tickMarks = all(p, (n) => n.name === 'line' && n.attrs.y2 !== undefined && num(n, 'y2') - num(n, 'y1') === 4);
    assert.equal(tickMarks.length, strengths.length);
    assert.equal(Math.max(...labels.map((l) => num(l, 'x'))), Math.max(...tickMarks.map((t) => num(t, 'x1'))), 'the last point is labelled');
  });

  it('when two models score the same at a point, then both markers show: side by side, the second hollow', () => {
    const same = withPoints(result(['naive', 'delve']), [1], () => point(1, 0.99, 0.999));
    const p = panel(parseXml(plotSweep(same)), 'score');
    const [a, b] = markerCentres(p);
    assert.ok(a && b);
    assert.ok(Math.abs(a.x - b.x) >= 6, `markers ${Math.abs(a.x - b.x)} px apart`);
    assert.notEqual(a.fill, '#ffffff');
    assert.equal(b.fill, '#ffffff');
  });

  it('when a section holds only the default series, then it is drawn in the colour and marker it has beside the paper series', () => {
    const style = (svg: string, model: string) => {
      const path = all(panel(parseXml(svg), 'score'), (n) => n.attrs.class === 'series' && n.attrs['data-model'] === model)[0]!;
      return path.attrs.stroke;
    };
    const both = plotSweep(result(['paper', 'default']));
    const alone = plotSweep(result(['default']));
    assert.notEqual(style(both, 'paper'), style(both, 'default'));
    assert.equal(style(alone, 'default'), style(both, 'default'));
    const shapes = (svg: string) => markerCentres(panel(parseXml(svg), 'score')).map((m) => m.fill);
    assert.ok(shapes(alone).length > 0 && shapes(alone).every((f) => f === '#ffffff'), 'hollow, as beside paper');
    // A name of its own takes the first free colour.
    assert.equal(style(plotSweep(result(['delve'])), 'delve'), style(both, 'paper'));
  });

  it('when a point has no score, then it is drawn in a "no score" row below the r scale, not at an r value, and the legend names the mark', () => {
    const doc = parseXml(plotSweep(result(['naive', 'delve'])));
    const p = panel(doc, 'score');
    const row = all(p, (n) => n.attrs.class === 'no-score-row')[0]!;
    const marks = all(p, (n) => n.attrs.class === 'unscored');
    assert.equal(marks.length, 1);
    const cy = num(all(marks[0]!, (n) => n.name === 'circle')[0]!, 'cy');
    assert.ok(cy > num(row, 'y1'), 'below the line that ends the r scale');
    assert.ok(markerCentres(p).every((m) => m.y <= num(row, 'y1')), 'every scored point above it');
    const legend = all(doc, (n) => n.attrs.id === 'no-score')[0];
    assert.ok(legend && all(legend, (n) => n.attrs.class === 'unscored').length === 1);
  });
});

describe('plot scales', () => {
  it('when labels crowd, then the kept ones are spaced by their widths plus the gap and the last is kept', () => {
    // 16 px needed between centres: 46 is too near 40; 52 is too, so 40 gives way to the last.
    assert.deepEqual(fittingLabels([0, 20, 40, 46, 52], [12, 12, 12, 12, 12], 4), [0, 1, 4]);
    assert.deepEqual(fittingLabels([0, 20, 40], [12, 12, 12], 4), [0, 1, 2]);
  });

  it('when the data sit high, then the accuracy axis is zoomed and holds the floor; when they reach low, it is 0 to 1', () => {
    const z = accuracyRange([0.94, 0.986, 0.994], 0.95);
    assert.ok(z.broken && z.lo <= 0.94 && z.lo >= 0.85 && z.hi <= 1 && z.hi >= 0.994, JSON.stringify(z));
    assert.deepEqual(accuracyRange([0.99, 0.12], 0.95), { lo: 0, hi: 1, broken: false });
    assert.ok(accuracyRange([0.999, 0.998], 0.5).lo <= 0.5, 'the floor stays in view');
  });
});
