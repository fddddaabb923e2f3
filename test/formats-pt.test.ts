import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, sniffFormat, writeModel } from '../src/formats/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { loadModel } from '../src/cli/modelFiles.js';
import { tempDir } from './http-helpers.js';
import { readPt } from '../src/formats/pt.js';
import { writeZipStored } from '../src/formats/zip.js';
import { float32ToHalf, halfToFloat32 } from '../src/formats/float16.js';
import type { ParamTensor } from '../src/core/paramSet.js';
import { assertCode } from './format-helpers.js';

// torch.save's own files (scripts/make_pt_fixtures.py): LeNet5 with the values of torch_lenet5.safetensors.
const pt = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/pt/${name}`, import.meta.url)));
const read = (name: string) => readModel([{ name, bytes: pt(name) }]);
const reference = readModel([{ name: 'r.safetensors', bytes: new Uint8Array(readFileSync(new URL('./fixtures/torch/torch_lenet5.safetensors', import.meta.url))) }]).params.tensors;
const MARKER = '/tmp/weightmark-pwned';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
function assertSameTensors(got: readonly ParamTensor[], want: readonly ParamTensor[]) {
  assert.deepEqual(got.map((t) => [t.name, t.shape]), want.map((t) => [t.name, t.shape]));
  for (let i = 0; i < want.length; i++) assert.deepEqual(bits(got[i]!.data), bits(want[i]!.data), want[i]!.name);
}

// ---- a hand-written torch.save zip, for what torch itself never writes ---------------------------------
const enc = new TextEncoder();
const cat = (...parts: (number | string | Uint8Array)[]) => {
  const chunks = parts.map((p) => (typeof p === 'number' ? Uint8Array.of(p) : typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p));
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
  return out;
};
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const str = (s: string) => cat(0x58, u32(enc.encode(s).length), enc.encode(s)); // BINUNICODE
const int = (n: number) => cat(0x4a, u32(n)); // BININT
const tup = (xs: number[]) => cat(0x28, ...xs.map(int), 0x74); // MARK … TUPLE
type TensorArgs = { type?: string; numel: number; offset?: number; size: number[]; stride: number[] };
/** `_rebuild_tensor_v2(('storage', torch.<type>, '0', 'cpu', numel), offset, size, stride, False, {})` */
const tensorCall = (o: TensorArgs) => cat('ctorch._utils\n_rebuild_tensor_v2\n', 0x28,
  0x28, str('storage'), `ctorch\n${o.type ?? 'FloatStorage'}\n`, str('0'), str('cpu'), int(o.numel), 0x74, 0x51,
  int(o.offset ?? 0), tup(o.size), tup(o.stride), 0x89, 0x7d, 0x74, 0x52);
/** `{'w': <tensor>}` */
const tensorPickle = (o: TensorArgs) => cat(0x80, 2, 0x7d, str('w'), tensorCall(o), 0x73, 0x2e);
const checkpoint = (pkl: Uint8Array, storage = new Uint8Array(0), extra: { name: string; data: Uint8Array }[] = []) =>
  writeZipStored([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data/0', data: storage }, ...extra]);
const floats = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

test('when torch.save wrote a LeNet5 state_dict, then it sniffs as pt and reads bit for bit as the safetensors of the same weights', () => {
  const { format, params } = read('lenet5.pt');
  assert.equal(format, 'pt');
  assertSameTensors(params.tensors, reference);
});

test('when the state_dict is wrapped in a training checkpoint {"state_dict": …, "epoch", "best_acc", "arch"}, then the state_dict is read', () => {
  assertSameTensors(read('lenet5_checkpoint.pt').params.tensors, reference);
});

test('when the state_dict is float16, then each value is the float16 rounding of the float32 weight', () => {
  const want = reference.map((t) => ({ ...t, data: halfToFloat32(float32ToHalf(t.data)) }));
  assertSameTensors(read('lenet5_f16.pt').params.tensors, want);
});

test('when tensors are views, parameters, bfloat16, int8 or int64 in nested dicts, then each is materialised in C order', () => {
  const t = new Map(read('views.pt').params.tensors.map((x) => [x.name, x]));
  const base = Array.from({ length: 12 }, (_, i) => i); // torch.arange(12).reshape(3, 4)
  assert.deepEqual([...t.keys()], ['transposed', 'offset', 'param', 'bf16', 'int8', 'bn.num_batches_tracked', 'bn.running_mean']);
  assert.deepEqual(t.get('transposed')!.shape, [4, 3]);
  assert.deepEqual([...t.get('transposed')!.data], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.deepEqual([...t.get('offset')!.data], base.slice(4));
  assert.deepEqual([...t.get('param')!.data], base);
  assert.deepEqual([...t.get('bf16')!.data], base);
  assert.deepEqual([...t.get('int8')!.data], [-128, -1, 0, 127]);
  assert.deepEqual(t.get('bn.num_batches_tracked')!.shape, []);
  assert.deepEqual([...t.get('bn.num_batches_tracked')!.data], [7]);
  assert.deepEqual([...t.get('bn.running_mean')!.data], [0.5, -0.25]);
});

test('when a checkpoint pickle calls os.system, then it is refused naming the global and nothing runs', () => {
  rmSync(MARKER, { force: true });
  assertCode(() => read('malicious.pt'), 'WM_ERR_FORMAT_UNSAFE_PICKLE', /pickle global 'posix\.system' is not allowed: only torch's weights-only globals are read; nothing was executed/);
  assert.equal(existsSync(MARKER), false, 'the payload ran');
});

test('when a whole model was saved (torch.save(model)), then it is refused naming its class and saying to save the state_dict', () => {
  assertCode(() => read('whole_model.pt'), 'WM_ERR_FORMAT_UNSAFE_PICKLE', /pickle global 'torch\.nn\.modules\.linear\.Linear' is not allowed.*save model\.state_dict\(\) instead/);
});

test('when the file is a legacy (non-zip) torch.save, then it is refused with how to re-save it', () => {
  assert.equal(sniffFormat(pt('legacy.pt')), 'pt');
  assertCode(() => read('legacy.pt'), 'WM_ERR_FORMAT_UNSUPPORTED', /legacy torch\.save .*re-save it with a current PyTorch/);
});

test('when a zip holds no */data.pkl, then it stays npz', () => {
  assert.equal(sniffFormat(new Uint8Array(readFileSync(new URL('./fixtures/formats/stored.npz', import.meta.url)))), 'npz');
  assert.equal(sniffFormat(checkpoint(tensorPickle({ numel: 1, size: [1], stride: [1] }), floats(1))), 'pt');
});

test('when a pickle uses every opcode of the weights-only format, then it is read and the tensor its integers describe is right', () => {
  const f64 = new Uint8Array(8);
  new DataView(f64.buffer).setFloat64(0, 0.5, false); // BINFLOAT is big-endian
  const pkl = cat(0x80, 2, 0x7d,
    0x55, 1, 'w', // SHORT_BINSTRING key
    'ctorch._utils\n_rebuild_parameter\n',
    'ctorch._utils\n_rebuild_tensor_v2\n', 0x28,
    0x28, str('storage'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), 0x72, u32(70000), 0x4d, 6, 0, 0x74, 0x51, // LONG_BINPUT; BININT2 numel 6
    0x8a, 1, 1, // LONG1 offset 1
    0x4b, 2, 0x4b, 2, 0x86, 0x4b, 1, 0x4b, 3, 0x86, // TUPLE2 size (2, 2), stride (1, 3)
    0x88, 0x4e, 0x85, 0x74, 0x52, // requires_grad True, hooks (None,): TUPLE1
    0x88, 0x5d, 0x4e, 0x61, 0x28, 0x47, f64, 0x6a, u32(70000), 0x65, 0x87, 0x52, // (t, True, [None] + [0.5, 'cpu']): APPEND, APPENDS, LONG_BINGET, TUPLE3
    0x73, str('n'), 0x8a, 2, 0x00, 0x80, 0x73, 0x2e); // SETITEM; a LONG1 (-32768) entry: not a tensor, skipped
  const set = readPt(checkpoint(pkl, floats(0, 1, 2, 3, 4, 5)));
  assert.deepEqual(set.tensors.map((t) => [t.name, t.shape, [...t.data]]), [['w', [2, 2], [1, 4, 2, 5]]]);
});

test('when a pickle uses an opcode or a global beyond the weights-only format, then it is refused naming it', () => {
  const stackGlobal = cat(0x80, 2, str('posix'), str('system'), 0x93, 0x2e);
  assertCode(() => readPt(checkpoint(stackGlobal)), 'WM_ERR_FORMAT_UNSAFE_PICKLE', /opcode STACK_GLOBAL \(0x93\) at byte 23 is not allowed/);
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 'cbuiltins\neval\n', 0x2e))), 'WM_ERR_FORMAT_UNSAFE_PICKLE', /'builtins\.eval' is not allowed/);
  // an allowed name used for what torch.save never does with it: calling a storage class
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 'ctorch\nFloatStorage\n', 0x29, 0x52, 0x2e))), 'WM_ERR_FORMAT_UNSAFE_PICKLE', /calls 'torch\.FloatStorage'/);
});

test('when the pickle misuses the stack or the memo, a dict contains itself, or two keys flatten to one name, then it is MALFORMED', () => {
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 0x68, 7, 0x2e))), 'WM_ERR_FORMAT_MALFORMED', /memo slot 7 was never written/);
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 0x73, 0x2e))), 'WM_ERR_FORMAT_MALFORMED', /the stack is empty/);
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 0x74, 0x2e))), 'WM_ERR_FORMAT_MALFORMED', /no MARK to pop to/);
  assertCode(() => readPt(checkpoint(cat(0x80, 2, 0x5d, 0x7d, 0x2e))), 'WM_ERR_FORMAT_MALFORMED', /STOP with 2 values/);
  const selfish = cat(0x80, 2, 0x7d, 0x71, 0, str('a'), 0x68, 0, 0x73, 0x2e); // d = {}; d['a'] = d
  assertCode(() => readPt(checkpoint(selfish)), 'WM_ERR_FORMAT_MALFORMED', /contains itself/);
  assertCode(() => readPt(checkpoint(tensorPickle({ numel: 1, size: [1], stride: [1] }).subarray(0, 40))), 'WM_ERR_FORMAT_TRUNCATED');
  // {'a.w': t, 'a': {'w': t}}: two keys, one flattened name
  const t = tensorCall({ numel: 1, size: [1], stride: [1] });
  const clash = cat(0x80, 2, 0x7d, str('a.w'), t, 0x73, str('a'), 0x7d, str('w'), t, 0x73, 0x73, 0x2e);
  assertCode(() => readPt(checkpoint(clash, floats(1))), 'WM_ERR_FORMAT_MALFORMED', /two entries name the tensor 'a\.w'/);
  // {'built': [d0 = {}, …, d(k+1) = {'a': dk, 'b': dk}, …], 'x': d40}: 2^40 paths through 41 dicts, 600 bytes
  const level = (k: number) => cat(0x7d, 0x28, str('a'), 0x68, k, str('b'), 0x68, k, 0x75, 0x71, k + 1, 0x61);
  const shared = cat(0x80, 2, 0x7d, str('built'), 0x5d, 0x7d, 0x71, 0, 0x61, ...Array.from({ length: 40 }, (_, k) => level(k)), 0x73, str('x'), 0x68, 40, 0x73, 0x2e);
  assertCode(() => readPt(checkpoint(shared)), 'WM_ERR_FORMAT_MALFORMED', /share each other so often/);
});

test('when size × stride reaches past the storage, or the storage record is short, then it is MALFORMED', () => {
  assertCode(() => readPt(checkpoint(tensorPickle({ numel: 5, size: [2, 3], stride: [3, 1] }), floats(0, 1, 2, 3, 4))), 'WM_ERR_FORMAT_MALFORMED', /reach element 5 of a storage of 5/);
  assertCode(() => readPt(checkpoint(tensorPickle({ numel: 6, offset: 1, size: [6], stride: [1] }), floats(0, 1, 2, 3, 4, 5))), 'WM_ERR_FORMAT_MALFORMED', /reach element 6/);
  assertCode(() => readPt(checkpoint(tensorPickle({ numel: 6, size: [6], stride: [1] }), floats(0, 1, 2))), 'WM_ERR_FORMAT_MALFORMED', /needs 24 bytes; its record archive\/data\/0 holds 12/);
  // in bounds, strided: every other element from offset 1
  const ok = readPt(checkpoint(tensorPickle({ numel: 6, offset: 1, size: [3], stride: [2] }), floats(0, 1, 2, 3, 4, 5)));
  assert.deepEqual([...ok.tensors[0]!.data], [1, 3, 5]);
});

test('when sizes are huge or the storage is complex, then the limits refuse before allocating and the dtype is named', () => {
  assertCode(() => readPt(checkpoint(tensorPickle({ numel: 1, size: [1 << 20, 1 << 20], stride: [0, 0] }), floats(1))), 'WM_ERR_FORMAT_TOO_LARGE', /more than \d+ elements/);
  assertCode(() => readModel([{ name: 'm.pt', bytes: pt('lenet5.pt') }], { maxTotalElements: 1000 }), 'WM_ERR_FORMAT_TOO_LARGE', /in total/);
  assertCode(() => readPt(checkpoint(tensorPickle({ type: 'ComplexFloatStorage', numel: 1, size: [1], stride: [1] }), new Uint8Array(8))), 'WM_ERR_FORMAT_UNSUPPORTED_DTYPE', /torch\.ComplexFloatStorage\. Supported storages are FloatStorage/);
});

test("when <root>/byteorder says 'big', then the storages are read big-endian", () => {
  const be = new Uint8Array(8);
  new DataView(be.buffer).setFloat32(0, 1.5, false);
  new DataView(be.buffer).setFloat32(4, -2, false);
  const set = readPt(checkpoint(tensorPickle({ numel: 2, size: [2], stride: [1] }), be, [{ name: 'archive/byteorder', data: enc.encode('big') }]));
  assert.deepEqual([...set.tensors[0]!.data], [1.5, -2]);
});

// ---- writing: checked by PyTorch itself -----------------------------------------------------------------
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
// .ci/run installs python3-torch (the fixtures' toolchain) and sets CI: there a missing torch fails, not skips.
const skipWithoutTorch = hasTorch || process.env.CI ? false : `${python} cannot import torch (apt-get install python3-torch)`;

for (const [archName, ours, theirs] of [
  ['lenet5', './fixtures/torch/input_lenet5.safetensors', './fixtures/torch/torch_lenet5.safetensors'],
  ['resnet32', './fixtures/torch-cifar/ours', './fixtures/torch-cifar/torch_resnet32.safetensors'],
] as const) {
  test(`when a ${archName} is written as pt, then torch.load(weights_only=True) reads it, the PyTorch twin takes it strictly, and it equals PyTorch's own state_dict bit for bit`, { skip: skipWithoutTorch }, () => {
    const params = loadModel(new URL(ours, import.meta.url).pathname, archName).params;
    const file = join(tempDir('pt-write'), 'model.pt');
    writeFileSync(file, writeModel(params, 'pt', getArchitecture(archName))[0]!.bytes);
    const run = spawnSync(python, [new URL('../scripts/check_pt_export.py', import.meta.url).pathname, file, new URL(theirs, import.meta.url).pathname, archName], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^ok: \d+ tensors/);
  });
}
