/**
 * A restricted pickle reader: it interprets the opcodes of torch's weights-only format (protocol 2, as
 * torch.save writes data.pkl; the same set as torch/_weights_only_unpickler.py, plus BINFLOAT, minus
 * NEWOBJ and EMPTY_SET, which torch.save never writes for weights) and NOTHING is ever imported or
 * called: a GLOBAL only names something, and the caller decides what a REDUCE of an allowed name builds
 * (see pt.ts). Any other global or opcode is refused with WM_ERR_FORMAT_UNSAFE_PICKLE, naming it.
 * Every read is bounded by the pickle's own length: each opcode consumes at least one byte and pushes at
 * most one value, so the stack, the memo and the work are linear in the input.
 */
import { FormatError } from './errors.js';
import { concatBytes, decodeUtf8 } from './common.js';

/** A tuple, told apart from a list (an array) because torch's arguments are tuples. */
export interface PyTuple { readonly kind: 'tuple'; readonly items: readonly PyValue[] }
/** dict and collections.OrderedDict alike; keys are Python's hashable scalars. */
export interface PyDict { readonly kind: 'dict'; readonly entries: Map<PyKey, PyValue> }
/** What a GLOBAL pushes: a name only (`torch.FloatStorage`), never the thing it names. */
export interface PyGlobal { readonly kind: 'global'; readonly name: string }
/** What the caller's reduce / persistentLoad build (tensors, storages): opaque to the reader. */
export interface PyObject { readonly kind: 'object'; readonly value: unknown }
export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | PyTuple | PyValue[] | PyDict | PyGlobal | PyObject;

export interface UnpickleOptions {
  /** Fully qualified names (`module.name`) a GLOBAL may name. */
  readonly globals: ReadonlySet<string>;
  /** What the allowed globals are, for the refusal message ("torch's weights-only globals"). */
  readonly allowedWhat: string;
  /** Appended to that message: what to do instead. */
  readonly refusalHint: string;
  /** REDUCE of an allowed global with its argument tuple. */
  reduce(name: string, args: readonly PyValue[]): PyValue;
  /** BINPERSID with the persistent id. */
  persistentLoad(pid: PyValue): PyValue;
}

const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, EMPTY_TUPLE: 0x29, EMPTY_LIST: 0x5d, EMPTY_DICT: 0x7d,
  TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47, BINUNICODE: 0x58, SHORT_BINSTRING: 0x55,
  BINGET: 0x68, LONG_BINGET: 0x6a, BINPUT: 0x71, LONG_BINPUT: 0x72, APPEND: 0x61, APPENDS: 0x65,
  SETITEM: 0x73, SETITEMS: 0x75, GLOBAL: 0x63, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51,
} as const;

/** Names of the opcodes refused, so that the message says which one (pickletools' names). */
const REFUSED_NAMES: Readonly<Record<number, string>> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x50: 'PERSID', 0x95: 'FRAME', 0x94: 'MEMOIZE', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8e: 'BINBYTES8', 0x96: 'BYTEARRAY8', 0x49: 'INT', 0x4c: 'LONG', 0x8b: 'LONG4', 0x53: 'STRING',
  0x54: 'BINSTRING', 0x56: 'UNICODE', 0x46: 'FLOAT', 0x67: 'GET', 0x70: 'PUT', 0x64: 'DICT', 0x6c: 'LIST', 0x30: 'POP',
  0x31: 'POP_MARK', 0x32: 'DUP', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** A GLOBAL line (module or name) longer than this is not a Python identifier path anyone writes. */
const MAX_GLOBAL_LINE = 256;

