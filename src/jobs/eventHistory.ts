/**
 * The recent events of each job, numbered, so a client whose event stream broke can resume where it
 * left off (SSE `Last-Event-ID`). Ids count up from 1 per job within this process; a client whose id is
 * no longer held (older than the window, or from before a restart) is told so (`after` returns
 * undefined) and starts again from the job's current state instead.
 *
 * Memory stays bounded: at most `perJob` events per job, and a finished job's events are dropped
 * `retainMs` after its last one.
 */
export interface Numbered<E> {
  readonly id: number;
  readonly event: E;
}

interface Trail<E> {
  /** Id of the latest event (0 before the first). */
  last: number;
  events: Numbered<E>[];
}

export class JobEventHistory<E> {
  readonly #trails = new Map<string, Trail<E>>();
  readonly #perJob: number;
  readonly #retainMs: number;
  readonly #now: () => number;
  /** Finished jobs in the order they finished, which (one retention for all) is the order they expire in. */
  readonly #finished = new Map<string, number>();

  constructor(opts: { perJob?: number; retainMs?: number; now?: () => number } = {}) {
    this.#perJob = opts.perJob ?? 256;
    this.#retainMs = opts.retainMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Numbers and keeps `event`; `final` marks the job's last event (its trail expires after the retention). */
  record(jobId: string, event: E, final = false): Numbered<E> {
    this.#sweep();
    let t = this.#trails.get(jobId);
    if (!t) this.#trails.set(jobId, (t = { last: 0, events: [] }));
    const numbered = { id: ++t.last, event };
    t.events.push(numbered);
    if (t.events.length > this.#perJob) t.events.splice(0, t.events.length - this.#perJob);
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
    if (lastId === last) return [];
    const first = t!.events[0]!.id;
    if (lastId < first - 1) return undefined;
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
