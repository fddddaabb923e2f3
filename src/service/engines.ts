/**
 * The production engines: core (keys, extraction, scores, alignment) and formats. Loaded lazily so a
 * missing module makes only the routes that need it answer 503 WM_ERR_ENGINE_UNAVAILABLE. Nothing here
 * imports tfjs.
 */
import { architectureNames, getArchitecture } from '../core/architectures.js';
import { generateKey, keyTargetsFromParamSet, parseKey, serializeKey } from '../core/keygen.js';
import { extractValues } from '../core/extract.js';
import { scoreWatermark } from '../core/score.js';
import { readModel } from '../formats/index.js';
import { writeTfjs } from '../formats/tfjs.js';
import { writeOnnx } from '../formats/onnx/write.js';
import { writeSafetensors } from '../formats/safetensors.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { AppError } from './errors.js';
import type { AlignmentOut, Engines } from './ports.js';

type AlignToKey = (suspect: ParamSet, key: WatermarkKey, opts: { reference?: ParamSet; arch?: ReturnType<typeof getArchitecture> }) => AlignmentOut;

async function optional<T>(load: () => Promise<T>): Promise<T | Error> {
  try {
    return await load();
  } catch (e) {
    return e as Error;
  }
}

export async function loadProductionEngines(): Promise<Engines> {
  const align = await optional(async () => (await import('../core/align/index.js')) as unknown as { alignToKey: AlignToKey });
  const unavailable = (what: string, e: Error): never => {
    throw new AppError('WM_ERR_ENGINE_UNAVAILABLE', `${what} is not available in this build (${e.message})`);
  };
  return {
    readModel(files) {
      return readModel(files);
    },
    writeModel(set, format, arch) {
      const a = getArchitecture(arch);
      if (format === 'onnx') return [{ name: 'model.onnx', bytes: writeOnnx(set, a) }];
      if (format === 'tfjs') return writeTfjs(set, a);
      return [{ name: 'model.safetensors', bytes: writeSafetensors(set, { arch }) }];
    },
    generateKey(set, opts) {
      return generateKey(keyTargetsFromParamSet(set), { seed: opts.seed, id: opts.id, ...(opts.arch ? { arch: opts.arch } : {}) });
    },
    parseKey,
    serializeKey,
    alignToKey(suspect, key, opts) {
      if (align instanceof Error) return unavailable('alignment', align);
      let arch: ReturnType<typeof getArchitecture> | undefined;
      try {
        arch = opts.arch ? getArchitecture(opts.arch) : undefined;
      } catch {
        arch = undefined;
      }
      return align.alignToKey(suspect, key, { ...(opts.reference ? { reference: opts.reference } : {}), ...(arch ? { arch } : {}) });
    },
    extractValues,
    scoreWatermark,
    knownArchitecture: (name) => architectureNames().includes(name),
    architectures: () => architectureNames(),
    datasets: () => ['mnist', 'fashion-mnist'],
  };
}
