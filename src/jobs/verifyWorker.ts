/** A verification worker thread: keeps up to 8 reference models, verifies suspects against key banks on request. */
import { parentPort } from 'node:worker_threads';
import type { ParamSet } from '../core/paramSet.js';
import { verifyGroups, type GroupInput, type VerifyOptions } from '../verification/verifyGroups.js';
import { sha256Hex } from './fileDigest.js';

const refs = new Map<string, ParamSet>();

parentPort!.on('message', (m: { id: number; suspect: ParamSet; groups: GroupInput[]; opts: VerifyOptions; files: Uint8Array[] }) => {
  for (const g of m.groups) {
    if (g.reference) {
      refs.delete(g.referenceId);
      refs.set(g.referenceId, g.reference);
    }
  }
  try {
    const out = verifyGroups(m.suspect, m.groups, m.opts, (g) => refs.get(g.referenceId));
    while (refs.size > 8) refs.delete(refs.keys().next().value!);
    parentPort!.postMessage({ id: m.id, out, digests: m.files.map(sha256Hex) });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
