/** A verification worker thread: keeps up to 8 reference models, aligns and extracts on request. */
import { parentPort } from 'node:worker_threads';
import type { ParamSet } from '../core/paramSet.js';
import { alignAndExtract, type AlignCandidate } from './alignExtract.js';

const refs = new Map<string, ParamSet>();

parentPort!.on('message', (m: { id: number; suspect: ParamSet; candidates: AlignCandidate[] }) => {
  for (const c of m.candidates) {
    if (c.reference) {
      refs.delete(c.referenceId);
      refs.set(c.referenceId, c.reference);
    }
  }
  try {
    const out = alignAndExtract(m.suspect, m.candidates, (c) => c.reference ?? refs.get(c.referenceId));
    while (refs.size > 8) refs.delete(refs.keys().next().value!);
    parentPort!.postMessage({ id: m.id, out }, out.flatMap((o) => (o.ok ? [o.extracted.buffer as ArrayBuffer] : [])));
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
