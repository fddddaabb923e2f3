/**
 * Writes the input of the PyTorch fixture pipeline (scripts/make_torch_fixtures.py runs this first):
 *   <out>/input_lenet5.safetensors  a LeNet5 param set in OUR layout and names (HWIO, [in, out], HWC)
 *   <out>/ours_logits.json          a few MNIST test images (NHWC, normalised) and our logits on them,
 *                                   computed by our ONNX export in onnxruntime-node
 *
 * Usage: npx tsx scripts/make_fixture_input.ts [--params FILE] [--seed N] [--out DIR] [--images N]
 *   --params FILE  a LeNet5 param set in any format readModel accepts (e.g. the watermarked model);
 *                  without it, a seeded random param set (--seed, default 20240607).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { getArchitecture, paramSpecs } from '../src/core/architectures.js';
import { tensorByName, type ParamSet } from '../src/core/paramSet.js';
import { loadDataset } from '../src/data/datasets.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { readModel } from '../src/formats/index.js';
import { randomParamSet } from '../src/formats/onnx/samples.js';
import { writeSafetensors } from '../src/formats/safetensors.js';

const { values } = parseArgs({
  options: {
    params: { type: 'string' },
    seed: { type: 'string', default: '20240607' },
    out: { type: 'string', default: 'test/fixtures/torch' },
    images: { type: 'string', default: '3' },
  },
});

const arch = getArchitecture('lenet5');
let source: string;
let loaded: ParamSet;
if (values.params) {
  loaded = readModel([{ name: basename(values.params), bytes: readFileSync(values.params) }]).params;
  source = `file ${basename(values.params)}`;
} else {
  loaded = randomParamSet(arch, Number(values.seed));
  source = `randomParamSet(lenet5, ${values.seed})`;
}
// Keep exactly the architecture's tensors, in canonical order (a file may carry extras).
const set: ParamSet = {
  arch: arch.name,
  tensors: paramSpecs(arch).map((spec) => {
    const t = tensorByName(loaded, spec.name);
    return { name: t.name, shape: [...t.shape], data: Float32Array.from(t.data) };
  }),
};

const data = loadDataset('mnist', 'test', { limit: Number(values.images) });
const logits = await predictLogits(set, arch, data.x);
mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, 'input_lenet5.safetensors'), writeSafetensors(set, { source, layout: 'weightmark canonical: conv HWIO, dense [in,out], flatten HWC' }));
writeFileSync(join(values.out!, 'ours_logits.json'), JSON.stringify({
  source,
  inputShape: [data.n, 28, 28, 1],
  labels: Array.from(data.y),
  inputs: Array.from(data.x),
  logits: Array.from(logits),
}) + '\n');
console.log(`wrote ${values.out}/input_lenet5.safetensors and ours_logits.json (${source}, ${data.n} images)`);
