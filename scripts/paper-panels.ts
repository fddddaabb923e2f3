/**
 * Draws the paper's figures (e)–(j) — watermark score and test accuracy against fine-tuning epochs and
 * quantization bits for LeNet5-caffe, ALL-CNN-C and ResNet-32 — and the summary table across the three
 * networks, from the sweeps their reports kept; runs no attack (about a second).
 *
 *   npx tsx scripts/paper-panels.ts
 *
 * Reads docs/robustness.json (LeNet5), docs/robustness-allcnnc.json and docs/robustness-resnet32.json (a
 * missing one is a network "not yet measured"); writes docs/plots/panels/<e…j>.svg for the measured ones
 * and replaces the block between `<!-- paper-panels:start -->` and `<!-- paper-panels:end -->` in
 * docs/robustness.md (inserted after the Summary table when absent). scripts/robustness-report.ts calls
 * the same after each report, so this script is for a change to the panels, not to the measurements.
 *
 * Flags: --lenet5 FILE, --allcnnc FILE, --resnet32 FILE (the JSONs), --out FILE (default
 * docs/robustness.md), --plots DIR (default docs/plots/panels).
 */
import { parseArgs } from 'node:util';
import { defaultPanelPaths, refreshPaperPanels } from '../src/report/panelFiles.js';

const d = defaultPanelPaths();
const { values } = parseArgs({
  options: {
    lenet5: { type: 'string', default: d.json.lenet5 },
    allcnnc: { type: 'string', default: d.json.allcnnc },
    resnet32: { type: 'string', default: d.json.resnet32 },
    out: { type: 'string', default: d.markdown },
    plots: { type: 'string', default: d.plots },
  },
});
const t0 = Date.now();
const written = refreshPaperPanels({ markdown: values.out!, plots: values.plots!, json: { lenet5: values.lenet5!, allcnnc: values.allcnnc!, resnet32: values.resnet32! } });
console.log(`${written.length} panels in ${values.plots}, block updated in ${values.out} (${((Date.now() - t0) / 1000).toFixed(2)} s)`);
