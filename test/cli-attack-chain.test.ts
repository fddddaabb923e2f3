import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { singularValues } from '../src/attacks/linalg.js';
import { runAttack } from '../src/cli/attackCommand.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues } from '../src/core/extract.js';
import { initialParamSet } from '../src/core/init.js';
import { generateKey, keyTargetsFromParamSet, serializeKey } from '../src/core/keygen.js';
import { loadTfjsModel, saveTfjsModel } from '../src/formats/tfjsFiles.js';
import { captured } from './cli-helpers.js';

/** Runs the command in-process; returns its exit code and what it printed on stdout. */
const cli = (...argv: string[]) => captured(() => runAttack(argv));

const mlp = getArchitecture('mlp');
let dir: string;
let modelDir: string;
let keyFile: string;

before(() => {
  // A random mlp with the key embedded: accuracy is chance, the mark is exact before the attack.
  dir = mkdtempSync(join(tmpdir(), 'wm-cli-chain-'));
  const init = initialParamSet(mlp, 5);
  const key = generateKey(keyTargetsFromParamSet(init), { seed: 'cli-chain', n: 256, arch: mlp.name });
  modelDir = join(dir, 'owner');
  saveTfjsModel(modelDir, embedValues(init, key), mlp);
  keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, serializeKey(key));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const common = () => ['--model', modelDir, '--key', keyFile, '--test-limit', '200'];

function rankOf(set: { tensors: readonly { name: string; shape: readonly number[]; data: Float32Array }[] }, name: string): number {
  const t = set.tensors.find((x) => x.name === name)!;
  const s = singularValues(t.data, t.shape[0]!, t.shape[1]!);
  return [...s].filter((x) => x > 1e-4 * s[0]!).length;
}

type Once = { attack: string; strength: number; chain?: unknown[]; options?: Record<string, unknown>; models: { before: { r: number }; after: { r: number; accuracy: number; decision: string } }[] };

describe('weightmark attack --chain and --options', () => {
  it('when a chain of low-rank (with per-step options) and quantization runs with --json, then it reports the chain, and the written model has the ranks asked for', async () => {
    const out = join(dir, 'chained');
    const { code, out: printed } = await cli(...common(), '--chain', 'low-rank:20[ranks=fc1=12,fc3=4],quantize:8', '--out', out, '--json');
    assert.equal(code, 0);
    const res = JSON.parse(printed) as Once;
    assert.equal(res.attack, 'low-rank:20[ranks=fc1=12,fc3=4],quantize:8');
    assert.equal(res.strength, 8, 'the last step is the swept one');
    assert.deepEqual(res.chain, [{ attack: 'low-rank', strength: 20, options: { ranks: 'fc1=12,fc3=4' } }, { attack: 'quantize', strength: 8 }]);
    assert.ok(res.models[0]!.before.r > 0.999);
    assert.ok(res.models[0]!.after.r < res.models[0]!.before.r);
    // 8-bit quantisation after the truncation adds small full-rank noise: 12 dominant singular values in fc1, then a cliff.
    const fc1 = loadTfjsModel(out).tensors.find((t) => t.name === 'fc1/kernel')!;
    const s = singularValues(fc1.data, fc1.shape[0]!, fc1.shape[1]!);
    assert.ok(s[12]! < 0.05 * s[11]!, `σ12 ${s[12]} vs σ11 ${s[11]}`);
  });

  it('when --options ranks=… is given to low-rank, then the layers named are truncated to those ranks and the others untouched', async () => {
    const out = join(dir, 'low-rank');
    const { code, out: printed } = await cli(...common(), '--attack', 'low-rank', '--strength', '50', '--options', 'ranks=fc1=10,fc3=3', '--out', out, '--json');
    assert.equal(code, 0);
    assert.deepEqual((JSON.parse(printed) as Once).options, { ranks: 'fc1=10,fc3=3' });
    const written = loadTfjsModel(out);
    assert.deepEqual([rankOf(written, 'fc1/kernel'), rankOf(written, 'fc2/kernel'), rankOf(written, 'fc3/kernel')], [10, 100, 3]);
  });

  it('when a chain leaves a strength out, then --sweep sweeps that step and --strength sets it', async () => {
    const { code, out } = await cli(...common(), '--chain', 'low-rank,quantize:8', '--sweep', '30,5', '--json');
    assert.equal(code, 0);
    const { result } = JSON.parse(out) as { result: { attack: { name: string; strengthName: string }; series: { points: { strength: number; r: number }[] }[] } };
    assert.deepEqual([result.attack.name, result.attack.strengthName], ['low-rank,quantize:8', 'rank kept']);
    const [p30, p5] = result.series[0]!.points;
    assert.deepEqual([p30!.strength, p5!.strength], [30, 5]);
    assert.ok(p30!.r > p5!.r, `r at rank 30 ${p30!.r} vs rank 5 ${p5!.r}`);
    const once = await cli(...common(), '--chain', 'low-rank,quantize:8', '--strength', '7', '--json');
    assert.equal((JSON.parse(once.out) as Once).strength, 7);
  });

  it('when reinit-head follows low-rank in a chain, then it runs through the real trainer (300 samples) and the score drops', async () => {
    const { code, out } = await cli(...common(), '--chain', 'low-rank:10,reinit-head:1', '--finetune-limit', '300', '--json');
    assert.equal(code, 0);
    const res = JSON.parse(out) as Once;
    assert.equal(res.strength, 1);
    assert.equal(typeof res.models[0]!.after.accuracy, 'number');
    assert.ok(res.models[0]!.after.r < res.models[0]!.before.r, `r ${res.models[0]!.before.r} → ${res.models[0]!.after.r}`);
  });

  describe('bad input', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['both --attack and --chain', () => [...common(), '--attack', 'noise', '--chain', 'noise:0.1'], /Give --attack NAME \(one attack\) or --chain STEPS \(several in a row\), not both/],
      ['neither --attack nor --chain', () => [...common(), '--strength', '1'], /--attack NAME or --chain STEPS is required/],
      ['an unknown attack in the chain', () => [...common(), '--chain', 'low-rank:5,melt:1'], /chain step 2: Unknown attack 'melt'\. Known attacks are: .*low-rank.*reinit-head/],
      ['a chain step without strength and no --strength', () => [...common(), '--chain', 'low-rank:5,fine-tune'], /Chain step 2 \(fine-tune\) has no strength: write it \(fine-tune:X\), or give --strength X or --sweep/],
      ['an option that is not name=value', () => [...common(), '--attack', 'low-rank', '--strength', '5', '--options', 'ranks'], /attack option 'ranks' is not name=value/],
      ['a rank for a layer the model lacks', () => [...common(), '--attack', 'low-rank', '--strength', '5', '--options', 'ranks=conv9=3'], /no kernel for layer 'conv9'; layers with a kernel: fc1, fc2, fc3/],
    ];
    for (const [what, argv, message] of cases) {
      it(`when given ${what}, then it throws an error naming it`, async () => {
        await assert.rejects(cli(...argv()), message);
      });
    }
  });
});
