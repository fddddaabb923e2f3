/**
 * The paper's result figures (e)–(j) for our three networks: per network, the watermark score against
 * fine-tuning epochs and against quantization bits, with test accuracy on a second y axis in the same
 * plot (plotPanel), and the markdown that lays the six out as the paper does under a summary table
 * across the networks (paperPanelsSection). Pure: sweep results in, SVG and markdown text out.
 */
import type { SweepPoint, SweepResult, SweepSeries } from '../attacks/sweep.js';
import { defaults } from '../core/config.js';
import type { FailedSweep } from './runNotes.js';
import { detectionWhereAccurate, heading, pct, strengthLabel } from './markdown.js';
import { DODGE, esc, f1, fmt, marker, markers, noScoreMark, palette, seriesSlots, strengthAxisLabel, strengthTick } from './plot.js';
import { accuracyRange, fittingLabels, labelWidth, niceTicks, scoreAxisLow } from './plotScales.js';
import { sweepsWith } from './sweepFiles.js';

export interface PanelOptions {
  /** Default 430 × 300: two side by side fit a page. */
  readonly width?: number;
  readonly height?: number;
  /** The caption above the plot, e.g. "(i) ResNet-32 — fine-tuning"; defaults to the sweep's heading. */
  readonly title?: string;
  /** Start the curves at strength 0 with the unattacked model (fine-tuning: epoch 0, as the paper's plots do). */
  readonly baselineAtZero?: boolean;
}

