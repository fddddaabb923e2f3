/**
 * The recent events of each job, numbered, so a client whose event stream broke can resume where it
 * left off (SSE `Last-Event-ID`). Ids count up from 1 per job within this process; a client whose id is
 * no longer held (older than the window, or from before a restart) is told so (`after` returns
 * undefined) and starts again from the job's current state instead.
 *
 * Memory stays bounded: at most `perJob` events per job, and a finished job's events are dropped
 * `retainMs` after its last one.
 *
 * With a queue in PostgreSQL the ids are the publisher's (`nextEventId`: clock-based, so a worker that
 * takes a job over keeps counting up) and reach every replica through NOTIFY; `since` is the first id
 * this process can have heard, so a resume from an older id falls back to the current state.
 */
export interface Numbered<E> {
  readonly id: number;
  readonly event: E;
}

interface Trail<E> {
  /** Id of the latest event (0 before the first). */
  last: number;
  /** Id of the newest event dropped from the window (0 when none was). */
  dropped: number;
  events: Numbered<E>[];
}

/**
 * An event id for a job whose events may come from several processes: milliseconds × 100 plus a
 * counter, above `last`. It fits the 15 digits Last-Event-ID accepts until the year 2286.
 */
export function nextEventId(last: number, now = Date.now()): number {
  return Math.max(last + 1, now * 100);
}

export class JobEventHistory<E> {
  readonly #trails = new Map<string, Trail<E>>();
  readonly #perJob: number;
  readonly #retainMs: number;
  readonly #now: () => number;
  /** Finished jobs in the order they finished, which (one retention for all) is the order they expire in. */
  readonly #finished = new Map<string, number>();

  readonly #since: number;

  constructor(opts: { perJob?: number; retainMs?: number; now?: () => number; since?: number } = {}) {
    this.#perJob = opts.perJob ?? 256;
    this.#retainMs = opts.retainMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
    this.#since = opts.since ?? 0;
  }

  /**
   * Keeps `event` under `id` (another process numbered it), or numbers it next; `final` marks the job's
   * last event (its trail expires after the retention). An id not above the latest is ignored (a repeat).
   */
  record(jobId: string, event: E, final = false, id?: number): Numbered<E> {
    this.#sweep();
    let t = this.#trails.get(jobId);
    if (!t) this.#trails.set(jobId, (t = { last: 0, dropped: 0, events: [] }));
    const numbered = { id: id ?? t.last + 1, event };
    if (numbered.id <= t.last) return numbered;
    t.last = numbered.id;
    t.events.push(numbered);
    if (t.events.length > this.#perJob) t.dropped = t.events.splice(0, t.events.length - this.#perJob).at(-1)!.id;
    if (final) {
      this.#finished.delete(jobId);
      this.#finished.set(jobId, this.#now() + this.#retainMs);
    }
    return numbered;
  }

  /** Id of the job's latest event held (0 when none is). */
  lastId(jobId: string): number {
    this.#sweep();
    return this.#trails.get(jobId)?.last ?? 0;
  }

  /**
   * The events after `lastId`, oldest first; undefined when they are not all held (the id is older than
   * the window, or unknown to this process), so the caller must fall back to the current state.
   */
  after(jobId: string, lastId: number): Numbered<E>[] | undefined {
    this.#sweep();
    const t = this.#trails.get(jobId);
    const last = t?.last ?? 0;
    if (lastId > last) return undefined;
    // before this process listened (shared queue) or before the window: events may be missing
    if (lastId < Math.max(this.#since, t?.dropped ?? 0)) return undefined;
    if (lastId === last) return [];
    return t!.events.filter((e) => e.id > lastId);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, dropAt] of this.#finished) {
      if (dropAt > now) break;
      this.#finished.delete(id);
      this.#trails.delete(id);
    }
  }
}
