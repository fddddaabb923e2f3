/**
 * The gradient engine on onnxruntime's native CPU kernels: the training step and the evaluation of an
 * architecture as ONNX graphs (onnxGraph.ts), run by onnxruntime-node with its own intra-op threads.
 * Parameters, gradients and batches cross as canonical Float32Arrays, as with every engine, so the
 * trainer, the locking and checkpoints do not know which engine ran.
 */
import * as ort from 'onnxruntime-node';
import { paramSpecs, type Architecture } from '../core/architectures.js';
import { checkBatch, checkParamArrays, defaultEvalBatch, evaluateWith, type Batch, type GradientEngine, type LossAndGrads } from './engine.js';
import { evaluationGraph, gradOutput, LOGITS_OUTPUT, ONEHOT_INPUT, paramInput, trainingGraph, X_INPUT, type OnnxStepGraph } from './onnxGraph.js';
import { dropoutMaskInto } from './dropoutMask.js';
import { softmaxCrossEntropy } from './ops.js';

export const ONNX_BACKEND = 'onnxruntime';

/** Every input of the training step for one batch: the parameters, x, the one-hot targets over n, the dropout masks. */
export function trainingFeeds(arch: Architecture, step: OnnxStepGraph, params: readonly Float32Array[], batch: Batch): Record<string, ort.Tensor> {
  const n = batch.n;
  const [h, w, c] = arch.inputShape;
  const feeds: Record<string, ort.Tensor> = {};
  paramSpecs(arch).forEach((s, i) => (feeds[paramInput(i)] = new ort.Tensor('float32', params[i]!, [...s.shape])));
  feeds[X_INPUT] = new ort.Tensor('float32', batch.x.subarray(0, n * h * w * c), [n, h, w, c]);
  const target = new Float32Array(n * arch.classes);
  for (let b = 0; b < n; b++) target[b * arch.classes + batch.y[b]!] = 1 / n;
  feeds[ONEHOT_INPUT] = new ort.Tensor('float32', target, [n, arch.classes]);
  for (const m of step.masks) {
    const mask = new Float32Array(n * m.shape.reduce((x, y) => x * y, 1));
    dropoutMaskInto(mask, n, { rate: m.rate, seed: batch.seed ?? 0, layer: m.layer, sampleOffset: batch.offset ?? 0 });
    feeds[m.name] = new ort.Tensor('float32', mask, [n, ...m.shape]);
  }
  return feeds;
}

export async function createOnnxEngine(arch: Architecture, threads: number): Promise<GradientEngine> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const step = trainingGraph(arch);
  const train = await ort.InferenceSession.create(step.model, options);
  const evaluation = await ort.InferenceSession.create(evaluationGraph(arch), options);
  const specs = paramSpecs(arch);
  const [h, w, c] = arch.inputShape;
  const paramFeeds = (params: readonly Float32Array[]): Record<string, ort.Tensor> => {
    checkParamArrays(arch, params);
    const feeds: Record<string, ort.Tensor> = {};
    specs.forEach((s, i) => (feeds[paramInput(i)] = new ort.Tensor('float32', params[i]!, [...s.shape])));
    return feeds;
  };

  const lossAndGrads = async (params: readonly Float32Array[], batch: Batch): Promise<LossAndGrads> => {
    checkBatch(arch, batch);
    checkParamArrays(arch, params);
    const n = batch.n;
    const out = await train.run(trainingFeeds(arch, step, params, batch));
    const ce = softmaxCrossEntropy(out[LOGITS_OUTPUT]!.data as Float32Array, batch.y.subarray(0, n), n, arch.classes);
    return { loss: ce.loss, correct: ce.correct, grads: specs.map((_, i) => out[gradOutput(i)]!.data as Float32Array) };
  };

  const predict = async (params: readonly Float32Array[], x: Float32Array, n: number): Promise<Float32Array> => {
    if (x.length !== n * h * w * c) throw new Error(`predict: x has ${x.length} values; ${n} samples of ${h}x${w}x${c} need ${n * h * w * c}.`);
    const feeds = paramFeeds(params);
    feeds[X_INPUT] = new ort.Tensor('float32', x, [n, h, w, c]);
    return (await evaluation.run(feeds))[LOGITS_OUTPUT]!.data as Float32Array;
  };

  return {
    backend: ONNX_BACKEND,
    threads,
    arch,
    lossAndGrads,
    lossAndGradsMany: async (paramsList, batch) => {
      const out: LossAndGrads[] = [];
      for (const params of paramsList) out.push(await lossAndGrads(params, batch));
      return out;
    },
    predict,
    evaluate: (params, data, batchSize = defaultEvalBatch) => evaluateWith((x, n) => predict(params, x, n), arch, data, batchSize),
    dispose: async () => {
      await train.release();
      await evaluation.release();
    },
  };
}
