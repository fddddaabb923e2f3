/**
 * `weightmark worker`: runs training, release and attack jobs from the queue in PostgreSQL until
 * SIGTERM/SIGINT; a job it is running when stopped is left to another worker, which continues it.
 */
import { startWorker } from '../http/server.js';
import { parse } from './args.js';
import { untilSignalled } from './untilSignalled.js';

const HELP = `weightmark worker [--data-dir DIR] [--keys-dir DIR] [--concurrency N]
  Takes jobs from the queue in PostgreSQL (WEIGHTMARK_DATABASE_URL; model files in WEIGHTMARK_S3_BUCKET) and
  runs them, N at a time (default WEIGHTMARK_JOB_CONCURRENCY, 1). The keys dir must hold the same master key
  as the API replicas (or set WEIGHTMARK_MASTER_KEY). See docs/deploy.md.`;

export async function runWorker(argv: string[]): Promise<number> {
  const a = parse(argv, { 'data-dir': { type: 'string' }, 'keys-dir': { type: 'string' }, concurrency: { type: 'string' } });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const env = {
    ...process.env,
    ...(a['data-dir'] ? { WEIGHTMARK_DATA_DIR: a['data-dir'] } : {}),
    ...(a['keys-dir'] ? { WEIGHTMARK_KEYS_DIR: a['keys-dir'] } : {}),
    ...(a.concurrency ? { WEIGHTMARK_JOB_CONCURRENCY: a.concurrency } : {}),
  };
  const worker = await startWorker({ env });
  return untilSignalled(worker.service.ctx.logger, () => worker.stop());
}
