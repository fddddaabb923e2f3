/**
 * Private modes for what the service keeps on disk. The data dir holds the database (audit log,
 * sealed watermark keys, reports) and model files; the keys dir holds the master and signing keys.
 * Both are created 0700 and their files 0600; an existing looser dir or file (an old install, a
 * restored backup, a hand-made `mkdir`) is tightened at start, never silently: each change is returned
 * so the caller logs it.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ModeChange {
  readonly path: string;
  /** Old and new mode, octal as `ls` and `chmod` write them ('0755'). */
  readonly from: string;
  readonly to: string;
}

const octal = (m: number): string => '0' + m.toString(8);

/**
 * Removes the bits `max` does not allow (0755 → 0700 for a dir, 0644 → 0600 for a file); a stricter
 * mode is left alone. Returns the change, or undefined when there was none (or no such path).
 */
export function tightenMode(p: string, max: number): ModeChange | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const old = st.mode & 0o777;
  if ((old & ~max) === 0) return undefined;
  fs.chmodSync(p, old & max);
  return { path: p, from: octal(old), to: octal(old & max) };
}

/** Creates `dir` (0700) if missing and tightens it if it exists. */
export function privateDir(dir: string): ModeChange | undefined {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return tightenMode(dir, 0o700);
}

/** The paths start-up makes private: dirs 0700, files 0600 (each file only if it exists). */
export function privatePaths(o: { dataDir: string; dbFile: string; blobDir: string; keysDir: string }): { dirs: string[]; files: string[] } {
  const signing = path.join(o.keysDir, 'signing');
  const privateKeys = fs.existsSync(signing) ? fs.readdirSync(signing).filter((n) => n.endsWith('.key.pem')).map((n) => path.join(signing, n)) : [];
  return {
    dirs: [o.dataDir, o.blobDir, o.keysDir, signing],
    // SQLite's write-ahead log and shared-memory index hold recent pages of the database
    files: [o.dbFile, `${o.dbFile}-wal`, `${o.dbFile}-shm`, path.join(o.keysDir, 'master.key'), ...privateKeys],
  };
}

/**
 * Creates the dirs and tightens dirs and files. A path the process may not chmod (another owner)
 * is reported in `failed`, not thrown: the service still starts, and the caller logs it as an error.
 */
export function makePrivate(o: { dirs: string[]; files: string[] }): { changed: ModeChange[]; failed: { path: string; error: string }[] } {
  const changed: ModeChange[] = [];
  const failed: { path: string; error: string }[] = [];
  const each = (p: string, f: () => ModeChange | undefined): void => {
    try {
      const c = f();
      if (c) changed.push(c);
    } catch (e) {
      failed.push({ path: p, error: (e as Error).message });
    }
  };
  for (const d of o.dirs) each(d, () => privateDir(d));
  for (const f of o.files) each(f, () => tightenMode(f, 0o600));
  return { changed, failed };
}
