/**
 * What the use cases need from the rest of weightmark, as small interfaces. Production fills them
 * from the core, formats and training modules (./engines.ts); tests may inject stand-ins. The
 * verification path only ever touches `readModel`, `alignToKey`, `extractValues`, `scoreAgainstKey`:
 * no tfjs is loaded in the service process (training runs in a child process, see src/jobs/).
 */
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { KeyCommitment } from '../core/commitment.js';
import type { ImageSet } from '../data/imageSet.js';
import type { DatasetRecord } from '../store/types.js';
import type { GroupInput, GroupOutcome, VerifyOptions } from '../verification/verifyGroups.js';

export type { GroupInput, GroupOutcome, VerifyOptions };

export interface ModelFileIn {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ScoreOut {
  readonly r: number;
  readonly n: number;
  readonly pValue: number;
  readonly log10p: number;
  readonly ber: number;
  readonly decision: 'match' | 'no match';
  readonly fpr: number;
  readonly comparisons: number;
}

/** 'onnx' is the standard export (NCHW, PyTorch layouts and names); 'onnx-nhwc' our NHWC graph with the canonical tensors. */
export type DownloadFormat = 'onnx' | 'onnx-nhwc' | 'tfjs' | 'safetensors' | 'pt';

export interface Engines {
  /**
   * Sniffs and reads uploaded files; with `arch`, that architecture's PyTorch state_dict (a .pt, or any
   * format in PyTorch names and layouts) comes back as our canonical param set, converted exactly.
   * @throws FormatError (with `.code`) on bad input.
   */
  readModel(files: readonly ModelFileIn[], arch?: string): { format: string; params: ParamSet };
  /** Writes a param set in a download format. */
  writeModel(set: ParamSet, format: DownloadFormat, arch: string): ModelFileIn[];
  generateKey(set: ParamSet, opts: { id: string; seed: Uint8Array; arch?: string }): WatermarkKey;
  parseKey(json: unknown): WatermarkKey;
  serializeKey(key: WatermarkKey): string;
  /** Aligns the suspect once per reference and scores each reference's key bank (in a worker thread when pooled). */
  /**
   * Aligns and scores the suspect against every group and hashes `files` (sha256, hex) on the same
   * thread, off the request thread: the upload's bytes are shared memory, so nothing is copied.
   */
  verifyGroups(suspect: ParamSet, groups: GroupInput[], opts: VerifyOptions, files?: readonly Uint8Array[]): Promise<{ outcomes: GroupOutcome[]; digests: string[] }>;
  extractValues(set: ParamSet, key: WatermarkKey): ArrayLike<number>;
  scoreAgainstKey(extracted: ArrayLike<number>, key: WatermarkKey, opts: { fpr: number; comparisons: number }): ScoreOut;
  knownArchitecture(name: string): boolean;
  close?(): Promise<void>;
  architectures(): string[];
  datasets(): string[];
}

/** The phase of the progress event a training run sends right after writing its epoch's checkpoint. */
export const CHECKPOINT_PHASE = 'checkpoint saved';

/** Progress of a long job as shown to clients (training steps, or any phase of a release). */
export interface JobProgress {
  readonly phase: string;
  readonly epoch?: number;
  readonly epochs?: number;
  readonly step?: number;
  readonly stepsPerEpoch?: number;
  readonly loss?: number;
  readonly accuracy?: number;
  readonly samplesPerSec?: number;
  readonly etaSec?: number;
  readonly fraction?: number;
}

/** An uploaded dataset as a task carries it: decoded uint8 images and what splits and normalises them. */
export interface UploadedTrainingData {
  readonly id: string;
  readonly set: ImageSet;
  readonly split: DatasetRecord['split'];
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface TrainTask {
  readonly kind: 'train';
  readonly arch: string;
  /** The architecture itself when it was imported from ONNX: the child process cannot resolve its name. */
  readonly architecture?: Architecture;
  /** A built-in dataset's name, or an uploaded dataset's id (then `uploaded` carries it). */
  readonly dataset: string;
  /** An uploaded dataset: training uses its training split and evaluates on its held-out split. */
  readonly uploaded?: UploadedTrainingData;
  readonly strategy: 'none' | 'naive' | 'delve';
  readonly epochs: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly limit?: number;
  readonly seed?: number;
  readonly keyId: string;
  /** The key's commitment (secret: its nonce seeds the positions and signal); absent for strategy 'none'. */
  readonly commitment?: KeyCommitment;
  readonly init?: ParamSet;
  /** Fraction of the run after which the key's values are drawn (default defaults.key.embedAt; 0 for a model trained elsewhere). */
  readonly embedAt?: number;
  /** Measure `init`'s test accuracy before the first step (post-hoc watermarking reports before and after). */
  readonly evaluateInit?: boolean;
  /** Where the worker keeps its per-epoch checkpoint, and resumes from one it finds there. */
  readonly checkpointDir?: string;
}

export interface ReleaseTask {
  readonly kind: 'release';
  readonly arch: string;
  /** The architecture itself when it was imported from ONNX: the child process cannot resolve its name. */
  readonly architecture?: Architecture;
  readonly dataset: string;
  /** The uploaded dataset the owner's model was trained on: the release fine-tunes on its training split. */
  readonly uploaded?: UploadedTrainingData;
  readonly strategy: 'naive' | 'delve';
  readonly epochs: number;
  readonly limit?: number;
  readonly lr?: number;
  readonly licensee: string;
  readonly ownerModel: ParamSet;
  readonly ownerKey: WatermarkKey;
  readonly keyId: string;
  /** The licensee key's commitment (secret); the worker draws the key from it, disjoint from the owner's. */
  readonly commitment: KeyCommitment;
}

export interface AttackTask {
  readonly kind: 'attack';
  readonly arch: string;
  /** The architecture itself when it was imported from ONNX: the child process cannot resolve its name. */
  readonly architecture?: Architecture;
  /** The attack's name; for a chain, its text form (src/attacks/chainSpec.ts), shown in progress. */
  readonly attack: string;
  /** Several attacks in a row, swept as one (the step without a strength, else the last, is swept). */
  readonly chain?: readonly { readonly attack: string; readonly strength?: number; readonly options?: Readonly<Record<string, number | string | boolean>> }[];
  /** Attack options (e.g. low-rank's ranks), for the attack or every step of the chain. */
  readonly options?: Readonly<Record<string, number | string | boolean>>;
  readonly strengths?: readonly number[];
  readonly quick?: boolean;
  readonly invariant: boolean;
  readonly accuracyFloor?: number;
  readonly seed: number;
  /** The built-in dataset the model was trained on (absent: the one its input fits). */
  readonly dataset?: string;
  /** The uploaded dataset the model was trained on: accuracy on its held-out split, training attacks on its training split. */
  readonly uploaded?: UploadedTrainingData;
  readonly dataLimit?: number;
  readonly testLimit: number;
  readonly model: ParamSet;
  /**
   * The key's reference group as verification holds it (its reference — the anchor when there is one —,
   * mask and bank), the key's row in it and the verification's statistics: each copy is scored as a
   * verification scoped to this key would score it.
   */
  readonly verification: { readonly group: GroupInput & { readonly reference: ParamSet }; readonly row: number; readonly options: VerifyOptions };
}

export type Task = TrainTask | ReleaseTask | AttackTask;

export interface TaskResult {
  /** The model the task made (training, releases); absent for attack sweeps. */
  readonly params?: ParamSet;
  /** An attack sweep's numbers (src/attacks/sweep.ts SweepResult). */
  readonly sweep?: Record<string, unknown>;
  /** What an attack sweep's accuracies were measured on. */
  readonly evaluatedOn?: { readonly dataset?: string; readonly datasetId?: string; readonly split: string; readonly samples: number };
  /** The key that was embedded (a training job makes its own). */
  readonly key?: WatermarkKey;
  /** A training job's weights from just before its key was drawn: the alignment anchor (docs/statistics.md). */
  readonly anchor?: ParamSet;
  readonly testAccuracy?: number;
  /** A post-hoc watermark's model before the fine-tune, on the same test data. */
  readonly initialAccuracy?: number;
  readonly backend?: string;
  readonly seconds?: number;
}

/** Runs CPU-heavy tasks away from the request thread. */
export interface TaskExecutor {
  run(task: Task, opts: { onProgress: (p: JobProgress) => void; signal: AbortSignal }): Promise<TaskResult>;
  close(): Promise<void>;
}

export class TaskCancelled extends Error {
  override name = 'TaskCancelled';
  constructor() {
    super('the job was cancelled');
  }
}
