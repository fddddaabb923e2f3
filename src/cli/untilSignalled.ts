/** Keeps a long-running command (serve, worker) up until SIGTERM/SIGINT, then stops it gracefully; a second signal exits at once. */
import type { Logger } from '../service/logger.js';

/** Resolves with the exit code: 0 when `stop` finished, 1 when it failed. */
export function untilSignalled(logger: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) process.exit(1);
      signalled = true;
      logger.info('signal received', { signal: sig });
      stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