/**
 * Reads one pickle into values. @throws FormatError WM_ERR_FORMAT_UNSAFE_PICKLE (a global or opcode
 * outside the allow-list), TRUNCATED (the pickle ends early), MALFORMED (stack or memo misuse, a BUILD or
 * APPEND on the wrong thing), and whatever `reduce` / `persistentLoad` throw.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, where = 'pickle'): PyValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const memo = new Map<number, PyValue>();
  const metastack: PyValue[][] = [];
  let stack: PyValue[] = [];
  let pos = 0;
  let at = 0;

  const fail = (message: string): never => {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: ${message} (opcode at byte ${at})`);
  };
  const need = (n: number): number => {
    if (pos + n > bytes.length) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: ends at byte ${bytes.length} inside the opcode at byte ${at}`);
    const p = pos;
    pos += n;
    return p;
  };
  const pop = (): PyValue => (stack.length > 0 ? stack.pop()! : fail('the stack is empty'));
  const top = (): PyValue => (stack.length > 0 ? stack[stack.length - 1]! : fail('the stack is empty'));
  const popMark = (): PyValue[] => {
    const items = stack;
    stack = metastack.pop() ?? fail('no MARK to pop to');
    return items;
  };
  const line = (): string => {
    const end = bytes.subarray(pos, pos + MAX_GLOBAL_LINE + 1).indexOf(0x0a);
    if (end < 0) {
      if (pos + MAX_GLOBAL_LINE >= bytes.length) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: ends inside the GLOBAL at byte ${at}`);
      return fail(`GLOBAL names a module or name longer than ${MAX_GLOBAL_LINE} bytes`);
    }
    const s = decodeUtf8(bytes.subarray(pos, pos + end), `${where} GLOBAL`);
    pos += end + 1;
    return s;
  };
  const setItem = (target: PyValue, k: PyValue, v: PyValue) => {
    if (!isDict(target)) return fail(`SETITEM(S) on ${kindOf(target)}, not a dict`);
    if (!isKey(k)) return fail(`a dict key is ${kindOf(k)}; only str, int, bool and None keys are read`);
    target.entries.set(k, v);
  };

  for (;;) {
    at = pos;
    const op = bytes[need(1)]!;
    switch (op) {
      case OP.PROTO: need(1); break;
      case OP.STOP: {
        if (metastack.length > 0 || stack.length !== 1) fail(`STOP with ${stack.length} values on the stack and ${metastack.length} open MARKs`);
        return stack[0]!;
      }
      case OP.MARK: metastack.push(stack); stack = []; break;
      case OP.EMPTY_TUPLE: stack.push(tuple([])); break;
      case OP.EMPTY_LIST: stack.push([]); break;
      case OP.EMPTY_DICT: stack.push(emptyDict()); break;
      case OP.TUPLE: { const items = popMark(); stack.push(tuple(items)); break; }
      case OP.TUPLE1: case OP.TUPLE2: case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        if (stack.length < n) fail(`TUPLE${n} with ${stack.length} values on the stack`);
        stack.push(tuple(stack.splice(stack.length - n, n)));
        break;
      }
      case OP.NONE: stack.push(null); break;
      case OP.NEWTRUE: stack.push(true); break;
      case OP.NEWFALSE: stack.push(false); break;
      case OP.BININT: stack.push(dv.getInt32(need(4), true)); break;
      case OP.BININT1: stack.push(bytes[need(1)]!); break;
      case OP.BININT2: stack.push(dv.getUint16(need(2), true)); break;
      case OP.LONG1: { const n = bytes[need(1)]!; stack.push(decodeLong(bytes.subarray(need(n), pos))); break; }
      case OP.BINFLOAT: stack.push(dv.getFloat64(need(8), false)); break;
      case OP.BINUNICODE: {
        const n = dv.getUint32(need(4), true);
        stack.push(decodeUtf8(bytes.subarray(need(n), pos), `${where} string at byte ${at}`));
        break;
      }
      case OP.SHORT_BINSTRING: {
        const n = bytes[need(1)]!;
        stack.push(String.fromCharCode(...bytes.subarray(need(n), pos))); // a Python 2 str: bytes as latin-1
        break;
      }
      case OP.BINGET: case OP.LONG_BINGET: {
        const i = op === OP.BINGET ? bytes[need(1)]! : dv.getUint32(need(4), true);
        if (!memo.has(i)) fail(`memo slot ${i} was never written`);
        stack.push(memo.get(i)!);
        break;
      }
      case OP.BINPUT: case OP.LONG_BINPUT: {
        const i = op === OP.BINPUT ? bytes[need(1)]! : dv.getUint32(need(4), true);
        memo.set(i, top());
        break;
      }
      case OP.APPEND: { const v = pop(); const list = top(); if (!Array.isArray(list)) fail(`APPEND to ${kindOf(list)}, not a list`); (list as PyValue[]).push(v); break; }
      case OP.APPENDS: {
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail(`APPENDS to ${kindOf(list)}, not a list`);
        for (const v of items) (list as PyValue[]).push(v);
        break;
      }
      case OP.SETITEM: { const v = pop(); const k = pop(); setItem(top(), k, v); break; }
      case OP.SETITEMS: {
        const items = popMark();
        if (items.length % 2 !== 0) fail(`SETITEMS with an odd number (${items.length}) of keys and values`);
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        break;
      }
      case OP.GLOBAL: {
        const name = `${line()}.${line()}`;
        if (!opts.globals.has(name)) {
          throw new FormatError('WM_ERR_FORMAT_UNSAFE_PICKLE', `${where}: pickle global '${name.slice(0, 2 * MAX_GLOBAL_LINE)}' is not allowed: only ${opts.allowedWhat} are read; nothing was executed. ${opts.refusalHint}`);
        }
        stack.push({ kind: 'global', name });
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        if (!isGlobal(fn)) fail(`REDUCE calls ${kindOf(fn)}, not an allowed global`);
        if (!isTuple(args)) fail(`REDUCE of '${(fn as PyGlobal).name}' has ${kindOf(args)} for its arguments, not a tuple`);
        stack.push(opts.reduce((fn as PyGlobal).name, (args as PyTuple).items));
        break;
      }
      case OP.BUILD: {
        // torch sets an OrderedDict's attributes this way (its `_metadata`, module versions): not weights.
        const state = pop();
        const target = top();
        if (!isDict(target)) fail(`BUILD on ${kindOf(target)}; only an OrderedDict's attributes are set this way`);
        if (!isDict(state)) fail(`BUILD with ${kindOf(state)}, not a dict of attributes`);
        break;
      }
      case OP.BINPERSID: stack.push(opts.persistentLoad(pop())); break;
      default: {
        const name = REFUSED_NAMES[op];
        throw new FormatError(
          'WM_ERR_FORMAT_UNSAFE_PICKLE',
          `${where}: pickle opcode ${name ? `${name} (0x${op.toString(16)})` : `0x${op.toString(16).padStart(2, '0')}`} at byte ${at} is not allowed: only the opcodes of torch's weights-only format are read; nothing was executed`,
        );
      }
    }
  }
}

export function isDict(v: PyValue): v is PyDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'dict';
}
export function isTuple(v: PyValue): v is PyTuple {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'tuple';
}
function isGlobal(v: PyValue): v is PyGlobal {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'global';
}
function isKey(v: PyValue): v is PyKey {
  return v === null || typeof v !== 'object';
}

/** A short name of a value's type for messages (never its content: it may be large or cyclic). */
export function kindOf(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': return 'a str';
    case 'number': case 'bigint': return 'a number';
    case 'boolean': return 'a bool';
    default: return v.kind === 'global' ? `the global '${v.name}'` : v.kind === 'object' ? 'an object' : `a ${v.kind}`;
  }
}

