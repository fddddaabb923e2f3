/**
 * The production engines: core (keys, extraction, scores, alignment) and formats. Nothing here
 * imports tfjs; alignment runs in a pool of worker threads.
 */
import { architectureNames, findArchitecture, getArchitecture } from '../core/architectures.js';
import { generateKey, keyTargetsFromParamSet, parseKey, serializeKey } from '../core/keygen.js';
import { extractValues } from '../core/extract.js';
import { scoreAgainstKey } from '../core/score.js';
import { readModel } from '../formats/index.js';
import { writeTfjs } from '../formats/tfjs.js';
import { writeOnnx } from '../formats/onnx/write.js';
import { asCanonical } from '../formats/onnx/layout.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { writePt } from '../formats/pt.js';
import type { Engines } from './ports.js';
import { VerifyPool } from '../jobs/verifyPool.js';
import { verifyGroups } from '../verification/verifyGroups.js';
import { sha256Hex } from '../jobs/fileDigest.js';

/** @param verifyWorkers worker threads for alignment (0: align on the calling thread). */
export async function loadProductionEngines(opts: { verifyWorkers: number }): Promise<Engines> {
  const pool = opts.verifyWorkers > 0 ? new VerifyPool(opts.verifyWorkers) : undefined;
  return {
    readModel(files, arch) {
      const read = readModel(files);
      const canonical = arch && architectureNames().includes(arch) ? asCanonical(read.params.tensors, getArchitecture(arch), 'standard') : undefined;
      return canonical ? { format: read.format, params: canonical } : read;
    },
    writeModel(set, format, arch) {
      const a = getArchitecture(arch);
      if (format === 'onnx') return [{ name: 'model.onnx', bytes: writeOnnx(set, a) }];
      if (format === 'onnx-nhwc') return [{ name: 'model-nhwc.onnx', bytes: writeOnnx(set, a, { layout: 'nhwc' }) }];
      if (format === 'tfjs') return writeTfjs(set, a);
      if (format === 'pt') return [{ name: 'model.pt', bytes: writePt(set, a) }];
      return [{ name: 'model.safetensors', bytes: writeSafetensors(set, { arch }) }];
    },
    generateKey(set, opts) {
      return generateKey(keyTargetsFromParamSet(set), { seed: opts.seed, id: opts.id, ...(opts.arch ? { arch: opts.arch } : {}) });
    },
    parseKey,
    serializeKey,
    verifyGroups(suspect, groups, o, files = []) {
      if (pool) return pool.run(suspect, groups, o, files);
      return Promise.resolve({ outcomes: verifyGroups(suspect, groups, o, (g) => g.reference), digests: files.map(sha256Hex) });
    },
    extractValues,
    scoreAgainstKey,
    knownArchitecture: (name) => findArchitecture(name) !== undefined,
    architectures: () => architectureNames(),
    datasets: () => ['mnist', 'fashion-mnist'],
    close: async () => {
      await pool?.close();
    },
  };
}
