/**
 * Issue 9: one verifier request of 4 × 248 MiB safetensors took the service to 3.3 GB of RSS. The
 * upload is read once into shared memory, parsed without copies and handed to the verification worker
 * without a structured-clone copy: the peak RSS of the request stays within 1.5x its upload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { tempDir, safetensorsBytes, watermarked } from './http-helpers.js';

const MiB = 1024 * 1024;

/** A safetensors file of one F32 tensor filling `bytes`, written in chunks (never whole in this process). */
function bigSafetensors(file: string, name: string, bytes: number): void {
  const n = Math.floor((bytes - 256) / 4);
  let header = JSON.stringify({ [name]: { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const fd = fs.openSync(file, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, header);
  const chunk = Buffer.alloc(16 * MiB);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeFloatLE(((i * 2654435761) % 1000) / 1e4 - 0.05, i);
  for (let left = n * 4; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  fs.closeSync(fd);
}

const peakRss = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const rss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

test('when a verifier uploads 4 × 248 MiB of safetensors, then the request peaks within 1.5x its upload', { timeout: 300_000, skip: !fs.existsSync('/proc/self/status') && 'needs /proc to read peak RSS' }, async () => {
  const dir = tempDir('memory');
  // Written before any request: the writes block this event loop for seconds (more on a loaded machine),
  // past the server's 5 s keep-alive, and undici would then send the next request on a pooled socket the
  // server had already closed (EPIPE).
  const files = [0, 1, 2, 3].map((i) => path.join(dir, `shard-${i}.safetensors`));
  files.forEach((f, i) => bigSafetensors(f, `block${i}.weight`, 248 * MiB));
  const upload = files.reduce((a, f) => a + fs.statSync(f).size, 0);
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./upload-memory.server.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const { url, admin, verifier } = JSON.parse(line.toString().split('\n')[0]!) as { url: string; admin: string; verifier: string };
    const owner = watermarked(1);
    const reg = new FormData();
    reg.append('file', new Blob([new Uint8Array(safetensorsBytes(owner.params))]), 'owner.safetensors');
    reg.append('key', new Blob([JSON.stringify(owner.key)]), 'key.json');
    assert.equal((await fetch(`${url}/v1/models`, { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: reg })).status, 201);
    // warm the path (index, worker, reference) with a small suspect first
    const warm = new FormData();
    warm.append('file', new Blob([new Uint8Array(safetensorsBytes(owner.params))]), 'warm.safetensors');
    assert.equal((await fetch(`${url}/v1/verifications`, { method: 'POST', headers: { Authorization: `Bearer ${verifier}` }, body: warm })).status, 201);

    const before = peakRss(child.pid!);
    const form = new FormData();
    for (const f of files) form.append('file', await fs.openAsBlob(f), path.basename(f));
    const res = await fetch(`${url}/v1/verifications`, { method: 'POST', headers: { Authorization: `Bearer ${verifier}` }, body: form });
    const body = (await res.json()) as { decision?: string };
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body.decision, 'no match');
    const peak = peakRss(child.pid!);
    const grew = peak - Math.min(before, rss(child.pid!));
    assert.ok(grew <= 1.5 * upload, `peak RSS grew by ${(grew / MiB).toFixed(0)} MiB for a ${(upload / MiB).toFixed(0)} MiB upload (before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB)`);
    process.stderr.write(`# upload ${(upload / MiB).toFixed(0)} MiB: peak RSS ${(before / MiB).toFixed(0)} → ${(peak / MiB).toFixed(0)} MiB (x${(grew / upload).toFixed(2)} of the upload)\n`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