function tuple(items: readonly PyValue[]): PyTuple {
  return { kind: 'tuple', items };
}
/** A new empty dict (also what torch's `collections.OrderedDict()` builds). */
export function emptyDict(): PyDict {
  return { kind: 'dict', entries: new Map() };
}

/** LONG1's little-endian two's-complement bytes; a number where it is exact, else a bigint. */
function decodeLong(b: Uint8Array): number | bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

// ---- writing: the few opcodes torch.save uses for a state_dict ------------------------------------

/** Pickle opcodes as bytes, for writers that lay out a pickle by hand (pt.ts). */
export const emit = {
  proto2: (): Uint8Array => Uint8Array.of(OP.PROTO, 2),
  stop: (): Uint8Array => Uint8Array.of(OP.STOP),
  mark: (): Uint8Array => Uint8Array.of(OP.MARK),
  op: (name: 'TUPLE' | 'EMPTY_TUPLE' | 'REDUCE' | 'SETITEMS' | 'BINPERSID' | 'NEWFALSE'): Uint8Array => Uint8Array.of(OP[name]),
  global: (module: string, name: string): Uint8Array => concatBytes([Uint8Array.of(OP.GLOBAL), new TextEncoder().encode(`${module}\n${name}\n`)]),
  str: (s: string): Uint8Array => {
    const b = new TextEncoder().encode(s);
    const out = new Uint8Array(5 + b.length);
    out[0] = OP.BINUNICODE;
    new DataView(out.buffer).setUint32(1, b.length, true);
    out.set(b, 5);
    return out;
  },
  /** A non-negative integer in the shortest of BININT1 / BININT2 / BININT / LONG1. */
  int: (n: number): Uint8Array => {
    if (n < 0x100) return Uint8Array.of(OP.BININT1, n);
    if (n < 0x10000) return Uint8Array.of(OP.BININT2, n & 0xff, n >> 8);
    if (n < 2 ** 31) return concatBytes([Uint8Array.of(OP.BININT), new Uint8Array(new Int32Array([n]).buffer)]);
    const bytes: number[] = [];
    for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.push(Number(v & 0xffn));
    if (bytes[bytes.length - 1]! & 0x80) bytes.push(0); // keep it positive in two's complement
    return Uint8Array.of(OP.LONG1, bytes.length, ...bytes);
  },
};
