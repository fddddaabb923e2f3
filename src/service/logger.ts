/**
 * Structured JSON logs, one object per line. Callers pass only what is safe to log: ids, codes,
 * timings. A last line of defence drops fields whose names look secret (authorization, token, key
 * material), so a careless call cannot leak them.
 */
import type { LogLevel } from '../config/env.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_FIELD = /authorization|token|secret|password|sealed|masterkey|private|keyvalues|^values$|^key$/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function scrub(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_FIELD.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { name: v.name, message: v.message };
    else out[k] = v;
  }
  return out;
}

export function createLogger(level: LogLevel, sink: (line: string) => void = (l) => process.stdout.write(l + '\n'), base: Record<string, unknown> = {}): Logger {
  const min = ORDER[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields: Record<string, unknown> = {}): void => {
    if (ORDER[lvl] < min) return;
    sink(JSON.stringify({ level: lvl, time: new Date().toISOString(), msg, ...base, ...scrub(fields) }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(level, sink, { ...base, ...scrub(f) }),
  };
}
