/**
 * Master-key rotation: every sealed secret (watermark keys, key commitments) opened with the current
 * master key and sealed again with the new one, in one unit of work with its audit entry, so the store
 * is never half under one key and half under the other. Nothing is written when any secret fails to
 * open with the current key (a wrong key given as current, or a damaged row): the error names it.
 */
import type { Keystore } from '../crypto/keystore.js';
import type { Store } from '../store/types.js';

export interface RotationReport {
  readonly keys: number;
  readonly commitments: number;
}

export async function rotateMasterKey(store: Store, current: Keystore, next: Keystore, actor: string): Promise<RotationReport> {
  const keys = await store.listKeys();
  const commitments = await store.listCommitments();
  const reopen = (sealed: string, id: string, what: string): string => {
    let plain: string;
    try {
      plain = current.open(sealed, id);
    } catch (e) {
      throw new Error(`${what} '${id}' does not open with the current master key (${(e as Error).message}); nothing was changed`);
    }
    return next.seal(plain, id);
  };
  const resealed = {
    keys: keys.map((k) => ({ id: k.id, sealed: reopen(k.sealed, k.id, 'watermark key') })),
    commitments: commitments.map((c) => ({ digest: c.digest, sealed: reopen(c.sealed, c.digest, 'commitment') })),
  };
  await store.write((w) => {
    for (const k of resealed.keys) w.resealKey(k.id, k.sealed);
    for (const c of resealed.commitments) w.resealCommitment(c.digest, c.sealed);
    w.appendAudit({ actor, role: 'system', action: 'master-key.rotate', target: null, details: { keys: keys.length, commitments: commitments.length } });
  });
  // A process left running could have added a secret under the old key between the read and the write.
  const opens = (sealed: string, id: string): boolean => {
    try {
      next.open(sealed, id);
      return true;
    } catch {
      return false;
    }
  };
  const stale = [
    ...(await store.listKeys()).filter((k) => !opens(k.sealed, k.id)).map((k) => `watermark key '${k.id}'`),
    ...(await store.listCommitments()).filter((c) => !opens(c.sealed, c.digest)).map((c) => `commitment '${c.digest}'`),
  ];
  if (stale.length) throw new Error(`after the rotation ${stale.join(', ')} is still sealed under another key: a service or worker was running; stop every process and run the rotation again`);
  return { keys: keys.length, commitments: commitments.length };
}
