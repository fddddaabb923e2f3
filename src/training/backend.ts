/**
 * Picks the TensorFlow.js backend the training engine runs on: native TensorFlow when
 * `@tensorflow/tfjs-node` is installed (an optional dependency that cannot install everywhere), else
 * the WebAssembly backend with SIMD (XNNPACK), else the pure-JS `cpu` backend (correct but about 1,000x
 * slower at training). The engine's own kernels are registered for whichever one runs.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerEngineKernels } from './wasmKernels.js';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
const preferences: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

let pending: Promise<string> | undefined;
let pendingFor: BackendPreference | undefined;
let wasmPathsSet = false;

/**
 * Makes `preferred` (or the best available backend for 'auto') the active tfjs backend and returns
 * the name of the backend actually running. Idempotent: repeated calls with the same preference
 * return the same promise.
 * @throws Error when an explicit backend is requested but cannot start here.
 */
export function initBackend(preferred: BackendPreference = 'auto'): Promise<string> {
  if (!preferences.includes(preferred)) {
    throw new Error(`Unknown backend '${String(preferred)}'. Supported backends are: ${preferences.join(', ')}.`);
  }
  if (pending && pendingFor === preferred) return pending;
  pendingFor = preferred;
  pending = start(preferred);
  return pending;
}

async function start(preferred: BackendPreference): Promise<string> {
  const order: Exclude<BackendPreference, 'auto'>[] = preferred === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [preferred];
  const failures: string[] = [];
  for (const name of order) {
    try {
      if (await tryBackend(name)) {
        registerEngineKernels(name);
        return name;
      }
      failures.push(`${name}: setBackend returned false`);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`No TensorFlow.js backend could start for preference '${preferred}' (${failures.join('; ')}).`);
}

async function tryBackend(name: Exclude<BackendPreference, 'auto'>): Promise<boolean> {
  if (name === 'tensorflow') {
    // A variable specifier keeps TypeScript from requiring the optional package's types at build time.
    const nodeBinding = '@tensorflow/tfjs-node';
    await import(nodeBinding);
    return tf.setBackend('tensorflow');
  }
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the backend cannot fetch its .wasm files by URL; point it at the package's dist folder.
    // Setting the paths again after the module loaded is an error, hence once per process.
    if (!wasmPathsSet) {
      const require = createRequire(import.meta.url);
      const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
      wasm.setWasmPaths(dist + path.sep);
      wasmPathsSet = true;
    }
    return tf.setBackend('wasm');
  }
  return tf.setBackend('cpu');
}
