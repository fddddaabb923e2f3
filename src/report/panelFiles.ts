/**
 * The paper's panels as files: reads the three networks' report JSON (docs/robustness.json for LeNet5,
 * docs/robustness-<arch>.json for the CIFAR networks), writes the six SVGs, and puts the cross-network
 * section between its markers in docs/robustness.md. A missing JSON is a network not yet measured.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { attacks } from '../attacks/index.js';
import { getArchitecture } from '../core/architectures.js';
import { parseFailures, type FailedSweep } from './runNotes.js';
import { parseSweeps } from './sweepFiles.js';
import { paperPanels, paperPanelsSection, panelSvg, withPanelsBlock, type PanelNetwork } from './panels.js';

/** The paper's networks in the order of its figures, with the JSON each report writes. */
const NETWORKS = [
  { name: 'lenet5', label: 'LeNet5-caffe', json: 'robustness.json' },
  { name: 'allcnnc', label: 'ALL-CNN-C', json: 'robustness-allcnnc.json' },
  { name: 'resnet32', label: 'ResNet-32', json: 'robustness-resnet32.json' },
] as const;

export type PanelNetworkName = (typeof NETWORKS)[number]['name'];

export interface PanelPaths {
  /** The report that holds the block: docs/robustness.md. */
  readonly markdown: string;
  /** Folder of the six SVGs: docs/plots/panels. */
  readonly plots: string;
  readonly json: Readonly<Record<PanelNetworkName, string>>;
}

/** Where the reports of robustness-report.ts put everything, under one docs folder. */
export function defaultPanelPaths(docs = 'docs'): PanelPaths {
  return {
    markdown: join(docs, 'robustness.md'),
    plots: join(docs, 'plots', 'panels'),
    json: Object.fromEntries(NETWORKS.map((n) => [n.name, join(docs, n.json)])) as Record<PanelNetworkName, string>,
  };
}

export function isPanelNetwork(arch: string): arch is PanelNetworkName {
  return NETWORKS.some((n) => n.name === arch);
}

/**
 * The panel files around one network's report, as robustness-report.ts writes it: `report` (its
 * markdown) holds that network's sweeps in the JSON beside it; the other networks' JSON and the LeNet5
 * markdown that carries the block are in the same folder under their default names.
 */
export function panelPathsBeside(report: string, arch: PanelNetworkName): PanelPaths {
  const d = defaultPanelPaths(dirname(report));
  const json = { ...d.json, [arch]: report.replace(/\.md$/, '.json') };
  return { ...d, json, ...(arch === 'lenet5' ? { markdown: report } : {}) };
}

/** The failed sweeps a report keeps in `file` (`<report>.failed.json`); none when the file is absent. */
export function failuresBeside(file: string): FailedSweep[] {
  return existsSync(file) ? parseFailures(readFileSync(file, 'utf8'), file) : [];
}

function readNetworks(paths: PanelPaths): PanelNetwork[] {
  const dir = dirname(paths.markdown);
  return NETWORKS.map(({ name, label }) => {
    const json = paths.json[name];
    // LeNet5's full report is the markdown the block goes into; each CIFAR network's sits next to its JSON.
    const doc = name === 'lenet5' ? '#summary' : relative(dir, json.replace(/\.json$/, '.md'));
    const results = existsSync(json) ? parseSweeps(readFileSync(json, 'utf8')) : null;
    const arch = getArchitecture(name);
    const twins = Object.fromEntries(attacks.flatMap((x) => {
      const twin = x.sameAs?.(arch);
      return twin ? [[x.name, twin]] : [];
    }));
    const failed = results ? failuresBeside(json.replace(/\.json$/, '.failed.json')) : [];
    return { name, label, results, docLink: doc, source: json, twins, failed };
  });
}

/**
 * Writes the panels of the measured networks and replaces the block in `paths.markdown`.
 * @returns the SVG files written.
 * @throws when the markdown does not exist (the LeNet5 report makes it).
 */
export function refreshPaperPanels(paths: PanelPaths): string[] {
  if (!existsSync(paths.markdown)) throw new Error(`${paths.markdown} not found: the panels go into the LeNet5 report (scripts/robustness-report.ts writes it)`);
  const networks = readNetworks(paths);
  mkdirSync(paths.plots, { recursive: true });
  const written: string[] = [];
  for (const panel of paperPanels(networks)) {
    if (!panel.result) continue;
    const file = join(paths.plots, panel.file);
    writeFileSync(file, panelSvg({ ...panel, result: panel.result }));
    written.push(file);
  }
  const section = paperPanelsSection(networks, relative(dirname(paths.markdown), paths.plots));
  writeFileSync(paths.markdown, withPanelsBlock(readFileSync(paths.markdown, 'utf8'), section));
  return written;
}
