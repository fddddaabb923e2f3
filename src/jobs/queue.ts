/**
 * What the job runner needs from a queue shared by several processes (src/jobs/pgQueue.ts, loaded
 * only with WEIGHTMARK_DATABASE_URL): hand a job to the workers, and fan events and cancellations out
 * to every API replica and worker.
 */
import type { JobEvent } from './runner.js';

/** An event as it travels between processes: numbered by its publisher (eventHistory.nextEventId). */
export interface PublishedEvent {
  readonly job: string;
  readonly id: number;
  readonly final: boolean;
  readonly event: JobEvent;
}

export interface JobQueue {
  /** The first event id this process can have heard (its listener started then). */
  readonly since: number;
  /** Hands a job that is already a row in the store to the workers; sending it again is a no-op. */
  send(jobId: string): Promise<void>;
  publish(e: PublishedEvent): Promise<void>;
  /** Every published event, this process's included, in the order the database delivered them. */
  onEvent(fn: (e: PublishedEvent) => void): void;
  /** Asks whichever worker runs the job to abort it. */
  requestCancel(jobId: string): Promise<void>;
  onCancel(fn: (jobId: string) => void): void;
  /**
   * The attempt number (0 = the first) past which the queue gives a job up: whoever receives it does not
   * run it again but settles it as failed, so a job that keeps killing its workers is not left `running`.
   */
  readonly lastAttempt: number;
  /**
   * Takes jobs, `concurrency` at a time, and calls `run` with each job id, the attempt number and a
   * signal that aborts when this worker lost the job. `run` throwing hands the job to another attempt.
   */
  work(concurrency: number, run: (jobId: string, attempt: number, signal: AbortSignal) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}
