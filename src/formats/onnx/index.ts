/** ONNX support: read a model's weights into a param set, export a param set as a runnable graph. */
export { readOnnx, DEFAULT_ONNX_READ_LIMITS, type ReadOnnxOptions, type OnnxReadLimits } from './read.js';
export { writeOnnx, onnxInputShape, ONNX_INPUT, ONNX_OUTPUT, type WriteOnnxOptions } from './write.js';
export { standardSpecs, toStandard, fromStandard, asCanonical, ONNX_LAYOUTS, type OnnxLayout, type StandardSpec } from './layout.js';
export { sampleOnnxFiles, randomParamSet } from './samples.js';
