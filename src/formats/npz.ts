/**
 * NumPy .npz: a zip of .npy files, one per array. The tensor name is the entry name without its '.npy'
 * suffix (`conv1.weight.npy` → `conv1.weight`, `conv1/kernel.npy` → `conv1/kernel`); entry names are
 * only names, never paths on disk. Stored entries of aligned float32 data are read zero-copy; deflated
 * ones (np.savez_compressed) are inflated with the output capped (see zip.ts).
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { FormatError, guardRead } from './errors.js';
import { ReadBudget } from './common.js';
import { readNpy, writeNpy } from './npy.js';
import { listZipEntries, readZipEntry, writeZipStored } from './zip.js';
import { DEFAULT_READ_LIMITS, type ReadLimits } from './types.js';

/**
 * Reads every entry of an .npz as a tensor, in central-directory order.
 * @throws FormatError from the zip layer (TRUNCATED, MALFORMED, UNSUPPORTED, TOO_LARGE) or from an
 * entry's .npy (see npy.ts); MALFORMED when two entries give the same tensor name or the archive is empty.
 */
export function readNpz(bytes: Uint8Array, limits: ReadLimits = DEFAULT_READ_LIMITS, budget = new ReadBudget(limits)): ParamSet {
  return guardRead('npz', () => {
    const entries = listZipEntries(bytes, limits);
    if (entries.length === 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'npz: the archive holds no arrays');
    const tensors: ParamTensor[] = [];
    const seen = new Set<string>();
    let inflated = 0;
    for (const e of entries) {
      const name = e.name.endsWith('.npy') ? e.name.slice(0, -4) : e.name;
      if (seen.has(name)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `npz: two entries name the tensor '${name}'`);
      seen.add(name);
      const data = readZipEntry(bytes, e);
      inflated += data.length;
      if (inflated > limits.maxInflatedBytes) {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `npz: entries inflate to more than ${limits.maxInflatedBytes} bytes, the limit`);
      }
      tensors.push(readNpy(data, name, limits, budget));
    }
    return { tensors };
  });
}

/** Writes a param set as an uncompressed .npz (entries `<name>.npy`, '<f4', data 64-byte aligned). */
export function writeNpz(set: ParamSet): Uint8Array {
  return writeZipStored(set.tensors.map((t) => ({ name: `${t.name}.npy`, data: writeNpy(t) })));
}