interface Frame {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

interface YAxis {
  readonly lo: number;
  readonly hi: number;
  /** The axis does not start at 0: a break is drawn at its foot. */
  readonly broken: boolean;
  readonly y: (v: number) => number;
}

interface LegendEntry {
  /** The sample drawn left of the text, given its centre. */
  readonly sample: (x: number, y: number) => string;
  readonly text: string;
}

const LEGEND_FONT = 10;
const LEGEND_ROW = 14;
const SAMPLE = 22;
const REF_COLOR = '#666';
/** The detection threshold and the accuracy floor: grey, in two dash patterns unlike the accuracy lines'. */
const THRESHOLD_DASH = '7 3';
const FLOOR_DASH = '2 2';
const ACCURACY_DASH = '5 3';

const legendTextWidth = (text: string): number => labelWidth(text) * (LEGEND_FONT / 12);

/** The points a series draws: its attacked points, after the unattacked one at strength 0 when asked. */
function drawnPoints(s: SweepSeries, baselineAtZero: boolean): readonly SweepPoint[] {
  if (!baselineAtZero || s.points.some((p) => p.strength === 0)) return s.points;
  return [{ ...s.baseline, strength: 0 }, ...s.points];
}

function yAxis(range: { lo: number; hi: number; broken: boolean }, f: Frame): YAxis {
  return { ...range, y: (v) => f.bottom - ((Math.max(range.lo, Math.min(range.hi, v)) - range.lo) / (range.hi - range.lo)) * (f.bottom - f.top) };
}

/** Strength → x; many bits to few when the attack's strength is decreasing, as the paper draws quantization. */
function xScale(strengths: readonly number[], decreasing: boolean, f: Frame): (v: number) => number {
  let [lo, hi] = [strengths[0] ?? 0, strengths[strengths.length - 1] ?? 1];
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.06;
  [lo, hi] = [lo - pad, hi + pad];
  return (v) => {
    const t = (v - lo) / (hi - lo);
    return f.left + (decreasing ? 1 - t : t) * (f.right - f.left);
  };
}

function xAxis(strengths: readonly number[], unit: string, X: (v: number) => number, f: Frame): string[] {
  const ticks = strengths.length <= 10 ? strengths : niceTicks(strengths[0]!, strengths[strengths.length - 1]!, 6);
  const text = ticks.map((t) => strengthTick(unit, t));
  const labelled = new Set(fittingLabels(ticks.map(X), text.map(labelWidth)));
  return ticks.flatMap((t, i) => [
    `<line x1="${f1(X(t))}" x2="${f1(X(t))}" y1="${f.bottom}" y2="${f.bottom + 4}" stroke="#333"/>`,
    ...(labelled.has(i) ? [`<text class="xtick" x="${f1(X(t))}" y="${f.bottom + 16}" text-anchor="middle">${text[i]}</text>`] : []),
  ]);
}

/** Ticks of one y axis on its side of the frame; the left (score) axis also draws the grid, the right one only ticks, so the grid stays one. */
function yTicks(side: 'left' | 'right', axis: YAxis, percent: boolean, f: Frame): string[] {
  const x = side === 'left' ? f.left : f.right;
  const out = side === 'right' ? 1 : -1;
  const parts = niceTicks(axis.lo, axis.hi, 5).flatMap((t) => [
    ...(side === 'left' ? [`<line x1="${f.left}" x2="${f.right}" y1="${f1(axis.y(t))}" y2="${f1(axis.y(t))}" stroke="#ececec"/>`] : []),
    `<line x1="${x}" x2="${x + 4 * out}" y1="${f1(axis.y(t))}" y2="${f1(axis.y(t))}" stroke="#333"/>`,
    `<text class="ytick-${side}" x="${x + 6 * out}" y="${f1(axis.y(t) + 4)}" text-anchor="${side === 'left' ? 'end' : 'start'}">${percent ? fmt(t * 100) : fmt(t)}</text>`,
  ]);
  // A zigzag across the axis near its foot, above the lowest tick's label: the scale does not start at 0.
  if (axis.broken) parts.push(`<path class="axis-break" d="M${x - 6} ${f.bottom - 7} L${x - 2} ${f.bottom - 13} L${x + 2} ${f.bottom - 7} L${x + 6} ${f.bottom - 13}" fill="none" stroke="#333" stroke-width="1.5"/>`);
  return parts;
}

function referenceLine(cls: string, y: number, dash: string, f: Frame): string {
  return `<line class="${cls}" x1="${f.left}" x2="${f.right}" y1="${f1(y)}" y2="${f1(y)}" stroke="${REF_COLOR}" stroke-width="1.2" stroke-dasharray="${dash}"/>`;
}

/**
 * One quantity of one series: a <path class="series"> broken where a point has no value, and its markers
 * (filled for r, hollow for accuracy). A missing value is marked struck through on the x axis.
 */
function seriesLine(
  s: SweepSeries, points: readonly SweepPoint[], quantity: 'r' | 'accuracy', slot: number, x: (v: number) => number, axis: YAxis, f: Frame,
): string[] {
  const color = palette[slot % palette.length]!;
  const value = (p: SweepPoint) => (quantity === 'r' ? p.r : p.accuracy);
  let d = '';
  let pen = false;
  const dots: string[] = [];
  for (const p of points) {
    const v = value(p);
    const px = x(p.strength);
    // JSON keeps NaN as null: both mean "no value".
    if (!Number.isFinite(v)) {
      pen = false;
      dots.push(noScoreMark(px, f.bottom, color, `${s.model}: no ${quantity}${p.error ? ` (${p.error.slice(0, 120)})` : ''}`));
      continue;
    }
    d += `${pen ? 'L' : 'M'}${f1(px)} ${f1(axis.y(v))} `;
    pen = true;
    dots.push(marker(markers[slot % markers.length]!, px, axis.y(v), color, quantity === 'accuracy'));
  }
  const dash = quantity === 'accuracy' ? ` stroke-dasharray="${ACCURACY_DASH}"` : '';
  const path = `<path class="series" data-model="${esc(s.model)}" data-quantity="${quantity}" d="${d.trim() || `M${f.left} ${f.top}`}" fill="none" stroke="${color}" stroke-width="1.8"${dash}${d ? '' : ' visibility="hidden"'}/>`;
  return [path, ...dots];
}

/** The legend in three groups, each on its own row(s): the models' colours, the two quantities, the reference lines. */
function legendGroups(result: SweepResult, slots: readonly number[], unscored: boolean): LegendEntry[][] {
  const line = (color: string, dash: string | null, width = 1.8) => (x: number, y: number) =>
    `<line x1="${f1(x - SAMPLE / 2)}" x2="${f1(x + SAMPLE / 2)}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
  const models: LegendEntry[] = result.series.map((s, si) => {
    const color = palette[slots[si]! % palette.length]!;
    return { sample: (x, y) => `<rect x="${f1(x - 5)}" y="${y - 5}" width="10" height="10" fill="${color}"/>`, text: s.model };
  });
  const quantities: LegendEntry[] = [
    { sample: (x, y) => line('#333', null)(x, y) + marker('circle', x, y, '#333', false), text: 'r (left axis)' },
    { sample: (x, y) => line('#333', ACCURACY_DASH)(x, y) + marker('circle', x, y, '#333', true), text: 'accuracy (right axis)' },
  ];
  const references: LegendEntry[] = [
    ...(result.rThreshold !== null ? [{ sample: line(REF_COLOR, THRESHOLD_DASH, 1.2), text: `threshold r = ${fmt(result.rThreshold)}` }] : []),
    { sample: line(REF_COLOR, FLOOR_DASH, 1.2), text: `accuracy floor ${fmt(Number((result.accuracyFloor * 100).toFixed(1)))}%` },
    ...(unscored ? [{ sample: (x: number, y: number) => noScoreMark(x, y, REF_COLOR), text: 'no score' }] : []),
  ];
  return [models, quantities, references];
}

/** Lays the entries out left to right, each group on a new row, wrapping into more rows within the width. */
function layoutLegend(groups: readonly (readonly LegendEntry[])[], x0: number, width: number, y0: number): { svg: string[]; rows: number } {
  const svg: string[] = [];
  let [x, row] = [x0, -1];
  for (const e of groups.flatMap((g) => g.map((entry, i) => ({ ...entry, first: i === 0 })))) {
    const w = SAMPLE + 5 + legendTextWidth(e.text);
    if (e.first || x + w > x0 + width) [x, row] = [x0, row + 1];
    const y = y0 + row * LEGEND_ROW;
    svg.push(`<g class="legend">${e.sample(x + SAMPLE / 2, y)}<text x="${f1(x + SAMPLE + 5)}" y="${y + 3.5}" font-size="${LEGEND_FONT}">${esc(e.text)}</text></g>`);
    x += w + 12;
  }
  return { svg, rows: row + 1 };
}

/**
 * One sweep as one compact plot with two y axes: the watermark score r on the left (the detection
 * threshold dashed), the test accuracy on the right (the accuracy floor dashed, the axis zoomed to the
 * data); the strength on x; per model series one colour, r solid with filled markers, accuracy dashed
 * with hollow ones. Strengths are drawn on a linear axis (epochs and bits are small integers).
 */
export function plotPanel(result: SweepResult, opts: PanelOptions = {}): string {
  const W = opts.width ?? 430;
  const H = opts.height ?? 300;
  const title = opts.title ?? heading(result);
  const drawn = result.series.map((s) => drawnPoints(s, opts.baselineAtZero ?? false));
  const all = drawn.flat();
  const strengths = [...new Set(all.map((p) => p.strength))].sort((a, b) => a - b);
  const unscored = all.some((p) => !Number.isFinite(p.r));
  const margin = { left: 46, right: 50 };
  const slots = seriesSlots(result.series.map((s) => s.model));
  const legend = layoutLegend(legendGroups(result, slots, unscored), margin.left, W - margin.left - margin.right, 36);
  const f: Frame = { left: margin.left, right: W - margin.right, top: 36 + legend.rows * LEGEND_ROW, bottom: H - 38 };
  const x = xScale(strengths, result.attack.decreasing, f);
  const score = yAxis({ lo: scoreAxisLow(all.map((p) => p.r)), hi: 1, broken: false }, f);
  const accuracy = yAxis(accuracyRange(all.map((p) => p.accuracy), result.accuracyFloor), f);
  const dodge = (si: number) => (result.series.length > 1 ? (si - (result.series.length - 1) / 2) * DODGE : 0);
  // Shrinks a caption that would not fit the width (labelWidth's digit-wide estimate covers bold letters).
  const titleSize = Math.min(13, Math.floor((13 * (W - 12)) / (labelWidth(title) * (13 / 12))));

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text class="caption" x="${W / 2}" y="17" text-anchor="middle" font-size="${titleSize}" font-weight="bold">${esc(title)}</text>`,
    ...legend.svg,
    `<g class="axis" id="score">`, ...yTicks('left', score, false, f),
    `<text transform="translate(12,${f1((f.top + f.bottom) / 2)}) rotate(-90)" text-anchor="middle">watermark score r</text>`, '</g>',
    `<g class="axis" id="accuracy">`, ...yTicks('right', accuracy, true, f),
    `<text transform="translate(${W - 8},${f1((f.top + f.bottom) / 2)}) rotate(90)" text-anchor="middle">test accuracy (%)</text>`, '</g>',
    ...xAxis(strengths, result.attack.unit, x, f),
    `<text x="${f1((f.left + f.right) / 2)}" y="${H - 6}" text-anchor="middle">${esc(strengthAxisLabel(result.attack))}</text>`,
  ];
  if (result.rThreshold !== null && result.rThreshold >= score.lo) parts.push(referenceLine('threshold', score.y(result.rThreshold), THRESHOLD_DASH, f));
  parts.push(referenceLine('floor', accuracy.y(result.accuracyFloor), FLOOR_DASH, f));
  // Accuracy first, so the score lines — what the figure is about — are drawn on top.
  for (const quantity of ['accuracy', 'r'] as const) {
    result.series.forEach((s, si) => {
      parts.push(...seriesLine(s, drawn[si]!, quantity, slots[si]!, (v) => x(v) + dodge(si), quantity === 'r' ? score : accuracy, f));
    });
  }
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#333"/>`, '</svg>');
  return parts.join('\n') + '\n';
}

