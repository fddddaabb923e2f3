/**
 * Format read speed and memory: synthetic safetensors / npz / tfjs models of ~2 MB, 100 MB and 500 MB
 * are written under os.tmpdir() (deleted after), then for each: time to read the file(s) from disk,
 * time to parse the bytes into a param set, and the memory held after parsing relative to the file size
 * (arrayBuffers and rss deltas, after a forced GC). Targets (issue): parse within 2x of the read time,
 * memory held under 1.5x the file size.
 *
 * Run alone: npx tsx bench/formats-speed.ts [sizesMB...]   (default 2 100 500)
 * From bench/run.ts: `await runFormatsSpeed({ sizesMB: [2, 100] })` returns the rows.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import type { Architecture } from '../src/core/architectures.js';
import { paramSpecs } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { readModel, writeModel } from '../src/formats/index.js';
import { loadTfjsModel } from '../src/formats/tfjsFiles.js';
import { readModelFiles } from '../src/formats/files.js';
import type { ModelFile } from '../src/formats/types.js';

let gcFn: (() => void) | undefined;
/** A forced full GC; exposes `gc` on first use (no --expose-gc flag needed on the command line). */
function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose_gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

export interface FormatsSpeedRow {
  readonly format: string;
  readonly fileMB: number;
  readonly files: number;
  readonly tensors: number;
  readonly readMs: number;
  readonly parseMs: number;
  /** parse / read */
  readonly parseRatio: number;
  /** arrayBuffers held after parsing while the input files are still referenced (the peak), / file size. */
  readonly peakRatio: number;
  /** arrayBuffers held by the param set alone once the caller dropped the input files, / file size. */
  readonly heldRatio: number;
  /** rss after parsing (input still referenced) − rss before reading, / file size. */
  readonly rssRatio: number;
}

/** A flatten→dense→dense→dense net whose params take about `mb` MB in float32. */
function archOfSize(mb: number): Architecture {
  const floats = (mb * 1024 * 1024) / 4;
  const u = Math.max(8, Math.round((floats - 2570) / (4096 + 256)));
  return {
    name: `bench-${mb}mb`, description: 'synthetic', inputShape: [64, 64, 1], classes: 10,
    layers: [
      { type: 'flatten' },
      { type: 'dense', name: 'fc1', units: u, activation: 'relu' },
      { type: 'dense', name: 'fc2', units: 256, activation: 'relu' },
      { type: 'dense', name: 'fc3', units: 10, activation: 'none' },
    ],
  };
}

function syntheticSet(arch: Architecture): ParamSet {
  return {
    tensors: paramSpecs(arch).map((p) => {
      const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
      return { name: p.name, shape: [...p.shape], data };
    }),
  };
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  // Backing stores of collected ArrayBuffers are freed off-thread; collect twice around a turn.
  gc();
  await new Promise((r) => setTimeout(r, 20));
  gc();
  return process.memoryUsage();
}

async function measure(format: string, fileBytes: number, read: () => ModelFile[], parse: (files: ModelFile[]) => ParamSet): Promise<FormatsSpeedRow> {
  const m0 = await settle();
  let t = performance.now();
  let files: ModelFile[] | undefined = read();
  const readMs = performance.now() - t;
  const nFiles = files.length;
  t = performance.now();
  const set = parse(files);
  const parseMs = performance.now() - t;
  const m1 = await settle();
  files = undefined;
  const m2 = await settle();
  return {
    format, fileMB: fileBytes / 2 ** 20, files: nFiles, tensors: set.tensors.length, readMs, parseMs,
    parseRatio: parseMs / Math.max(readMs, 1e-3),
    peakRatio: (m1.arrayBuffers - m0.arrayBuffers) / fileBytes,
    heldRatio: (m2.arrayBuffers - m0.arrayBuffers) / fileBytes,
    rssRatio: (m1.rss - m0.rss) / fileBytes,
  };
}

function readAll(dir: string, names: string[]): ModelFile[] {
  return names.map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

/** Runs the benchmark for each size and format; returns one row per (format, size). */
export async function runFormatsSpeed(opts: { sizesMB?: number[]; log?: (line: string) => void } = {}): Promise<FormatsSpeedRow[]> {
  const sizes = opts.sizesMB ?? [2, 100, 500];
  const log = opts.log ?? (() => {});
  const rows: FormatsSpeedRow[] = [];
  const root = mkdtempSync(join(tmpdir(), 'wm-formats-bench-'));
  try {
    for (const mb of sizes) {
      const arch = archOfSize(mb);
      for (const format of ['safetensors', 'npz', 'tfjs'] as const) {
        const dir = join(root, `${format}-${mb}`);
        mkdirSync(dir);
        let names: string[];
        let total = 0;
        {
          const files = writeModel(syntheticSet(arch), format, arch);
          for (const f of files) {
            writeFileSync(join(dir, f.name), f.bytes);
            total += f.bytes.length;
          }
          names = files.map((f) => f.name);
        }
        log(`${format} ${mb} MB: ${names.length} file(s) written`);
        rows.push(await measure(format, total, () => readAll(dir, names), (files) => readModel(files).params));
        if (format === 'tfjs') {
          // The CLI path: shards read into one contiguous buffer, so spanning weights are views too.
          rows.push(await measure('tfjs (readModelFiles)', total, () => readModelFiles(names.map((name) => ({ name, path: join(dir, name) }))), (files) => readModel(files).params));
          rows.push(await measure('tfjs (loadTfjsModel)', total, () => [], () => loadTfjsModel(dir)));
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

export function formatsSpeedTable(rows: readonly FormatsSpeedRow[]): string {
  const head = ['format', 'size MB', 'files', 'tensors', 'read ms', 'parse ms', 'parse/read', 'peak/file', 'held/file', 'rss/file'];
  const body = rows.map((r) => [
    r.format, r.fileMB.toFixed(1), String(r.files), String(r.tensors), r.readMs.toFixed(1), r.parseMs.toFixed(1),
    r.parseRatio.toFixed(2), r.peakRatio.toFixed(2), r.heldRatio.toFixed(2), r.rssRatio.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  const rows = await runFormatsSpeed({ ...(sizes.length ? { sizesMB: sizes } : {}), log: (l) => console.error(l) });
  console.log(formatsSpeedTable(rows));
  console.log('\nread ms: readFileSync of the file(s) (page cache warm: just written). parse ms: readModel on the bytes.');
  console.log('peak/file: arrayBuffers after parsing with the input still referenced (file bytes + what parsing added) / file size; target < 1.5.');
  console.log('held/file: the same once the input files are dropped (what the param set keeps alive). parse/read target < 2.');
  console.log('tfjs (readModelFiles): shards read back to back into one buffer (src/formats/files.ts), so spanning weights are views.');
  console.log('tfjs (loadTfjsModel): the CLI helper, read+parse in one step from the folder, reported under parse.');
}
