/**
 * Shared memory for suspects, reused. A verification reads its upload into one SharedArrayBuffer so the
 * worker threads see it without a copy (formats/files.ts); allocating a fresh 1.7 MB SharedArrayBuffer
 * cost more than a millisecond of the request thread per LeNet5 verification (bench/verify-scale.ts),
 * about an eighth of its work. Buffers come back once the verification that leased them has finished
 * (nothing keeps a view on a suspect past its verification: the sketch and the report copy what they keep).
 * Bounded: only buffers up to `maxBuffer` bytes are pooled, at most `maxPooled` bytes in all.
 */
export class SharedBufferPool {
  readonly #free = new Map<number, SharedArrayBuffer[]>();
  #pooled = 0;

  constructor(private readonly limits: { maxBuffer: number; maxPooled: number; granule: number }) {}

  /** A buffer of at least `bytes` (its contents are whatever the last user left; callers overwrite what they use). */
  take(bytes: number): SharedArrayBuffer {
    const size = this.#sizeOf(bytes);
    if (size > this.limits.maxBuffer) return new SharedArrayBuffer(Math.max(1, bytes));
    const list = this.#free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.#pooled -= size;
      return hit;
    }
    return new SharedArrayBuffer(size);
  }

  /** Gives a buffer back; the caller must hold no view on it any more. */
  give(buf: SharedArrayBuffer): void {
    const size = buf.byteLength;
    if (size !== this.#sizeOf(size) || size > this.limits.maxBuffer || this.#pooled + size > this.limits.maxPooled) return;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    if (list.includes(buf)) return;
    list.push(buf);
    this.#pooled += size;
  }

  get pooledBytes(): number {
    return this.#pooled;
  }

  #sizeOf(bytes: number): number {
    return Math.max(1, Math.ceil(bytes / this.limits.granule)) * this.limits.granule;
  }
}
