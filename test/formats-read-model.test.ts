import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readModel, writeModel, sniffFormat, FormatError, MODEL_FORMATS } from '../src/formats/index.js';
import { getArchitecture, paramSpecs } from '../src/core/architectures.js';
import { asCanonical } from '../src/formats/onnx/index.js';
import type { ParamSet } from '../src/core/paramSet.js';
import type { ModelFile } from '../src/formats/types.js';
import { assertCode } from './format-helpers.js';

const arch = getArchitecture('lenet5');
function seededSet(seed: number): ParamSet {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 0.2 - 0.1;
  return { tensors: paramSpecs(arch).map((p) => ({ name: p.name, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, next) })) };
}
const set = seededSet(11);

for (const format of MODEL_FORMATS) {
  test(`when a ${format} model is written, then readModel sniffs ${format} from content and reads the same tensors`, () => {
    const files = writeModel(set, format, arch);
    // Misleading names: the format must come from the bytes, never from the name.
    const renamed: ModelFile[] = format === 'tfjs' ? files : files.map((f, i) => ({ name: format === 'npy' ? f.name : `upload-${i}.bin`, bytes: f.bytes }));
    assert.equal(sniffFormat(files[0]!.bytes), format);
    const { format: got, params } = readModel(renamed);
    assert.equal(got, format);
    // pt holds the PyTorch state_dict (names and layouts); the standard layout maps it back exactly.
    const tensors = format === 'pt' ? asCanonical(params.tensors, arch, 'standard')!.tensors : params.tensors;
    const byName = new Map(tensors.map((t) => [t.name, t]));
    for (const t of set.tensors) {
      const r = byName.get(t.name);
      assert.ok(r, `tensor ${t.name} read (have ${[...byName.keys()].join(', ')})`);
      assert.equal(r.data.length, t.data.length);
      assert.deepEqual(r.data, t.data, t.name);
    }
  });
}

test('when a file is no known format, then readModel says what it found and what is supported', () => {
  assertCode(() => readModel([{ name: 'x.onnx', bytes: new TextEncoder().encode('hello world, not a model') }]), 'WM_ERR_FORMAT_UNKNOWN', /starting 68 65 6c.*Supported formats are onnx, safetensors, npy, npz, tfjs, pt/);
  assertCode(() => readModel([]), 'WM_ERR_FORMAT_UNKNOWN');
});

test('when files mix formats, then readModel refuses them', () => {
  const st = writeModel(set, 'safetensors')[0]!;
  const npz = writeModel(set, 'npz')[0]!;
  assertCode(() => readModel([st, npz]), 'WM_ERR_FORMAT_UNKNOWN', /mix formats/);
});

test('when a model is split into two safetensors shards, then readModel merges them and refuses repeated names', () => {
  const a = writeModel({ tensors: set.tensors.slice(0, 3) }, 'safetensors')[0]!;
  const b = writeModel({ tensors: set.tensors.slice(3) }, 'safetensors')[0]!;
  assert.equal(readModel([a, { name: 'b', bytes: b.bytes }]).params.tensors.length, set.tensors.length);
  assertCode(() => readModel([a, { name: 'again', bytes: a.bytes }]), 'WM_ERR_FORMAT_MALFORMED', /more than one/);
});

test('when the files exceed maxTotalBytes, then readModel refuses them before parsing', () => {
  const st = writeModel(set, 'safetensors')[0]!;
  assertCode(() => readModel([st], { maxTotalBytes: 1000 }), 'WM_ERR_FORMAT_TOO_LARGE', /at most 1000/);
});

test('when a safetensors or ONNX file is cut short, then it still sniffs as its format and reads as truncated or malformed', () => {
  for (const format of ['safetensors', 'onnx'] as const) {
    const bytes = writeModel(set, format, arch)[0]!.bytes;
    const cut = bytes.subarray(0, Math.floor(bytes.length / 2));
    assert.equal(sniffFormat(cut), format);
    assert.throws(() => readModel([{ name: 'm', bytes: cut }]), (e: unknown) => e instanceof FormatError && ['WM_ERR_FORMAT_TRUNCATED', 'WM_ERR_FORMAT_MALFORMED'].includes(e.code));
  }
});

test('when tfjs shards are read from disk with readModelFiles, then weights spanning shards are views on one buffer', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readModelFiles } = await import('../src/formats/files.js');
  const { writeTfjs } = await import('../src/formats/tfjs.js');
  const dir = mkdtempSync(join(tmpdir(), 'wm-files-'));
  try {
    const written = writeTfjs(set, arch, { shardBytes: 64 * 1024 });
    for (const f of written) writeFileSync(join(dir, f.name), f.bytes);
    const files = readModelFiles(written.map((f) => ({ name: f.name, path: join(dir, f.name) })));
    const { format, params } = readModel(files);
    assert.equal(format, 'tfjs');
    assert.deepEqual(params.tensors, set.tensors);
    for (const t of params.tensors) assert.equal(t.data.buffer, files[0]!.bytes.buffer, `${t.name} is a view`);
    assertCode(() => readModelFiles(written.map((f) => ({ name: f.name, path: join(dir, f.name) })), { maxTotalBytes: 1000 }), 'WM_ERR_FORMAT_TOO_LARGE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
