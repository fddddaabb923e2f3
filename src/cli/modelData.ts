/**
 * The data a model was trained on, for `weightmark attack`: accuracy is measured, and training attacks
 * train, on the model's own task — a dataset file's held-out and training splits (the split `train
 * --data` drew), or a built-in dataset's test and training sets. `--dataset`/`--data` choose; without
 * them, what the model folder's training.json recorded; without that, the built-in its input fits.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Architecture } from '../core/architectures.js';
import { datasetNames, defaultDatasetFor, firstSamples, loadDataset, type Dataset, type DatasetName } from '../data/datasets.js';
import { readDatasetPath, type DatasetOnDisk } from '../data/datasetPath.js';
import { oneOf, UsageError } from './args.js';

/** A dataset file as training.json records it (`dataFile`): enough to draw the same split again. */
export interface DataFileRecord {
  /** Relative to where the command ran, so a committed record names no machine's folders. */
  readonly path: string;
  readonly labels?: string;
  readonly holdout: number;
  /** The content digest: a changed file is refused rather than silently measured on. */
  readonly digest: string;
}

/** The record of a dataset file a run trained on; paths relative to where the command runs, as --warm-start's. */
export function dataFileRecord(f: { path: string; labels?: string | undefined; holdout: number; digest: string }): DataFileRecord {
  const rel = (p: string) => relative(process.cwd(), resolve(p));
  return { path: rel(f.path), ...(f.labels ? { labels: rel(f.labels) } : {}), holdout: f.holdout, digest: f.digest };
}

/** @throws Error naming both when a dataset file's images or classes do not fit the architecture. */
export function checkDataFits(arch: Architecture, data: DatasetOnDisk, path: string): void {
  const { shape, classes } = data.summary;
  if (shape.join('x') !== arch.inputShape.join('x')) throw new Error(`${arch.name} takes ${arch.inputShape.join('x')} inputs; ${path} has ${shape.join('x')} images`);
  if (classes.length > arch.classes) throw new Error(`${arch.name} has ${arch.classes} outputs; ${path} has ${classes.length} classes`);
}

export interface ModelData {
  /** What a training attack asks the trainer for: a built-in's name, or `file:NAME` answered by `data`. */
  readonly dataset: string;
  /** The accuracy set: the first `testLimit` samples of the test set or held-out split. */
  readonly test: Dataset;
  readonly evaluatedOn: { readonly dataset?: string; readonly data?: string; readonly split: 'test' | 'held-out'; readonly samples: number };
  /** The dataset file's splits for the trainer (absent for a built-in). */
  readonly data?: (name: string, limit: number | undefined) => { train: Dataset; test: Dataset } | undefined;
}

interface DataFlags {
  readonly dataset?: string;
  readonly data?: string;
  readonly labels?: string;
  readonly holdout?: number;
}

/**
 * @param modelPath the --model argument (a folder's training.json is read when no flag chooses).
 * @throws UsageError for conflicting flags, a recorded dataset file that is gone or changed, or data
 *   whose images do not fit the architecture.
 */
export function modelData(arch: Architecture, modelPath: string, flags: DataFlags, testLimit: number | undefined): ModelData {
  if (flags.data !== undefined && flags.dataset !== undefined) throw new UsageError('give --dataset (a built-in) or --data (a dataset file), not both');
  if (flags.data !== undefined) return fromFile(arch, flags.data, { ...(flags.labels ? { labels: flags.labels } : {}), ...(flags.holdout !== undefined ? { holdout: flags.holdout } : {}) }, testLimit);
  if (flags.dataset !== undefined) return builtIn(arch, oneOf<DatasetName>(flags.dataset, 'dataset', datasetNames, 'mnist'), testLimit);
  const recorded = trainingRecord(modelPath);
  if (recorded?.dataFile) {
    const f = recorded.dataFile;
    if (!existsSync(f.path)) throw new UsageError(`${modelPath} was trained on ${f.path}, which is not here: pass --data FILE (the same file), or --dataset NAME to measure on a built-in`);
    const d = fromFile(arch, f.path, { ...(f.labels ? { labels: f.labels } : {}), holdout: f.holdout }, testLimit);
    if (d.digest !== f.digest) throw new UsageError(`${f.path} changed since ${modelPath} was trained on it (content digest ${d.digest.slice(0, 12)}…, recorded ${f.digest.slice(0, 12)}…); pass --data FILE to measure on it anyway`);
    return d;
  }
  const named = typeof recorded?.dataset === 'string' && (datasetNames as readonly string[]).includes(recorded.dataset) ? (recorded.dataset as DatasetName) : undefined;
  return builtIn(arch, named ?? defaultDatasetFor(arch.inputShape), testLimit);
}

function trainingRecord(modelPath: string): { dataset?: unknown; dataFile?: DataFileRecord } | undefined {
  const file = join(modelPath, 'training.json');
  if (!existsSync(modelPath) || !statSync(modelPath).isDirectory() || !existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { dataset?: unknown; dataFile?: DataFileRecord };
  } catch {
    return undefined;
  }
}

function builtIn(arch: Architecture, name: DatasetName, testLimit: number | undefined): ModelData {
  const test = loadDataset(name, 'test', testLimit !== undefined ? { limit: testLimit } : {});
  fits(arch, test, name);
  return { dataset: name, test, evaluatedOn: { dataset: name, split: 'test', samples: test.n } };
}

function fromFile(arch: Architecture, path: string, opts: { labels?: string; holdout?: number }, testLimit: number | undefined): ModelData & { digest: string } {
  const own = readDatasetPath(path, opts);
  checkDataFits(arch, own, path);
  const name = `file:${path}`;
  const heldOut = own.splits({ limit: 1 }).heldOut;
  const test = testLimit !== undefined ? firstSamples(heldOut, testLimit) : heldOut;
  const data = (asked: string, limit: number | undefined) => {
    if (asked !== name) return undefined;
    const s = own.splits(limit !== undefined ? { limit } : {});
    return { train: s.train, test: firstSamples(s.heldOut, 200) };
  };
  return { dataset: name, test, evaluatedOn: { data: path, split: 'held-out', samples: test.n }, data, digest: own.summary.digest };
}

function fits(arch: Architecture, d: Dataset, what: string): void {
  if (d.shape.join('x') !== arch.inputShape.join('x')) throw new UsageError(`${arch.name} takes ${arch.inputShape.join('x')} inputs; ${what} has ${d.shape.join('x')} images`);
}