/** A network of the paper's figures and its measured sweeps. */
export interface PanelNetwork {
  /** Our architecture name, e.g. 'resnet32'. */
  readonly name: string;
  /** The paper's name, e.g. 'ResNet-32'. */
  readonly label: string;
  /** Its sweeps (one report's JSON), or null when the report has not been generated yet. */
  readonly results: readonly SweepResult[] | null;
  /** Its full section, relative to the markdown file. */
  readonly docLink: string;
  /** Where its sweeps are read from, for the "not yet measured" line. */
  readonly source?: string;
  /** Attacks that are another attack on this network (attack name → the other's), read from the other's row. */
  readonly twins?: Readonly<Record<string, string>>;
  /** Sweeps whose last run failed and that have no measurement since (the report's .failed.json). */
  readonly failed?: readonly Pick<FailedSweep, 'name' | 'invariant' | 'why' | 'series'>[];
}

/** The paper's two attacks per network: fine-tuning (e, g, i) and k-bit quantization per tensor (f, h, j). */
const PANEL_ATTACKS = [
  { kind: 'fine-tuning', attack: 'fine-tune' },
  { kind: 'quantization', attack: 'quantize' },
] as const;

export interface PaperPanel {
  /** 'e' … 'j', in the paper's order: LeNet5-caffe, ALL-CNN-C, ResNet-32, each fine-tuning then quantization. */
  readonly letter: string;
  readonly network: PanelNetwork;
  readonly kind: (typeof PANEL_ATTACKS)[number]['kind'];
  /** Its sweep (plain alignment), or null when not measured. */
  readonly result: SweepResult | null;
  readonly caption: string;
  /** SVG file name, e.g. 'e.svg'. */
  readonly file: string;
}

