/**
 * A training run's checkpoint on disk, so a long run survives Ctrl-C, a crash or a restart: after each
 * epoch the weights, the momentum, the weights from before the key was drawn (the anchor) and the
 * counters go to `<dir>/checkpoint/`, written whole into a sibling folder first and then renamed into
 * place, so a crash mid-write leaves the previous checkpoint intact. The key itself is not written: its
 * positions follow from the plan and its values are locked in the weights (see lockedKey).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { paramSpecs, type Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import { readSafetensors, writeSafetensors } from '../formats/safetensors.js';
import { writeFileAtomic, fsyncDir } from '../crypto/fsutil.js';
import type { EpochRecord, TrainState } from '../training/train.js';

const VERSION = 1;
const FOLDER = 'checkpoint';

interface StateFile {
  readonly version: number;
  readonly arch: string;
  readonly epoch: number;
  readonly history: readonly EpochRecord[];
  readonly samplesSeen: number;
  readonly seconds: number;
  readonly noiseDraws: number;
  readonly hasAnchor: boolean;
  /** What the caller needs to start the same run again (its options). */
  readonly run: unknown;
}

function asSet(arch: Architecture, data: readonly Float32Array[]): ParamSet {
  return { arch: arch.name, tensors: paramSpecs(arch).map((s, i) => ({ name: s.name, shape: [...s.shape], data: data[i]! })) };
}

function fromSet(arch: Architecture, set: ParamSet, file: string): Float32Array[] {
  const byName = new Map(set.tensors.map((t) => [t.name, t]));
  return paramSpecs(arch).map((s) => {
    const t = byName.get(s.name);
    if (!t || t.data.length !== s.shape.reduce((a, b) => a * b, 1)) throw new Error(`${file}: tensor '${s.name}' is missing or has the wrong size for ${arch.name}`);
    return new Float32Array(t.data);
  });
}

/** The checkpoint folder of a run directory. */
export function checkpointPath(dir: string): string {
  return join(dir, FOLDER);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(checkpointPath(dir), 'state.json')) || existsSync(join(`${checkpointPath(dir)}.old`, 'state.json'));
}

/** Replaces the run's checkpoint with this state (files 0600: weights of an unreleased model). */
export function writeCheckpoint(dir: string, arch: Architecture, state: TrainState, run: unknown): void {
  const final = checkpointPath(dir);
  const partial = `${final}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  const file: StateFile = {
    version: VERSION, arch: arch.name, epoch: state.epoch, history: state.history, samplesSeen: state.samplesSeen,
    seconds: state.seconds, noiseDraws: state.noiseDraws, hasAnchor: state.anchor !== undefined, run,
  };
  writeFileAtomic(join(partial, 'params.safetensors'), writeSafetensors(asSet(arch, state.params)), 0o600);
  writeFileAtomic(join(partial, 'velocity.safetensors'), writeSafetensors(asSet(arch, state.velocity)), 0o600);
  if (state.anchor) writeFileAtomic(join(partial, 'anchor.safetensors'), writeSafetensors(state.anchor), 0o600);
  // state.json last: a folder without it is not a checkpoint.
  writeFileAtomic(join(partial, 'state.json'), JSON.stringify(file), 0o600);
  const old = `${final}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(final)) renameSync(final, old);
  renameSync(partial, final);
  fsyncDir(dir);
  rmSync(old, { recursive: true, force: true });
}

/** A checkpoint's state.json, parsed and checked. @throws Error naming the file when it is damaged or of another version. */
function readState(stateFile: string): StateFile {
  let s: StateFile;
  try {
    s = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
  } catch (e) {
    throw new Error(`${stateFile}: the checkpoint is damaged (${(e as Error).message}); delete the checkpoint folder to start the run again`);
  }
  if (s?.version !== VERSION) throw new Error(`${stateFile}: checkpoint version ${String(s?.version)}; this weightmark reads version ${VERSION}`);
  return s;
}

/**
 * The run's last checkpoint, or undefined when it has none.
 * @throws Error when the checkpoint is for another architecture or its files are damaged.
 */
export function readCheckpoint(dir: string, arch: Architecture): { state: TrainState; run: unknown } | undefined {
  // A crash between the two renames leaves only the previous checkpoint, under .old.
  const folder = [checkpointPath(dir), `${checkpointPath(dir)}.old`].find((f) => existsSync(join(f, 'state.json')));
  if (!folder) return undefined;
  const stateFile = join(folder, 'state.json');
  const s = readState(stateFile);
  if (s.arch !== arch.name) throw new Error(`${stateFile}: the checkpoint is of a ${s.arch} run, not ${arch.name}`);
  const read = (name: string) => {
    try {
      return readSafetensors(new Uint8Array(readFileSync(join(folder, name))));
    } catch (e) {
      throw new Error(`${join(folder, name)}: the checkpoint is damaged (${(e as Error).message}); delete the checkpoint folder to start the run again`);
    }
  };
  const state: TrainState = {
    epoch: s.epoch, history: s.history, samplesSeen: s.samplesSeen, seconds: s.seconds, noiseDraws: s.noiseDraws,
    params: fromSet(arch, read('params.safetensors'), join(folder, 'params.safetensors')),
    velocity: fromSet(arch, read('velocity.safetensors'), join(folder, 'velocity.safetensors')),
    ...(s.hasAnchor ? { anchor: { ...read('anchor.safetensors'), arch: arch.name } } : {}),
  };
  return { state, run: s.run };
}

/** The options a checkpoint was written with, without reading its weights. */
export function checkpointRun(dir: string): unknown {
  const folder = [checkpointPath(dir), `${checkpointPath(dir)}.old`].find((f) => existsSync(join(f, 'state.json')));
  if (!folder) throw new Error(`${dir} holds no checkpoint of an interrupted run (no ${join(checkpointPath(dir), 'state.json')})`);
  return readState(join(folder, 'state.json')).run;
}

export function removeCheckpoint(dir: string): void {
  for (const f of [checkpointPath(dir), `${checkpointPath(dir)}.old`, `${checkpointPath(dir)}.partial`]) rmSync(f, { recursive: true, force: true });
}
