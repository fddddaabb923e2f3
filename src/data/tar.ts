/**
 * A strict reader for the tar archives datasets ship in (POSIX ustar and GNU tar, as `tar czf` writes
 * them): regular files and directories, GNU long names ('L') and pax path records ('x'); every header's
 * checksum is verified and anything else — links, devices, sizes past the end — is refused with the
 * entry's name, never skipped silently. Pure: bytes in, entries out (views, no copy).
 */

export interface TarEntry {
  readonly path: string;
  readonly type: 'file' | 'directory';
  readonly data: Uint8Array;
}

const BLOCK = 512;

const text = (b: Uint8Array): string => {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
};

function octal(field: Uint8Array, what: string, at: number): number {
  const s = text(field).trim();
  if (!/^[0-7]*$/.test(s)) throw new Error(`tar: header at byte ${at} has a ${what} field that is not octal ('${s}')`);
  return s === '' ? 0 : parseInt(s, 8);
}

/** pax extended header records: "<len> <key>=<value>\n". */
function paxPath(data: Uint8Array, at: number): string | undefined {
  const s = new TextDecoder().decode(data);
  let i = 0;
  let path: string | undefined;
  while (i < s.length) {
    const sp = s.indexOf(' ', i);
    const len = Number(s.slice(i, sp));
    if (sp < 0 || !Number.isInteger(len) || len <= 0) throw new Error(`tar: malformed pax record at byte ${at}`);
    const rec = s.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

/** @throws Error naming the offending entry for a bad checksum, an unsupported entry type or a truncated archive. */
export function* readTar(bytes: Uint8Array): Generator<TarEntry> {
  let at = 0;
  let longName: string | undefined;
  while (at + BLOCK <= bytes.length) {
    const h = bytes.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) return; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const name0 = text(h.subarray(0, 100));
    if (sum !== octal(h.subarray(148, 156), 'checksum', at)) throw new Error(`tar: header checksum mismatch at byte ${at} ('${name0}')`);
    const size = octal(h.subarray(124, 136), 'size', at);
    const type = String.fromCharCode(h[156]!);
    const prefix = text(h.subarray(345, 500));
    const ustar = text(h.subarray(257, 263)) === 'ustar';
    const dataAt = at + BLOCK;
    if (dataAt + size > bytes.length) throw new Error(`tar: entry '${name0}' claims ${size} bytes past the end of the archive`);
    const data = bytes.subarray(dataAt, dataAt + size);
    at = dataAt + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = text(data);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data, dataAt) ?? longName;
      continue;
    }
    if (type === 'g') continue; // global pax defaults carry nothing a reader of files needs
    const path = longName ?? (ustar && prefix ? `${prefix}/${name0}` : name0);
    longName = undefined;
    if (type === '0' || type === '\0') yield { path, type: 'file', data };
    else if (type === '5') yield { path, type: 'directory', data };
    else throw new Error(`tar: entry '${path}' has type '${type}', which a dataset archive should not hold (only files and directories)`);
  }
  if (at < bytes.length) throw new Error(`tar: the archive ends inside a header at byte ${at}`);
}
