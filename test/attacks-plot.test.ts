import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { SweepPoint, SweepResult } from '../src/attacks/sweep.js';
import { plotSweep } from '../src/report/plot.js';

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}

/** A strict little XML parser: balanced tags, quoted attributes, known entities only; throws otherwise. */
function parseXml(src: string): XmlNode {
  const root: XmlNode = { name: '#root', attrs: {}, children: [] };
  const stack = [root];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src))) {
    if (m[6]) throw new Error(`malformed tag at ${m.index}: ${src.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in text: ${m[5]}`);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> closes <${top?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(a[2]!)) throw new Error(`bad entity in attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!;
    }
    const node: XmlNode = { name: name!, attrs, children: [] };
    stack[stack.length - 1]!.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error('expected one root element');
  return root.children[0]!;
}

function all(n: XmlNode, pred: (x: XmlNode) => boolean): XmlNode[] {
  return [...(pred(n) ? [n] : []), ...n.children.flatMap((c) => all(c, pred))];
}

const point = (strength: number, r: number, accuracy: number): SweepPoint => ({ strength, accuracy, r, n: 1024, pValue: 0, log10p: -10, ber: 0, decision: r > 0.2 ? 'match' : 'no match', seconds: 0 });
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
    assert.equal(all(doc, (n) => n.attrs.class === 'legend').length, 2);
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
});
