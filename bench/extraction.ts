/**
 * Extraction + score time for a LeNet5-sized param set and a 1,024-position key, alone and with the
 * alignment a verification runs (by name; and invariant, against the owner's reference).
 */
import { getArchitecture } from '../src/core/architectures.js';
import { alignToKey } from '../src/core/align/index.js';
import { extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { initParams } from '../src/core/init.js';
import { toParamSet } from '../src/training/train.js';

export interface ExtractionRow {
  readonly what: string;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly runs: number;
}

function time(what: string, runs: number, fn: () => void): ExtractionRow {
  for (let i = 0; i < Math.min(5, runs); i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { what, medianMs: ms[Math.floor(runs / 2)]!, p90Ms: ms[Math.floor(runs * 0.9)]!, runs };
}

export function runExtractionBench(): ExtractionRow[] {
  const arch = getArchitecture('lenet5');
  const model = toParamSet(arch, initParams(arch, 1));
  const key = generateKey(keyTargetsFromParamSet(model), { seed: 'bench', n: 1024, arch: arch.name });
  return [
    time('extract + score (1,024 positions)', 200, () => scoreAgainstKey(extractValues(model, key), key)),
    time('align by name + extract + score', 50, () => {
      const a = alignToKey(model, key, {});
      scoreAgainstKey(extractValues(a.params, key), key, { comparisons: a.comparisons });
    }),
    time('invariant alignment vs reference + extract + score', 5, () => {
      const a = alignToKey(model, key, { reference: model, arch });
      scoreAgainstKey(extractValues(a.params, key), key, { comparisons: a.comparisons });
    }),
  ];
}

export function extractionTable(rows: readonly ExtractionRow[]): string {
  const lines = ['| LeNet5 (431,080 weights) | median ms | p90 ms | runs |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.what} | ${r.medianMs.toFixed(3)} | ${r.p90Ms.toFixed(3)} | ${r.runs} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(extractionTable(runExtractionBench()));
