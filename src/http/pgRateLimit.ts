/**
 * The per-minute rate limit in PostgreSQL (table rate_windows), so it holds across API replicas: one
 * upsert per request on a window aligned to the minute; windows older than two minutes are deleted
 * about once a minute per process.
 */
import type pg from 'pg';
import type { RateCounter } from './middleware.js';

export function pgRateCounter(pool: pg.Pool): RateCounter {
  let lastSweep = 0;
  return async (key, now) => {
    const start = now - (now % 60_000);
    if (now - lastSweep > 60_000) {
      lastSweep = now;
      await pool.query('DELETE FROM rate_windows WHERE window_start < $1', [start - 60_000]);
    }
    const row = (await pool.query(
      `INSERT INTO rate_windows (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key, window_start) DO UPDATE SET count = rate_windows.count + 1 RETURNING count`,
      [key, start],
    )).rows[0] as { count: string | number };
    return { count: Number(row.count), resetSec: Math.ceil((start + 60_000 - now) / 1000) };
  };
}
