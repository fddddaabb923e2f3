/**
 * Reads client date-times into the one form the store compares (`toISOString()`, UTC, milliseconds).
 * The contract's `format: date-time` admits more than `new Date()` reads (a leap second `23:59:60`,
 * `+01` or `-00` offsets), and `new Date(x).toISOString()` throws a RangeError on those: a 500 from
 * valid-looking input. This parser reads every RFC 3339 form itself and refuses, with a 400 naming
 * the value, only what a JavaScript timestamp cannot hold.
 */
import { AppError } from './errors.js';

const ACCEPTED = 'an RFC 3339 date-time such as 2026-01-31T12:00:00Z or 2026-01-31T13:00:00+01:00';
const FORM = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (year: number, month: number): number => (month === 2 ? (isLeap(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31);

/**
 * `2026-01-31T13:00:00+01:00` → `2026-01-31T12:00:00.000Z`. Fractions beyond milliseconds are cut
 * (the stored timestamps have none). @throws AppError WM_ERR_VALIDATION naming `name`, the value and
 * the accepted form.
 */
export function parseTimestamp(value: string, name: string): string {
  const refuse = (why: string): AppError => new AppError('WM_ERR_VALIDATION', `${name} '${value}' ${why}; send ${ACCEPTED}`);
  const m = FORM.exec(value);
  if (!m) throw refuse('is not a date-time');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  const sign = m[9] === '-' ? -1 : 1;
  const offH = Number(m[10] ?? 0);
  const offM = Number(m[11] ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) throw refuse('names no calendar day');
  if (offH > 23 || offM > 59) throw refuse('has an offset beyond ±23:59');
  if (second === 60) throw refuse('is a leap second, which a timestamp here cannot hold (use :59 or the next minute)');
  if (hour > 23 || minute > 59 || second > 59) throw refuse('names no time of day');
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute - sign * (offH * 60 + offM), second, ms);
  // stored timestamps compare as strings, which holds only for four-digit years in UTC
  const y = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || y < 0 || y > 9999) throw refuse('falls outside the years 0000 to 9999 (UTC)');
  return d.toISOString();
}
