import { createHash } from 'node:crypto';

/** A file's sha256 (hex), read in place: a view on shared memory is hashed without a copy. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
