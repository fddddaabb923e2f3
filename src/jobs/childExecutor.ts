/**
 * Runs tasks in a child Node process (src/jobs/worker.ts), one process per task: training loads
 * tfjs and keeps the CPU busy for minutes, so it must not share the event loop or the memory of the
 * API. Cancelling asks the child to stop, then kills it after a grace period. Param sets and keys cross
 * the IPC channel with structured cloning ('advanced' serialization keeps Float32Arrays).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JobProgress, Task, TaskExecutor, TaskResult } from '../service/ports.js';
import { TaskCancelled } from '../service/ports.js';

type FromChild = { type: 'progress'; progress: JobProgress } | { type: 'result'; result: TaskResult } | { type: 'error'; message: string; cancelled?: boolean };

// Compiled (dist/*.js) the child runs JavaScript; from the sources (tests, development) it needs tsx.
const COMPILED = !import.meta.url.endsWith('.ts');
const WORKER = fileURLToPath(new URL(COMPILED ? './worker.js' : './worker.ts', import.meta.url));

export class ChildProcessExecutor implements TaskExecutor {
  readonly #children = new Set<ChildProcess>();
  constructor(private readonly opts: { killGraceMs?: number; env?: NodeJS.ProcessEnv } = {}) {}

  run(task: Task, { onProgress, signal }: { onProgress: (p: JobProgress) => void; signal: AbortSignal }): Promise<TaskResult> {
    if (signal.aborted) return Promise.reject(new TaskCancelled());
    return new Promise<TaskResult>((resolve, reject) => {
      const child = fork(WORKER, [], {
        execArgv: COMPILED ? [] : ['--import', import.meta.resolve('tsx')],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, ...this.opts.env },
      });
      this.#children.add(child);
      let settled = false;
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        clearTimeout(killTimer);
        fn();
      };
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        child.send({ type: 'cancel' });
        killTimer = setTimeout(() => child.kill('SIGKILL'), this.opts.killGraceMs ?? 5000);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.on('message', (m: FromChild) => {
        if (m.type === 'progress') onProgress(m.progress);
        else if (m.type === 'result') finish(() => resolve(m.result));
        else if (m.type === 'error') finish(() => reject(m.cancelled || signal.aborted ? new TaskCancelled() : new Error(m.message)));
      });
      child.on('error', (e) => finish(() => reject(e)));
      child.on('exit', (code, sig) => {
        this.#children.delete(child);
        clearTimeout(killTimer);
        // let a last message still in flight be delivered before concluding it never came
        setTimeout(() => finish(() =>
          reject(signal.aborted ? new TaskCancelled() : new Error(`the worker process exited (${sig ?? `code ${code}`}) before finishing${stderr ? `: ${lastLine(stderr)}` : ''}`)),
        ), 50);
      });
      child.send({ type: 'run', task });
    });
  }

  async close(): Promise<void> {
    for (const c of this.#children) c.kill('SIGKILL');
    this.#children.clear();
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1]!.slice(0, 500);
}
