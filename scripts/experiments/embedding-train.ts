/**
 * Trains the candidate embeddings of docs/experiments/embedding.md: LeNet5 on full MNIST with the
 * default recipe, one model per (config, seed), written as <out>/<config>-s<seed>/{model.safetensors,
 * key.json, train.json}. Existing outputs are skipped, so an interrupted run resumes.
 *
 *   npx tsx scripts/experiments/embedding-train.ts --configs none,proportional,floor64-at0,floor64-at25 --seeds 1,2,3 --out .tmp/embedding
 *
 * Configs:
 *   none                 no key (the accuracy reference)
 *   proportional         the paper's naive locking as shipped before: 1,024 positions uniform over all
 *                        parameters (≈ 93% in fc1), values N(0, s²) scaled to each tensor at initialisation,
 *                        locked from the first step
 *   floor<M>[sqrt]-at<P> a committed key: every layer ≥ min(M, 20% of it), the rest by size (or √size),
 *                        values drawn from each tensor's own weights once P% of the steps have run
 *   …-delve-<asc|desc>-l<λ>-s<σ>   the same, trained with delve replicas (R = 4)
 *   …-redraw             values drawn again from the same signal at defaults.key.redrawAt (without the
 *                        suffix they are drawn once, as the configs measured before the re-draw existed)
 * Flags: --epochs (4), --limit (all), --threads (2), --n (1024).
 */
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getArchitecture } from '../../src/core/architectures.js';
import { commitmentDigest, makeCommitment } from '../../src/core/commitment.js';
import { generateKey, keyTargetsFromParamSet, serializeKey } from '../../src/core/keygen.js';
import { planFromCommitment, policyRecord, type AllocationPolicy } from '../../src/core/keyPlan.js';
import { initParams } from '../../src/core/init.js';
import type { DelveDirection } from '../../src/core/locking.js';
import { loadDataset } from '../../src/data/datasets.js';
import { writeModel } from '../../src/formats/index.js';
import { createGradientEngine } from '../../src/training/engine.js';
import { toParamSet, trainModel, type TrainOptions } from '../../src/training/train.js';

const { values: a } = parseArgs({
  options: {
    configs: { type: 'string', default: 'none,proportional,floor64-at0,floor64-at25' }, seeds: { type: 'string', default: '1,2,3' },
    out: { type: 'string', default: '.tmp/embedding' }, epochs: { type: 'string', default: '4' }, limit: { type: 'string' },
    threads: { type: 'string', default: '2' }, n: { type: 'string', default: '1024' },
  },
});

export interface EmbeddingConfig {
  readonly name: string;
  readonly kind: 'none' | 'proportional' | 'committed';
  readonly policy?: AllocationPolicy;
  readonly at?: number;
  readonly delve?: { direction: DelveDirection; lambda: number; sigma: number };
  readonly redraw?: boolean;
}

/** Parses a config name (see the module comment). @throws Error for a name it does not know. */
export function parseConfig(name: string): EmbeddingConfig {
  if (name === 'none' || name === 'proportional') return { name, kind: name };
  const m = /^floor(\d+)(sqrt)?-at(\d+)(?:-delve-(asc|desc)-l([\d.]+)-s([\d.]+))?(-redraw)?$/.exec(name);
  if (!m) throw new Error(`unknown config '${name}'; e.g. none, proportional, floor64-at25, floor64sqrt-at0-delve-desc-l0.3-s1`);
  return {
    name, kind: 'committed', policy: { minPerLayer: Number(m[1]), maxFraction: 0.2, share: m[2] ? 'sqrt' : 'size' }, at: Number(m[3]) / 100,
    ...(m[4] ? { delve: { direction: m[4] === 'asc' ? 'ascent' : 'descent', lambda: Number(m[5]), sigma: Number(m[6]) } } : {}),
    redraw: m[7] !== undefined,
  };
}

const isMain = process.argv[1]?.endsWith('embedding-train.ts');
if (isMain) {
  const arch = getArchitecture('lenet5');
  const limit = a.limit ? Number(a.limit) : undefined;
  const trainData = loadDataset('mnist', 'train', limit !== undefined ? { limit } : {});
  const testData = loadDataset('mnist', 'test');
  const engine = await createGradientEngine(arch, { threads: Number(a.threads) });
  const n = Number(a.n);
  for (const seed of a.seeds!.split(',').map(Number)) {
    for (const cname of a.configs!.split(',')) {
      const c = parseConfig(cname);
      const dir = join(a.out!, `${c.name}-s${seed}`);
      if (existsSync(join(dir, 'train.json'))) {
        console.error(`skip ${dir} (done)`);
        continue;
      }
      const init = toParamSet(arch, initParams(arch, seed));
      const opts: TrainOptions = { arch, epochs: Number(a.epochs), seed, init, trainData, testData, engine, strategy: c.kind === 'none' ? 'none' : c.delve ? 'delve' : 'naive' };
      let extra: Partial<TrainOptions> = {};
      if (c.kind === 'proportional') {
        extra = { key: generateKey(keyTargetsFromParamSet(init), { seed: `embedding-${seed}`, n, arch: arch.name, id: `proportional-${seed}` }) };
      } else if (c.kind === 'committed') {
        const commitment = makeCommitment({
          owner: 'experiment', subject: `embedding seed ${seed}`, arch: arch.name, n, allocation: policyRecord(c.policy!),
          createdAt: '2026-12-02T00:00:00.000Z', nonce: createHash('sha256').update(`embedding-nonce-${seed}`).digest('hex'),
        });
        extra = {
          plan: { plan: planFromCommitment(commitment, init.tensors), at: c.at!, id: `committed-${seed}`, commitment: commitmentDigest(commitment), ...(c.redraw ? {} : { redrawAt: [] }) },
          ...(c.delve ? { delve: { replicas: 4, ...c.delve } } : {}),
        };
      }
      console.error(`training ${dir}`);
      let last = 0;
      const res = await trainModel({
        ...opts, ...extra,
        onProgress: (p) => {
          if (performance.now() - last > 30_000) {
            last = performance.now();
            console.error(`  epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(4)} ${Math.round(p.samplesPerSec)}/s`);
          }
        },
      });
      mkdirSync(dir, { recursive: true });
      const [file] = writeModel(res.params, 'safetensors', arch);
      writeFileSync(join(dir, 'model.safetensors'), file!.bytes);
      const key = res.key ?? extra.key;
      if (key) writeFileSync(join(dir, 'key.json'), serializeKey(key));
      writeFileSync(join(dir, 'train.json'), JSON.stringify({ config: c, seed, testAccuracy: res.testAccuracy, seconds: res.seconds, history: res.history }, null, 1));
      console.error(`  ${c.name} seed ${seed}: ${(res.testAccuracy * 100).toFixed(2)}% in ${res.seconds.toFixed(0)} s`);
    }
  }
  await engine.dispose();
}