/** The six panels, two per network in the order given (which should be the paper's: LeNet5-caffe, ALL-CNN-C, ResNet-32). */
export function paperPanels(networks: readonly PanelNetwork[]): PaperPanel[] {
  return networks.flatMap((network, ni) =>
    PANEL_ATTACKS.map(({ kind, attack }, ai) => {
      const letter = String.fromCharCode('e'.charCodeAt(0) + 2 * ni + ai);
      const result = network.results?.find((r) => r.attack.name === attack && !r.invariant) ?? null;
      return { letter, network, kind, result, caption: `(${letter}) ${network.label} — ${result?.attack.title ?? kind}`, file: `${letter}.svg` };
    }),
  );
}

/** A panel's SVG; fine-tuning curves start at epoch 0 with the unattacked model. */
export function panelSvg(panel: PaperPanel & { result: SweepResult }): string {
  return plotPanel(panel.result, { title: panel.caption, baselineAtZero: panel.kind === 'fine-tuning' });
}

/**
 * The series a network's summary column reads: what the service makes by default — 'default' in the
 * LeNet5 report (the service's key beside the paper's), the default training strategy's in a CIFAR one
 * made before that series was called 'default' — else the first series of its first section. One label
 * for the whole column: a section without it (a --series run that added the paper model's sweep where
 * the default model's had failed) is no measurement of it.
 */
export function columnModel(results: readonly SweepResult[]): string | undefined {
  const labels = new Set(results.flatMap((r) => r.series.map((s) => s.model)));
  return ['default', defaults.training.strategy].find((m) => labels.has(m)) ?? results[0]?.series[0]?.model;
}

