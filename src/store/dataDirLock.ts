/** The data dir's owner: one process at a time (the service, or `weightmark migrate-store` reading it). */
import fs from 'node:fs';
import path from 'node:path';

/**
 * One service per data dir: a second one would re-run the first one's queued jobs and mark its running
 * jobs interrupted. A lock file names the owner's pid; a lock whose process is gone (a crash) is taken over.
 * @throws Error when a live process holds the lock.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'weightmark.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      let alive = false;
      try {
        alive = Number.isInteger(pid) && pid > 0 && pid !== process.pid ? (process.kill(pid, 0), true) : false;
      } catch {
        alive = false;
      }
      if (alive) throw new Error(`another weightmark service (pid ${pid}) is using ${dataDir}; stop it first or use another WEIGHTMARK_DATA_DIR`);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
