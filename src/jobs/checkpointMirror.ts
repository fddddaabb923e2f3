/**
 * Training checkpoints where every worker reaches them (shared queue mode): after each epoch the
 * checkpoint's files go to the blob store and a row in `job_checkpoints` names them; the worker that
 * takes a job over writes them back into its own checkpoint folder before the run resumes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { BlobStore } from '../store/blobs.js';
import type { FileRef } from '../store/types.js';
import { checkpointPath, hasCheckpoint } from '../store/trainingCheckpoint.js';
import { writeFileAtomic, fsyncDir } from '../crypto/fsutil.js';

export class CheckpointMirror {
  constructor(private readonly pool: pg.Pool, private readonly blobs: BlobStore) {}

  /** Copies the run's current checkpoint out (read whole first: the trainer replaces it at the next epoch). */
  async save(jobId: string, runDir: string, epoch: number): Promise<void> {
    const folder = checkpointPath(runDir);
    const names = fs.readdirSync(folder).filter((n) => !n.startsWith('.'));
    const files = names.map((name) => ({ name, bytes: fs.readFileSync(path.join(folder, name)) }));
    const refs: FileRef[] = [];
    for (const f of files) refs.push(await this.blobs.put(f.name, f.bytes));
    await this.pool.query(
      `INSERT INTO job_checkpoints (job_id, epoch, files, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job_id) DO UPDATE SET epoch = EXCLUDED.epoch, files = EXCLUDED.files, updated_at = EXCLUDED.updated_at WHERE job_checkpoints.epoch <= EXCLUDED.epoch`,
      [jobId, epoch, JSON.stringify(refs), new Date().toISOString()],
    );
  }

  /** Writes the mirrored checkpoint into `runDir` unless one is there already. Returns its epoch, or undefined. */
  async restore(jobId: string, runDir: string): Promise<number | undefined> {
    if (hasCheckpoint(runDir)) return undefined;
    const row = (await this.pool.query('SELECT epoch, files FROM job_checkpoints WHERE job_id = $1', [jobId])).rows[0] as { epoch: string | number; files: string } | undefined;
    if (!row) return undefined;
    const final = checkpointPath(runDir);
    const partial = `${final}.partial`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.mkdirSync(partial, { recursive: true, mode: 0o700 });
    const refs = JSON.parse(row.files) as FileRef[];
    // state.json last, as the trainer writes it: a folder without it is not a checkpoint
    for (const ref of [...refs.filter((r) => r.name !== 'state.json'), ...refs.filter((r) => r.name === 'state.json')]) {
      writeFileAtomic(path.join(partial, path.basename(ref.name)), await this.blobs.get(ref), 0o600);
    }
    fs.renameSync(partial, final);
    fsyncDir(runDir);
    return Number(row.epoch);
  }

  async remove(jobId: string): Promise<void> {
    await this.pool.query('DELETE FROM job_checkpoints WHERE job_id = $1', [jobId]);
  }
}