function summaryCell(result: SweepResult | undefined, model: string | undefined): string {
  const s = result?.series.find((x) => x.model === model);
  if (!result || !s) return '—';
  // From the points, like the verdict: the table cannot disagree with the curves drawn from them.
  const first = s.points.find((p) => p.decision === 'no match');
  const fail = first ? `fails at ${result.attack.strengthName} = ${strengthLabel(result, first.strength)}, accuracy ${pct(first.accuracy)}` : '';
  switch (detectionWhereAccurate(s)) {
    case 'yes':
      return fail ? `yes (${fail})` : 'yes';
    case 'no':
      return `**no** (${fail})`;
    case 'n/a':
      return `n/a (accuracy < ${pct(s.accuracyFloor)} everywhere)`;
  }
}

const sweepKey = (r: SweepResult): string => `${r.attack.name}${r.invariant ? ':invariant' : ''}`;

function summaryTable(measured: readonly (PanelNetwork & { results: readonly SweepResult[] })[]): string[] {
  const rows = new Map<string, SweepResult>();
  for (const n of measured) for (const r of n.results) if (!rows.has(sweepKey(r))) rows.set(sweepKey(r), r);
  const header = measured.map((n) => `${n.label} (${columnModel(n.results)})`);
  return [
    `| attack | ${header.join(' | ')} |`,
    `|---|${measured.map(() => '---|').join('')}`,
    ...[...rows].map(([key, r]) => `| ${heading(r)} | ${measured.map((n) => networkCell(n, key, r)).join(' | ')} |`),
  ];
}

/** The network's own row, else — for an attack that is another one on this network — that one's, saying so. */
function networkCell(n: PanelNetwork & { results: readonly SweepResult[] }, key: string, row: SweepResult): string {
  const model = columnModel(n.results);
  const own = n.results.find((x) => sweepKey(x) === key && x.series.some((s) => s.model === model));
  const twin = n.twins?.[row.attack.name];
  const other = own || !twin ? undefined : n.results.find((x) => x.attack.name === twin && x.invariant === row.invariant);
  // A failure of another series than the column's (--series paper) says nothing of this cell.
  const failed = own ? undefined : n.failed?.find((f) => f.name === row.attack.name && f.invariant === row.invariant && (f.series === undefined || f.series === model));
  if (failed && !other) return `sweep failed (${failed.why.split(';')[0]})`;
  if (!other) return summaryCell(own, model);
  return `${summaryCell(other, model)} — the same attack as '${heading(other)}' on ${n.label}`;
}

