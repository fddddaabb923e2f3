/**
 * The committed reports' figures are their numbers: every section plot under docs/plots is what its
 * report's JSON draws, so a plot cannot show fewer series (or older labels) than the table beside it.
 * A --series merge once left ResNet-32's plots with the fresh 'paper' series alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { plotSweep } from '../src/report/plot.js';
import { parseSweeps, plotFileName } from '../src/report/sweepFiles.js';

const reports = [
  { md: 'docs/robustness.md', json: 'docs/robustness.json', plots: 'docs/plots' },
  { md: 'docs/robustness-allcnnc.md', json: 'docs/robustness-allcnnc.json', plots: 'docs/plots/allcnnc' },
  { md: 'docs/robustness-resnet32.md', json: 'docs/robustness-resnet32.json', plots: 'docs/plots/resnet32' },
];

describe('committed report plots', () => {
  for (const r of reports) {
    it(`when ${r.json}'s sweeps are drawn, then each is the plot ${r.md} shows, with every series it holds`, () => {
      const results = parseSweeps(readFileSync(r.json, 'utf8'));
      const md = readFileSync(r.md, 'utf8');
      assert.ok(results.length > 0);
      for (const result of results) {
        const file = join(r.plots, plotFileName(result));
        assert.ok(existsSync(file), `${file} missing`);
        assert.ok(md.includes(`(${file.replace(/^docs\//, '')})`), `${r.md} does not show ${file}`);
        const svg = readFileSync(file, 'utf8');
        for (const s of result.series) assert.ok(svg.includes(`>${s.model}<`), `${file} has no '${s.model}' series`);
        assert.equal(svg, plotSweep(result), `${file} is not what ${r.json} draws (npx tsx scripts/replot.ts --json ${r.json} --plots ${r.plots})`);
      }
    });
  }
});
