/**
 * Admission for verifications, before an upload is read into memory: the bytes under verification at
 * once are bounded (each suspect is held whole while it is aligned and scored), so are the requests in
 * flight (the queue) and each subject's share of them; and each subject has a daily quota kept in the
 * store, so it holds across restarts and replicas. Refusals say when to come back (Retry-After).
 */
import { AppError } from './errors.js';
import type { Actor, ServiceContext } from './context.js';

export interface Permit {
  release(): void;
}

export class VerifyGate {
  #bytes = 0;
  #inFlight = 0;
  readonly #perSubject = new Map<string, number>();

  constructor(private readonly limits: { maxBytes: number; maxInFlight: number; maxPerSubject: number }) {}

  /** @throws AppError 503 WM_ERR_VERIFY_BUSY / 429 WM_ERR_VERIFY_SUBJECT_BUSY when over a bound. */
  enter(subject: string, bytes: number): Permit {
    const mine = this.#perSubject.get(subject) ?? 0;
    if (mine >= this.limits.maxPerSubject) {
      throw new AppError('WM_ERR_VERIFY_SUBJECT_BUSY', `subject '${subject}' already has ${mine} verification(s) running (WEIGHTMARK_VERIFY_MAX_PER_SUBJECT=${this.limits.maxPerSubject}); wait for one to finish`, { retryAfterSec: 2 });
    }
    if (bytes > this.limits.maxBytes) {
      throw new AppError('WM_ERR_UPLOAD_TOO_LARGE', `the suspect's files hold ${bytes} bytes; at most ${this.limits.maxBytes} can be verified at once (WEIGHTMARK_VERIFY_MAX_BYTES)`);
    }
    if (this.#inFlight >= this.limits.maxInFlight || this.#bytes + bytes > this.limits.maxBytes) {
      throw new AppError('WM_ERR_VERIFY_BUSY', `verification capacity is full (${this.#inFlight} running, ${this.#bytes} bytes in memory of ${this.limits.maxBytes}); retry shortly`, { retryAfterSec: 5 });
    }
    this.#inFlight++;
    this.#bytes += bytes;
    this.#perSubject.set(subject, mine + 1);
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        this.#inFlight--;
        this.#bytes -= bytes;
        const n = (this.#perSubject.get(subject) ?? 1) - 1;
        if (n <= 0) this.#perSubject.delete(subject);
        else this.#perSubject.set(subject, n);
      },
    };
  }

  get bytes(): number {
    return this.#bytes;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
}

/** Counts one verification against the subject's daily quota. @throws AppError 429 WM_ERR_QUOTA_EXCEEDED. */
export async function takeVerifyQuota(ctx: ServiceContext, actor: Actor, now = new Date()): Promise<void> {
  const limit = ctx.config.verifyQuotaPerDay;
  if (limit === 0 || actor.role === 'admin') return;
  const day = now.toISOString().slice(0, 10);
  const used = await ctx.store.takeQuota(actor.sub, day, limit);
  if (used === undefined) {
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    throw new AppError('WM_ERR_QUOTA_EXCEEDED', `subject '${actor.sub}' used its ${limit} verifications for ${day} (UTC) (WEIGHTMARK_VERIFY_QUOTA_PER_DAY)`, { retryAfterSec: (midnight - now.getTime()) / 1000 });
  }
}