function networkLine(n: PanelNetwork, panels: readonly PaperPanel[]): string {
  const letters = panels.filter((p) => p.network === n).map((p) => `(${p.letter})`).join(', ');
  if (!n.results) return `- **${n.label}** ${letters}: not yet measured${n.source ? ` (no \`${n.source}\`)` : ''}.`;
  const picked = [columnModel(n.results)];
  const others = [...new Set(n.results.flatMap((r) => r.series.map((s) => s.model)))].filter((m) => !picked.includes(m));
  const also = others.length
    ? `; the table reads the ${picked.map((m) => `'${m}'`).join(', ')} series (what the service makes by default), the full section also has ${others.map((m) => `'${m}'${coverage(n.results!, m)}`).join(', ')}`
    : `; one series, ${picked.map((m) => `'${m}'`).join(', ')} (the committed model as its Setup describes it), with no paper-style key beside it`;
  return `- **${n.label}** ${letters}: [full section](${n.docLink})${also}.`;
}

/** ' (in 16 of 22 sweeps)' while a series is still being measured across a report (a --series run at a time); '' once it is in every sweep. */
function coverage(results: readonly SweepResult[], model: string): string {
  const holding = sweepsWith(results, model);
  return holding < results.length ? ` (in ${holding} of ${results.length} sweeps)` : '';
}

function panelCell(p: PaperPanel, plotDir: string): string {
  if (!p.result) return `${esc(p.caption)}: *not yet measured*`;
  return `![${esc(p.caption)}](${plotDir}/${p.file})`;
}

/** `npx tsx scripts/paper-panels.ts` on the 2-core dev machine: 1.3–1.4 s wall, 0.02 s of it drawing (the rest tsx's start-up). */
const PANELS_SECONDS = 'under 2 s';

/**
 * The markdown of the cross-network section: which network is measured (with a link to its full
 * section), a summary table (rows: every attack any network ran; per network: is the mark detected at
 * every strength where accuracy stays ≥ that series' own floor — yes, **no** or n/a — and where it first
 * fails), and the six panels as the paper lays them out: a row per network, fine-tuning left,
 * quantization right. A network without results is said to be not yet measured; nothing is made up for it.
 * @param plotDir the panels' folder relative to the markdown file, e.g. 'plots/panels'.
 */
export function paperPanelsSection(networks: readonly PanelNetwork[], plotDir: string): string {
  const panels = paperPanels(networks);
  const measured = networks.filter((n): n is PanelNetwork & { results: readonly SweepResult[] } => n.results !== null);
  const out = [
    "## The paper's figures (e)–(j) across the three networks",
    '',
    "The paper's result figures: the watermark score against fine-tuning epochs and against quantization bits, for " +
      `${listed(networks.map((n) => n.label))}. Each network's sweeps come from its own report; the panels and this table are drawn from their JSON.`,
    '',
    'Regenerate: each network\'s report redraws this block at its end — LeNet5 with `npx tsx scripts/robustness-report.ts --finetune-limit 10000 --threads 2`, a CIFAR network with `npx tsx scripts/robustness-report.ts --arch allcnnc|resnet32 --model DIR --finetune-limit 10000 --threads 2`' +
      `${measured.length ? ` (the sweeps on file took ${listed(measured.map((n) => `${n.label} ${sweepTime(n.results)}`))} in all, every series, as the commands named in each report ran them)` : ''}; ` +
      `\`npx tsx scripts/paper-panels.ts\` redraws it alone from the JSON (${PANELS_SECONDS}).`,
    '',
    ...networks.map((n) => networkLine(n, panels)),
    '',
  ];
  if (measured.length) {
    out.push(
      'Per attack and network: is the mark detected at every strength where the attacked model keeps its accuracy (≥ the floor of that network\'s report), and where detection first fails; "sweep failed" where its last run produced no model to score (the reason in brackets), — where the attack is not in that network\'s report.',
      '',
      ...summaryTable(measured),
      '',
    );
  }
  out.push('| fine-tuning | quantization |', '|---|---|');
  for (const n of networks) {
    const [tune, quant] = panels.filter((p) => p.network === n);
    out.push(`| ${panelCell(tune!, plotDir)} | ${panelCell(quant!, plotDir)} |`);
  }
  out.push(
    '',
    'In each panel: the watermark score r (solid, filled markers, left axis; the detection threshold dashed) and the test accuracy (dashed, hollow markers, right axis, zoomed to the data; the accuracy floor dotted), one colour per model. Fine-tuning starts from the unattacked model at epoch 0; quantization runs from many bits to few, as in the paper.',
  );
  return out.join('\n');
}

/** The sweeps' own time, summed from the JSON (a series merged later adds its time to its section's), so it stays what the file holds. */
function sweepTime(results: readonly SweepResult[]): string {
  const seconds = results.reduce((sum, r) => sum + r.seconds, 0);
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}

const listed = (names: readonly string[]): string => (names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`);

export const PANELS_START = '<!-- paper-panels:start -->';
export const PANELS_END = '<!-- paper-panels:end -->';

/**
 * The markdown with `section` between the panel markers: in place of the old block when the markers are
 * there; else right after the table of the "## Summary" section, else before "## Notes", else at the
 * end. Text outside the markers is kept as it is, so running it twice gives the same file.
 */
export function withPanelsBlock(markdown: string, section: string): string {
  const block = `${PANELS_START}\n${section.trim()}\n${PANELS_END}`;
  const start = markdown.indexOf(PANELS_START);
  const end = markdown.indexOf(PANELS_END, start);
  if (start >= 0 && end >= 0) return markdown.slice(0, start) + block + markdown.slice(end + PANELS_END.length);
  const lines = markdown.split('\n');
  const at = insertionLine(lines);
  lines.splice(at, 0, ...(at > 0 && lines[at - 1] !== '' ? [''] : []), block, ...(lines[at] === '' ? [] : ['']));
  return lines.join('\n');
}

/** The line before which a new block goes: after the summary table, else at "## Notes", else the end. */
function insertionLine(lines: readonly string[]): number {
  const summary = lines.indexOf('## Summary');
  if (summary >= 0) {
    const first = lines.findIndex((l, i) => i > summary && l.startsWith('|'));
    const nextHeading = lines.findIndex((l, i) => i > summary && l.startsWith('## '));
    if (first >= 0 && (nextHeading < 0 || first < nextHeading)) {
      let i = first;
      while (i < lines.length && lines[i]!.startsWith('|')) i++;
      return i;
    }
  }
  const notes = lines.indexOf('## Notes');
  return notes >= 0 ? notes : lines.length;
}
