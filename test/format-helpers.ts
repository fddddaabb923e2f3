import assert from 'node:assert/strict';
import { FormatError } from '../src/formats/errors.js';

/** Asserts that `fn` throws a FormatError with `code` (and a message matching `message`, when given). */
export function assertCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}
