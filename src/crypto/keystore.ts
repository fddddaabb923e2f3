/**
 * Secrets at rest: AES-256-GCM with a 32-byte master key. Each sealed blob is
 * `v1.<iv b64url>.<tag b64url>.<ciphertext b64url>`; the associated data binds it to its record id,
 * so a ciphertext moved to another row fails to open.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { parseMasterKey } from '../config/env.js';
import { writeFileAtomic } from './fsutil.js';

export class KeystoreError extends Error {
  override name = 'KeystoreError';
}

/**
 * The master key from config (env) or `<keysDir>/master.key`, created with mode 0600 on first start.
 * @throws KeystoreError when the file exists but does not hold 32 bytes.
 */
export function loadOrCreateMasterKey(keysDir: string, fromEnv?: Buffer): Buffer {
  if (fromEnv) return fromEnv;
  const file = path.join(keysDir, 'master.key');
  if (fs.existsSync(file)) {
    try {
      return parseMasterKey(fs.readFileSync(file, 'utf8'), file);
    } catch (e) {
      throw new KeystoreError((e as Error).message);
    }
  }
  fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const key = crypto.randomBytes(32);
  writeFileAtomic(file, key.toString('base64') + '\n', 0o600);
  fs.chmodSync(file, 0o600);
  return key;
}

export class Keystore {
  readonly #key: Buffer;
  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new KeystoreError('master key must be 32 bytes');
    this.#key = Buffer.from(masterKey);
  }

  seal(plaintext: string, recordId: string): string {
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.#key, iv);
    c.setAAD(Buffer.from(recordId));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  /** @throws KeystoreError when the blob was tampered with, moved, or sealed under another master key. */
  open(sealed: string, recordId: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') throw new KeystoreError('sealed secret has an unknown layout');
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', this.#key, Buffer.from(parts[1]!, 'base64url'));
      d.setAAD(Buffer.from(recordId));
      d.setAuthTag(Buffer.from(parts[2]!, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(parts[3]!, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new KeystoreError(`secret for '${recordId}' failed authentication (wrong master key or tampered data)`);
    }
  }
}
