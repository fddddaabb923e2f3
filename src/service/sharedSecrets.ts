/**
 * With a shared database, every replica and worker must hold the same signing keys and master key:
 * one that made its own on first start would sign audit heads and tokens no other replica accepts, and
 * could not open the watermark keys the others sealed. Checked at start against what the database
 * already holds, so such a process refuses to start instead of failing request by request.
 */
import type { Keystore } from '../crypto/keystore.js';
import type { SigningKeys } from '../crypto/signing.js';
import type { Store } from '../store/types.js';

export class SecretsMismatch extends Error {
  override name = 'SecretsMismatch';
}

/** @throws SecretsMismatch naming what differs and where the process looked (never a secret). */
export async function assertSharedSecrets(store: Store, signing: SigningKeys, keystore: Keystore, keysDir: string): Promise<void> {
  const head = await store.latestAuditCheckpoint();
  if (head && !signing.jwks().keys.some((k) => k.kid === head.kid)) {
    throw new SecretsMismatch(`the database's audit head is signed with key ${head.kid}, which is not among the signing keys in ${keysDir}/signing: give every replica and worker the same keys dir (docs/deploy.md, "Secrets")`);
  }
  const [ref] = await store.listKeyRefs();
  const sealed = ref ? await store.getKey(ref.id) : undefined;
  if (!sealed) return;
  try {
    keystore.open(sealed.sealed, sealed.id);
  } catch {
    throw new SecretsMismatch(`the master key (WEIGHTMARK_MASTER_KEY, else ${keysDir}/master.key) does not open the watermark keys in the database: give every replica and worker the same master key (docs/deploy.md, "Secrets")`);
  }
}
