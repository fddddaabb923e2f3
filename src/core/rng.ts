import { createCipheriv, createHash } from 'node:crypto';

/**
 * A deterministic CSPRNG: the AES-256-CTR keystream under a key derived from a secret seed. Secret
 * positions must be unpredictable to whoever lacks the seed (Math.random is not), yet the owner must be
 * able to regenerate the same key from the same seed.
 */
export class SeededRng {
  private readonly cipher;
  private buf = new Uint32Array(0);
  private pos = 0;
  private spareGaussian: number | undefined;

  constructor(seed: string | Uint8Array, domain = 'weightmark/rng/v1') {
    const key = createHash('sha256').update(domain).update('\0').update(seed).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  nextUint32(): number {
    if (this.pos >= this.buf.length) {
      const bytes = this.cipher.update(Buffer.alloc(4096));
      this.buf = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      this.pos = 0;
    }
    return this.buf[this.pos++]!;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`nextInt needs an integer in 1..2^32, got ${n}`);
    const limit = Math.floor(2 ** 32 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box–Muller). */
  nextGaussian(): number {
    if (this.spareGaussian !== undefined) {
      const g = this.spareGaussian;
      this.spareGaussian = undefined;
      return g;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const m = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  }
}
