/**
 * Draws a report's section plots again from the numbers it kept (its JSON), without running a sweep: for
 * a change to the plot, not to the measurements (those take scripts/robustness-report.ts).
 *
 *   npx tsx scripts/replot.ts [--json docs/robustness.json] [--plots docs/plots]
 *   npx tsx scripts/replot.ts --json docs/robustness-resnet32.json --plots docs/plots/resnet32
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { plotSweep } from '../src/report/plot.js';
import { parseSweeps, plotFileName } from '../src/report/sweepFiles.js';

const { values } = parseArgs({ options: { json: { type: 'string', default: 'docs/robustness.json' }, plots: { type: 'string', default: 'docs/plots' } } });
for (const [flag, path] of [['--json', values.json!], ['--plots', values.plots!]] as const) {
  if (!existsSync(path)) {
    console.error(`replot: ${flag} ${path} does not exist (a report's JSON and the folder of its plots, e.g. --json docs/robustness-allcnnc.json --plots docs/plots/allcnnc)`);
    process.exit(2);
  }
}
// The JSON holds NaN as null (sweepToJson): the plot takes a non-number as "no value", as it takes NaN.
let results;
try {
  results = parseSweeps(readFileSync(values.json!, 'utf8'));
} catch (e) {
  console.error(`replot: ${values.json}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
for (const result of results) writeFileSync(join(values.plots!, plotFileName(result)), plotSweep(result));
console.log(`${results.length} plots drawn from ${values.json} into ${values.plots}`);
