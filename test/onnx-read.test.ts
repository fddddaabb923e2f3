import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { getArchitecture } from '../src/core/architectures.js';
import { FormatError } from '../src/formats/errors.js';
import { float32ToBfloat16, float32ToHalf } from '../src/formats/float16.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { handModel, handNode, handSampleModel, handTensor, intAttribute, randomParamSet, sampleOnnxFiles, tensorAttribute } from '../src/formats/onnx/samples.js';
import { DataType, GraphProto, ModelProto, SparseTensorProto, TensorProto } from '../src/formats/onnx/schema.js';
import { valueInfo } from '../src/formats/onnx/graph.js';
import { ProtoWriter } from '../src/formats/onnx/wire.js';
import { writeOnnx } from '../src/formats/onnx/write.js';

const f32 = (values: readonly number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const u16 = (bits: Uint16Array): Uint8Array => new Uint8Array(bits.buffer);

/** Runs a hand model in onnxruntime and returns the output `out`. */
async function runOrt(model: Uint8Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  const result = await session.run({});
  await session.release();
  return result.out!.data as Float32Array;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    return e.code;
  }
  return 'no error';
}

describe('readOnnx', () => {
  for (const name of ['lenet5', 'mlp']) {
    it(`when our ${name} export is read back, then names, shapes and values are exactly the param set`, () => {
      const arch = getArchitecture(name);
      const set = randomParamSet(arch, 3);
      const back = readOnnx(writeOnnx(set, arch));
      assert.deepEqual(back.tensors.map((t) => [t.name, [...t.shape]]), set.tensors.map((t) => [t.name, [...t.shape]]));
      back.tensors.forEach((t, i) => assert.deepEqual(t.data, set.tensors[i]!.data));
    });
  }

  it('when tensors use typed fields, FLOAT16, DOUBLE, a Constant node and INT8 behind DequantizeLinear, then each reads as float32', () => {
    const got = Object.fromEntries(readOnnx(handSampleModel()).tensors.map((t) => [t.name, [[...t.shape], Array.from(t.data)]]));
    assert.deepEqual(got, {
      typed_float: [[2, 3], [1, -2, 3.5, 0, 0.25, -8]],
      half: [[3], [1, -2, 0.5]],
      double: [[2], [0.125, -1000]],
      q_weight: [[2, 2], [(10 - 2) * 0.5, (-10 - 2) * 0.5, (0 - 2) * 0.5, (127 - 2) * 0.5]],
      const_weight: [[2], [7, 8]],
    });
  });

  it('when the sample files are read, then each gives its expected tensors', () => {
    const [, hand2, tiny, lenet, mlp] = sampleOnnxFiles();
    const got = Object.fromEntries(readOnnx(hand2!).tensors.map((t) => [t.name, [[...t.shape], Array.from(t.data, (v) => Math.round(v * 1e6) / 1e6)]]));
    assert.deepEqual(got, {
      body_w: [[1], [1]],
      q_axis: [[2, 3], [-1, 0, 1, 0, 2, 254]],
      unpacked: [[2], [0.5, -0.5]],
      sparse_w: [[2, 2], [0, 3, 0, -4]],
    });
    assert.equal(readOnnx(tiny!).tensors.length, 6);
    assert.ok(tiny!.length < 4096, `tiny export is ${tiny!.length} bytes`);
    assert.equal(readOnnx(lenet!).tensors.length, 8);
    assert.equal(readOnnx(mlp!).tensors.length, 6);
  });

  it('when floats are stored one field each (unpacked), then they read like packed ones', () => {
    const t = handTensor('w', [3], DataType.FLOAT).float(TensorProto.floatData, 1.5).float(TensorProto.floatData, -2).float(TensorProto.floatData, 4);
    assert.deepEqual(Array.from(readOnnx(handModel([t])).tensors[0]!.data), [1.5, -2, 4]);
  });

  it('when FLOAT16 and BFLOAT16 weights are in raw_data, then they decode as onnxruntime decodes them', async () => {
    const values = Float32Array.from([0.1, -3.25, 65504, 1e-6, -0, 7.5]);
    for (const [type, bits] of [[DataType.FLOAT16, float32ToHalf(values)], [DataType.BFLOAT16, float32ToBfloat16(values)]] as const) {
      const w = handTensor('w', [2, 3], type).bytes(TensorProto.rawData, u16(bits));
      const model = handModel([w], [handNode('Cast', ['w'], ['out'], [intAttribute('to', DataType.FLOAT)])], { out: [2, 3] });
      assert.deepEqual(readOnnx(model).tensors.find((t) => t.name === 'w')!.data, await runOrt(model));
    }
  });

  it('when an INT8 weight is dequantized per axis, then the values equal onnxruntime\'s DequantizeLinear output', async () => {
    const q = Int8Array.from([-128, -1, 0, 1, 2, 127, 50, -50, 3, 4, 5, 6]);
    const w = handTensor('w_q', [3, 4], DataType.INT8).bytes(TensorProto.rawData, new Uint8Array(q.buffer));
    const scale = handTensor('w_scale', [3], DataType.FLOAT).bytes(TensorProto.rawData, f32([0.5, 0.01, 2]));
    const zp = handTensor('w_zp', [3], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([0, 3, 0xfe]));
    const model = handModel([w, scale, zp], [handNode('DequantizeLinear', ['w_q', 'w_scale', 'w_zp'], ['out'], [intAttribute('axis', 0)])], { out: [3, 4] });
    const read = readOnnx(model);
    assert.deepEqual(read.tensors.map((t) => t.name), ['w_q'], 'scale and zero point are not weights');
    assert.deepEqual(read.tensors[0]!.data, await runOrt(model));
  });

  it('when a UINT8 weight with a per-tensor scale uses typed int32_data, then it matches onnxruntime', async () => {
    const w = handTensor('w_q', [2, 2], DataType.UINT8).packedInts(TensorProto.int32Data, [0, 128, 255, 7]);
    const scale = handTensor('s', [], DataType.FLOAT).bytes(TensorProto.rawData, f32([0.25]));
    const zp = handTensor('z', [], DataType.UINT8).packedInts(TensorProto.int32Data, [128]);
    const model = handModel([w, scale, zp], [handNode('DequantizeLinear', ['w_q', 's', 'z'], ['out'])], { out: [2, 2] });
    assert.deepEqual(readOnnx(model).tensors[0]!.data, await runOrt(model));
  });

  it('when a Constant node holds a weight that feeds DequantizeLinear, then it is dequantized too', () => {
    const value = new ProtoWriter().packedInts(TensorProto.dims, [2]).int(TensorProto.dataType, DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([4, 0xfc]));
    const scale = handTensor('s', [], DataType.FLOAT).bytes(TensorProto.rawData, f32([0.5]));
    const model = handModel([scale], [
      handNode('Constant', [], ['cw'], [tensorAttribute('value', value)]),
      handNode('DequantizeLinear', ['cw', 's'], ['y']),
    ]);
    assert.deepEqual(readOnnx(model).tensors.map((t) => [t.name, Array.from(t.data)]), [['cw', [2, -2]]]);
  });

  it('when integer initializers feed no dequantizer (shape constants), then they are skipped', () => {
    const shape = handTensor('shape', [2], DataType.INT64).packedInts(TensorProto.int64Data, [1, -1]);
    const w = handTensor('w', [1], DataType.FLOAT).bytes(TensorProto.rawData, f32([3]));
    assert.deepEqual(readOnnx(handModel([shape, w])).tensors.map((t) => t.name), ['w']);
  });

  it('when a FLOAT8 weight is met, then it is refused naming the type, not silently dropped', () => {
    const w = handTensor('w8', [2], DataType.FLOAT8E4M3FN).bytes(TensorProto.rawData, Uint8Array.from([1, 2]));
    assert.throws(() => readOnnx(handModel([w])), (e: FormatError) => e.code === 'WM_ERR_FORMAT_UNSUPPORTED_DTYPE' && /FLOAT8E4M3FN/.test(e.message));
  });

  describe('sparse tensors', () => {
    const sparseModel = (indices: ProtoWriter, withOutput: boolean): Uint8Array => {
      const values = handTensor('sw', [3], DataType.FLOAT).bytes(TensorProto.rawData, f32([1.5, -2, 4]));
      const sparse = new ProtoWriter().message(SparseTensorProto.values, values).message(SparseTensorProto.indices, indices).packedInts(SparseTensorProto.dims, [2, 3]);
      const g = new ProtoWriter();
      if (withOutput) g.message(GraphProto.node, handNode('Identity', ['sw'], ['out']));
      g.string(GraphProto.name, 'sparse').message(GraphProto.sparseInitializer, sparse);
      if (withOutput) g.message(GraphProto.output, valueInfo('out', [2, 3]));
      const opset = new ProtoWriter().string(1, '').int(2, 13);
      return new ProtoWriter().int(ModelProto.irVersion, 8).message(ModelProto.graph, g).message(ModelProto.opsetImport, opset).finish();
    };

    it('when a sparse initializer has linear indices, then it reads as the dense tensor onnxruntime sees', async () => {
      const model = sparseModel(handTensor('', [3], DataType.INT64).packedInts(TensorProto.int64Data, [0, 4, 5]), true);
      const read = readOnnx(model).tensors[0]!;
      assert.deepEqual([read.name, [...read.shape], Array.from(read.data)], ['sw', [2, 3], [1.5, 0, 0, 0, -2, 4]]);
      assert.deepEqual(read.data, await runOrt(model));
    });

    it('when a sparse initializer has [NNZ, rank] coordinates, then it reads the same; out-of-range ones are refused', () => {
      const coords = (c: number[]) => handTensor('', [3, 2], DataType.INT64).packedInts(TensorProto.int64Data, c);
      assert.deepEqual(Array.from(readOnnx(sparseModel(coords([0, 0, 1, 1, 1, 2]), false)).tensors[0]!.data), [1.5, 0, 0, 0, -2, 4]);
      assert.throws(() => readOnnx(sparseModel(coords([0, 0, 1, 3, 1, 2]), false)), (e: FormatError) => e.code === 'WM_ERR_FORMAT_MALFORMED');
      assert.throws(() => readOnnx(sparseModel(handTensor('', [3], DataType.INT64).packedInts(TensorProto.int64Data, [0, 6, 1]), false)), (e: FormatError) => e.code === 'WM_ERR_FORMAT_MALFORMED');
    });
  });

  it('when QLinearConv takes an INT8 weight with per-output-channel scales, then the weight is dequantized along axis 0', () => {
    const w = handTensor('w_q', [2, 1, 1, 2], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([2, 4, 6, 8]));
    const ws = handTensor('w_s', [2], DataType.FLOAT).bytes(TensorProto.rawData, f32([0.5, 0.25]));
    const wz = handTensor('w_z', [2], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([0, 2]));
    const node = handNode('QLinearConv', ['x', 'x_s', 'x_z', 'w_q', 'w_s', 'w_z', 'y_s', 'y_z'], ['y']);
    assert.deepEqual(readOnnx(handModel([w, ws, wz], [node])).tensors.map((t) => [t.name, Array.from(t.data)]), [['w_q', [1, 2, 1, 1.5]]]);
  });

  describe('external data', () => {
    const external = (location: string, offset: number, length: number): ProtoWriter => {
      const t = handTensor('big', [2, 2], DataType.FLOAT).int(TensorProto.dataLocation, 1);
      for (const [k, v] of [['location', location], ['offset', String(offset)], ['length', String(length)]]) {
        t.message(TensorProto.externalData, new ProtoWriter().string(1, k!).string(2, v!));
      }
      return t;
    };
    const dataFile = new Uint8Array([...new Uint8Array(8), ...f32([1, 2, 3, 4])]);

    it('when the data file is given, then the tensor is read from its location, offset and length', () => {
      const set = readOnnx(handModel([external('weights.bin', 8, 16)]), { externalData: new Map([['weights.bin', dataFile]]) });
      assert.deepEqual(Array.from(set.tensors[0]!.data), [1, 2, 3, 4]);
    });

    it('when the data file is missing, then it is refused saying to upload it with the model', () => {
      assert.throws(() => readOnnx(handModel([external('weights.bin', 8, 16)])),
        (e: FormatError) => e.code === 'WM_ERR_FORMAT_MISSING_FILE' && /weights\.bin/.test(e.message) && /upload/.test(e.message));
    });

    it('when offset and length point past the data file, then it is refused as truncated', () => {
      assert.equal(codeOf(() => readOnnx(handModel([external('weights.bin', 16, 16)]), { externalData: new Map([['weights.bin', dataFile]]) })), 'WM_ERR_FORMAT_TRUNCATED');
    });
  });
});
