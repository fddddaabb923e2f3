/**
 * Our logits for a fixture script: `npx tsx scripts/fixture_logits.ts MODEL INPUTS.json OUT.json`, where
 * INPUTS.json is { shape: [n, h, w, c], values } (NHWC) and MODEL any model weightmark reads.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { architectureOf } from '../src/core/architectures.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { loadModel } from '../src/cli/modelFiles.js';

const [model, inputs, out] = process.argv.slice(2);
if (!model || !inputs || !out) throw new Error('usage: fixture_logits.ts MODEL INPUTS.json OUT.json');
const { params } = loadModel(model);
const x = JSON.parse(readFileSync(inputs, 'utf8')) as { values: number[] };
const arch = architectureOf(params.tensors);
if (!arch) throw new Error(`${model}: its tensors are not those of one registered architecture`);
const logits = await predictLogits(params, arch, Float32Array.from(x.values));
writeFileSync(out, JSON.stringify({ logits: Array.from(logits) }));
