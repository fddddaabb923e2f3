import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attackNames } from '../src/attacks/index.js';
import { runAttack } from '../src/cli/attackCommand.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet, serializeKey } from '../src/core/keygen.js';
import { loadTfjsModel, saveTfjsModel } from '../src/formats/tfjsFiles.js';
import { initParams } from '../src/core/init.js';
import { toParamSet } from '../src/training/train.js';
import { runExtract } from '../src/cli/localCommands.js';
import { writeModel } from '../src/formats/index.js';
import { captured } from './cli-helpers.js';

/** Runs the command in-process; returns its exit code and what it printed on stdout. */
const cli = (...argv: string[]) => captured(() => runAttack(argv));

const mlp = getArchitecture('mlp');
let dir: string;
let modelDir: string;
let keyFile: string;

before(() => {
  // A random mlp with the key embedded: enough for the pure attacks (accuracy is chance, the mark is exact).
  dir = mkdtempSync(join(tmpdir(), 'wm-cli-attack-'));
  const init = toParamSet(mlp, initParams(mlp, 3));
  const key = generateKey(keyTargetsFromParamSet(init), { seed: 'cli-attack', n: 256, arch: mlp.name });
  modelDir = join(dir, 'owner');
  saveTfjsModel(modelDir, embedValues(init, key), mlp);
  keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, serializeKey(key));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const common = () => ['--model', modelDir, '--key', keyFile, '--test-limit', '500'];

describe('weightmark attack', () => {
  it('when sweeping quantize over 8, 4, 2 bits with --out, then it writes sweep.json/.csv/.svg and r falls as the bits fall', async () => {
    const out = join(dir, 'sweep-quantize');
    const { code, out: printed } = await cli(...common(), '--attack', 'quantize', '--sweep', '8,4,2', '--out', out, '--json');
    assert.equal(code, 0);
    for (const f of ['sweep.json', 'sweep.csv', 'sweep.svg']) assert.ok(existsSync(join(out, f)), `${f} written`);
    const { result, files } = JSON.parse(printed) as { files: string[]; result: { series: { baseline: { r: number }; points: { strength: number; r: number }[] }[] } };
    assert.equal(files.length, 3);
    const [p8, p4, p2] = result.series[0]!.points;
    assert.deepEqual([p8!.strength, p4!.strength, p2!.strength], [8, 4, 2]);
    assert.ok(result.series[0]!.baseline.r > 0.999, `baseline r ${result.series[0]!.baseline.r}`);
    assert.ok(p8!.r > p4!.r && p4!.r > p2!.r, `r at 8, 4, 2 bits: ${p8!.r}, ${p4!.r}, ${p2!.r}`);
    assert.equal(readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n').length, 1 + 4);
    assert.match(readFileSync(join(out, 'sweep.svg'), 'utf8'), /^<svg/);
  });

  it('when sweeping with --compare and no values, then the table has both models at the default strengths and says where detection fails', async () => {
    const { code, out } = await cli(...common(), '--attack', 'quantize', '--sweep', '--compare', modelDir, '--label', 'naive', '--label2', 'delve');
    assert.equal(code, 0);
    assert.match(out, /naive accuracy .* delve accuracy/);
    for (const bits of [8, 7, 6, 5, 4, 3, 2]) assert.match(out, new RegExp(`^  ${bits} `, 'm'));
    assert.match(out, /^naive: (detection first fails at bits = \d|detected at every strength)/m);
    assert.match(out, /^delve: /m);
  });

  it('when permuting every unit, then invariant alignment still matches and --no-invariant does not', async () => {
    const out = join(dir, 'permuted');
    const inv = await cli(...common(), '--attack', 'permute', '--strength', '1', '--out', out, '--json');
    const plain = await cli(...common(), '--attack', 'permute', '--strength', '1', '--no-invariant', '--json');
    assert.equal(inv.code, 0);
    assert.equal(plain.code, 0);
    type Run = { models: { before: { decision: string; accuracy: number }; after: { decision: string; accuracy: number; r: number } }[] };
    const i = (JSON.parse(inv.out) as Run).models[0]!;
    const p = (JSON.parse(plain.out) as Run).models[0]!;
    assert.equal(i.before.decision, 'match');
    assert.equal(i.after.decision, 'match');
    assert.equal(p.after.decision, 'no match', `plain r ${p.after.r}`);
    assert.equal(i.after.accuracy, i.before.accuracy);
    assert.equal(loadTfjsModel(out).arch, 'mlp');
  });

  it('when attacking once without --json, then it prints accuracy and score before and after', async () => {
    const { code, out } = await cli(...common(), '--attack', 'noise', '--strength', '0.1');
    assert.equal(code, 0);
    assert.match(out, /^ {2}before +\d+\.\d+% +[01]\.\d{4} +\d\.\de-\d+ +MATCH$/m);
    assert.match(out, /^ {2}after /m);
  });

  it('when listing, then every attack is shown with its strength unit, defaults and whether it needs data', async () => {
    const { code, out } = await cli('--list');
    assert.equal(code, 0);
    for (const name of attackNames()) assert.match(out, new RegExp(`^  ${name} `, 'm'));
    assert.match(out, /quantize +bits \(bits\) +8, 7, 6, 5, 4, 3, 2 +no/);
    assert.match(out, /fine-tune +epochs \(epochs\) +1, 2, 3, 5 +yes/);
  });

  it('when an anchor lies beside the key, then the sweep aligns onto it and scores as extract does; --reference and no anchor say what they align onto', async () => {
    // The anchor is the weights from before the key draw; the model drifted from them afterwards.
    const anchored = join(dir, 'anchored');
    const init = toParamSet(mlp, initParams(mlp, 4));
    const drifted = { ...init, tensors: init.tensors.map((t, i) => ({ ...t, data: t.data.map((v, j) => v * (1 + 0.3 * Math.sin(7 * j + i))) })) };
    const key = generateKey(keyTargetsFromParamSet(init), { seed: 'cli-attack-anchor', n: 256, arch: mlp.name });
    saveTfjsModel(anchored, embedValues(drifted, key), mlp);
    writeFileSync(join(anchored, 'key.json'), serializeKey(key));
    writeFileSync(join(anchored, 'anchor.safetensors'), writeModel(init, 'safetensors')[0]!.bytes);
    const args = ['--model', anchored, '--key', join(anchored, 'key.json'), '--test-limit', '200', '--attack', 'permute', '--sweep', '1', '--json'];
    type Out = { alignedOnto: Record<string, string>; result: { series: { baseline: { r: number; log10p: number } }[] } };
    const viaAnchor = JSON.parse((await cli(...args)).out) as Out;
    assert.deepEqual(Object.values(viaAnchor.alignedOnto), ['anchor']);
    const extracted = JSON.parse((await captured(() => runExtract(['--model', anchored, '--key', join(anchored, 'key.json'), '--json']))).out) as { r: number; log10p: number };
    const base = viaAnchor.result.series[0]!.baseline;
    assert.equal(base.r, extracted.r, 'the simulation reads what extract reads');
    assert.equal(base.log10p, extracted.log10p);

    const viaReference = JSON.parse((await cli(...args, '--reference', anchored)).out) as Out;
    assert.deepEqual(Object.values(viaReference.alignedOnto), ['reference']);
    type Extracted = { r: number; log10p: number; inflation: number; alignment: string };
    const extractedOnModel = JSON.parse((await captured(() => runExtract(['--model', anchored, '--key', join(anchored, 'key.json'), '--reference', anchored, '--json']))).out) as Extracted;
    assert.equal(extractedOnModel.alignment, 'as read', 'unpermuted, the alignment as read matches decisively, as in the service');
    assert.equal(viaReference.result.series[0]!.baseline.log10p, extractedOnModel.log10p);
    // The permuted copy needs the invariant re-alignment; onto a marked model its t is inflated, in both commands.
    const permuted = join(dir, 'anchored-permuted');
    await cli('--model', anchored, '--key', join(anchored, 'key.json'), '--test-limit', '200', '--attack', 'permute', '--strength', '1', '--out', permuted);
    const extractedPermuted = JSON.parse((await captured(() => runExtract(['--model', permuted, '--key', join(anchored, 'key.json'), '--reference', anchored, '--json']))).out) as Extracted;
    assert.equal(extractedPermuted.alignment, 'invariant');
    assert.equal(extractedPermuted.inflation, 1.25, 'aligned onto a marked model, t is inflated');
    const attackedPoint = (viaReference.result as unknown as { series: { points: { strength: number; log10p: number }[] }[] }).series[0]!.points.find((p) => p.strength === 1)!;
    assert.equal(attackedPoint.log10p, extractedPermuted.log10p, 'the sweep scores the permuted copy as extract does');
    const permutedOntoAnchor = JSON.parse((await captured(() => runExtract(['--model', permuted, '--key', join(anchored, 'key.json'), '--json']))).out) as Extracted;
    assert.equal(permutedOntoAnchor.inflation, 1, 'onto the anchor, no inflation');
    assert.ok(extractedPermuted.r > permutedOntoAnchor.r, `onto the model itself no drift is left: r ${extractedPermuted.r} vs ${permutedOntoAnchor.r} onto the anchor`);
    const alone = JSON.parse((await cli(...common(), '--attack', 'permute', '--sweep', '1', '--json')).out) as Out;
    assert.deepEqual(Object.values(alone.alignedOnto), ['model']);
    await assert.rejects(cli(...args, '--reference', anchored, '--anchor', join(anchored, 'anchor.safetensors')), /Give --anchor FILE .* or --reference MODEL, not both/);
  });

  describe('bad input', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['an unknown attack', () => [...common(), '--attack', 'melt', '--strength', '1'], /Unknown attack 'melt'\. Known attacks are: quantize, .*overwrite/],
      ['a strength the attack does not support', () => [...common(), '--attack', 'quantize', '--strength', '1'], /attack 'quantize' at bits = 1: quantization bits must be an integer in 2\.\.16, got 1/],
      ['a strength that is not a number', () => [...common(), '--attack', 'quantize', '--sweep', '8,x'], /--sweep must be a number, got 'x'/],
      ['neither --strength nor --sweep', () => [...common(), '--attack', 'prune'], /Give --strength X or --sweep \[X,Y,Z\] for 'prune' \(fraction pruned, %; default sweep 0\.1/],
      ['a missing model', () => ['--model', join(dir, 'nope'), '--key', keyFile, '--attack', 'noise', '--strength', '1'], /No such file or folder: .*nope/],
      ['a missing key', () => ['--model', modelDir, '--key', join(dir, 'nope.json'), '--attack', 'noise', '--strength', '1'], /Key file not found: .*nope\.json/],
      ['an unknown flag', () => [...common(), '--attack', 'noise', '--strenght', '1'], /Unknown option '--strenght'/],
      ['an unknown alignment', () => [...common(), '--attack', 'noise', '--strength', '1', '--alignment', 'sideways'], /--alignment must be one of both, as-read, invariant, got 'sideways'/],
      ['--no-invariant with --alignment invariant', () => [...common(), '--attack', 'noise', '--strength', '1', '--no-invariant', '--alignment', 'invariant'], /--no-invariant means --alignment as-read; it contradicts --alignment invariant/],
      ['an attack its network cannot take', () => ['--model', join('models', 'resnet32'), '--key', join('models', 'resnet32', 'key.json'), '--attack', 'rescale-both', '--strength', '4'],
        /^Error: 'rescale-both' cannot run on resnet32: it needs a network without batch norm or residual sums \(there 'rescale' is the one to try\)/],
    ];
    for (const [what, argv, message] of cases) {
      it(`when given ${what}, then it throws an error naming it`, async () => {
        await assert.rejects(cli(...argv()), message);
      });
    }
  });
});
