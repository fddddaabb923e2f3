/** Everything a use case may touch, built once at start (see src/http/server.ts). */
import crypto from 'node:crypto';
import type { ServiceConfig } from '../config/env.js';
import type { Keystore } from '../crypto/keystore.js';
import type { Role, SigningKeys } from '../crypto/signing.js';
import type { BlobStore } from '../store/blobs.js';
import type { Store } from '../store/types.js';
import type { JobRunner } from '../jobs/runner.js';
import type { CheckpointMirror } from '../jobs/checkpointMirror.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Engines, TaskExecutor } from './ports.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { VerifyGate } from './verifyGate.js';
import type { ImageSet } from '../data/imageSet.js';

export interface Actor {
  readonly sub: string;
  readonly role: Role;
}

export interface ServiceContext {
  readonly config: ServiceConfig;
  readonly store: Store;
  readonly blobs: BlobStore;
  readonly keystore: Keystore;
  readonly signing: SigningKeys;
  readonly engines: Engines;
  readonly executor: TaskExecutor;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly jobs: JobRunner;
  /** Shared queue mode: training checkpoints mirrored where every worker reaches them. */
  readonly checkpoints?: CheckpointMirror;
  readonly verifyGate: VerifyGate;
  /** Small caches: decoded param sets by model id, opened keys by key id, decoded uploaded datasets by id. */
  readonly cache: { params: Lru<ParamSet>; keys: Lru<WatermarkKey>; datasets: Lru<ImageSet> };
}

export function newId(prefix: 'mdl' | 'key' | 'job' | 'rel' | 'ver' | 'ds'): string {
  return `${prefix}_${crypto.randomBytes(12).toString('base64url')}`;
}

export class Lru<V> {
  readonly #m = new Map<string, V>();
  constructor(readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.#m.delete(k);
    this.#m.set(k, v);
    while (this.#m.size > this.max) this.#m.delete(this.#m.keys().next().value!);
  }
  clear(): void {
    this.#m.clear();
  }
}
