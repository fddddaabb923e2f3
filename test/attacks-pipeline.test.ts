import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { getAttack } from '../src/attacks/index.js';
import { keyScorer, onnxEvaluator } from '../src/attacks/pipeline.js';
import { runSweep } from '../src/attacks/sweep.js';
import { embedValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { randomInputs, randomParams, referenceForward, tinyLenet } from './attacks-reference.js';

const base = randomParams(tinyLenet, 1);
const key = generateKey(keyTargetsFromParamSet(base), { n: 60, seed: 'owner', arch: tinyLenet.name });
const owner = { label: 'owner', params: embedValues(base, key), arch: tinyLenet };
/** Labels = the owner's own predictions, so its accuracy is 1 and any change of function shows. */
const inputs = randomInputs(tinyLenet, 64, 9);
const data = {
  n: inputs.length,
  x: Float32Array.from(inputs.flatMap((x) => [...x])),
  y: Uint8Array.from(inputs.map((x) => {
    const l = referenceForward(tinyLenet, owner.params, x);
    return l.indexOf(Math.max(...l));
  })),
};

describe('sweeps through the real scorer and ONNX Runtime', () => {
  for (const name of ['permute', 'rescale', 'dummy']) {
    it(`when sweeping ${name} (function-preserving), then accuracy stays 100%, plain alignment loses the mark and invariant alignment recovers it`, async () => {
      const attack = getAttack(name);
      const strengths = [attack.strength.defaults[attack.strength.defaults.length - 1]!];
      const common = { attack, strengths, models: [owner], scorer: keyScorer(key), evaluate: onnxEvaluator(data), seed: 2 };
      const plain = await runSweep({ ...common, invariant: false });
      const inv = await runSweep({ ...common, invariant: true });
      const p = plain.series[0]!.points[0]!;
      const q = inv.series[0]!.points[0]!;
      assert.equal(p.accuracy, 1);
      assert.equal(q.accuracy, 1);
      assert.equal(plain.series[0]!.baseline.decision, 'match');
      assert.equal(p.decision, 'no match', `plain r ${p.r} ${p.error ?? ''}`);
      assert.equal(q.decision, 'match');
      assert.ok(q.r > 0.999, `invariant r ${q.r}`);
    });
  }

  it('when quantizing to 2 bits, then the function changes (accuracy < 100%) and the mark is weakened but found', async () => {
    const res = await runSweep({ attack: getAttack('quantize'), strengths: [2], models: [owner], scorer: keyScorer(key), evaluate: onnxEvaluator(data) });
    const p = res.series[0]!.points[0]!;
    assert.ok(p.accuracy < 1);
    assert.ok(p.r < 0.99 && p.r > 0.5, `r ${p.r}`);
  });
});
