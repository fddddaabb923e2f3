import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { cachedEvaluator, paramSetDigest } from '../src/attacks/evaluatorCache.js';
import { getAttack } from '../src/attacks/index.js';
import { runSweep, type Scorer } from '../src/attacks/sweep.js';
import type { Architecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { randomParams, referenceForward, randomInputs, tinyLenet } from './attacks-reference.js';

const copy = (set: ParamSet): ParamSet => ({ ...set, tensors: set.tensors.map((t) => ({ ...t, data: new Float32Array(t.data) })) });

/** A real (if tiny) evaluator: the share of fixed inputs whose argmax is class 0, counted per call. */
function countingEvaluator() {
  const inputs = randomInputs(tinyLenet, 8, 3);
  const calls = { n: 0 };
  const evaluate = async (set: ParamSet, arch: Architecture) => {
    calls.n++;
    const top = inputs.map((x) => {
      const logits = referenceForward(arch, set, x);
      return logits.indexOf(Math.max(...logits));
    });
    return top.filter((c) => c === 0).length / inputs.length;
  };
  return { evaluate, calls };
}

describe('evaluations cached by model content', () => {
  it('when a copy of the same weights comes again, then it is answered without evaluating; one changed float is evaluated afresh', async () => {
    const { evaluate, calls } = countingEvaluator();
    const cached = cachedEvaluator(evaluate);
    const set = randomParams(tinyLenet, 1);
    const first = await cached(set, tinyLenet);
    assert.equal(await cached(copy(set), tinyLenet), first);
    assert.equal(calls.n, 1);
    assert.equal(cached.hits(), 1);
    const nudged = copy(set);
    nudged.tensors[0]!.data[0] = Math.fround(nudged.tensors[0]!.data[0]! + 1e-6);
    await cached(nudged, tinyLenet);
    assert.equal(calls.n, 2, 'a different float is a different model');
  });

  it('when only the architecture or a tensor name differs, then the digests differ', () => {
    const set = randomParams(tinyLenet, 1);
    const wider: Architecture = { ...tinyLenet, name: 'tiny-wider' };
    assert.notEqual(paramSetDigest(set, tinyLenet), paramSetDigest(set, wider));
    const renamed: ParamSet = { ...set, tensors: set.tensors.map((t, i) => (i === 0 ? { ...t, name: `${t.name}x` } : t)) };
    assert.notEqual(paramSetDigest(set, tinyLenet), paramSetDigest(renamed, tinyLenet));
    const reordered: ParamSet = { ...set, tensors: [...set.tensors].reverse() };
    assert.equal(paramSetDigest(set, tinyLenet), paramSetDigest(reordered, tinyLenet), 'the order tensors are listed in is not the model');
  });

  it('when an evaluation fails, then it is not remembered', async () => {
    let fail = true;
    const cached = cachedEvaluator(async () => {
      if (fail) throw new Error('runtime down');
      return 0.5;
    });
    const set = randomParams(tinyLenet, 2);
    await assert.rejects(cached(set, tinyLenet), /runtime down/);
    fail = false;
    assert.equal(await cached(set, tinyLenet), 0.5);
  });

  it('when a permutation sweep runs plain and then invariant, then the second sweep evaluates nothing and reports the same accuracies', async () => {
    const { evaluate, calls } = countingEvaluator();
    const cached = cachedEvaluator(evaluate);
    const owner = { label: 'model', params: randomParams(tinyLenet, 4), arch: tinyLenet };
    const scorer: Scorer = () => ({ r: 1, n: 100, pValue: 1e-9, log10p: -9, decision: 'match' });
    const sweep = (invariant: boolean) => runSweep({ attack: getAttack('permute'), strengths: [0, 0.5, 1], models: [owner], scorer, evaluate: cached, invariant, seed: 7 });
    const plain = await sweep(false);
    const afterPlain = calls.n;
    const invariant = await sweep(true);
    assert.equal(afterPlain, 3, 'baseline and strength 0 are the same weights: three distinct models (unattacked, 50%, 100%)');
    assert.equal(calls.n, afterPlain);
    assert.deepEqual(invariant.series[0]!.points.map((p) => p.accuracy), plain.series[0]!.points.map((p) => p.accuracy));
  });
});
