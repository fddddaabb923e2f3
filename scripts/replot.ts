/**
 * Draws the plots of docs/robustness.md again from the numbers the report kept (docs/robustness.json),
 * without running a sweep: for a change to the plot, not to the measurements (those take
 * scripts/robustness-report.ts, about 20 min).
 *
 *   npx tsx scripts/replot.ts [--json docs/robustness.json] [--plots docs/plots]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SweepResult } from '../src/attacks/sweep.js';
import { plotSweep } from '../src/report/plot.js';
import { plotFileName } from '../src/report/sweepFiles.js';

const { values } = parseArgs({ options: { json: { type: 'string', default: 'docs/robustness.json' }, plots: { type: 'string', default: 'docs/plots' } } });
// The JSON holds NaN as null (sweepToJson): the plot takes a non-number as "no value", as it takes NaN.
const results = JSON.parse(readFileSync(values.json!, 'utf8')) as SweepResult[];
for (const result of results) writeFileSync(join(values.plots!, plotFileName(result)), plotSweep(result));
console.log(`${results.length} plots drawn from ${values.json} into ${values.plots}`);
