import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { addDummyUnits, getAttack, permuteUnits, rescaleUnits, rescaleUnitsBothSides, hiddenLinks } from '../src/attacks/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { paramSpecs } from '../src/core/architectures.js';
import { maxAbsDiff, randomInputs, randomParams, referenceForward, snapshot, tinyLenet, tinyMlp } from './attacks-reference.js';

const archs = [tinyLenet, tinyMlp];
const attacks = [
  { name: 'permutation', run: permuteUnits, strength: 1 },
  { name: 'rescaling', run: rescaleUnits, strength: 10 },
  { name: 'dummy neurons', run: addDummyUnits, strength: 0.6 },
] as const;

describe('function-preserving attacks', () => {
  for (const arch of archs) {
    for (const attack of attacks) {
      it(`when ${attack.name} is applied to a random ${arch.name}, then its outputs are unchanged within 1e-4 and the input set is untouched`, () => {
        const set = randomParams(arch, 11);
        const before = snapshot(set);
        const { set: out, arch: outArch } = attack.run(set, arch, attack.strength, 5);
        assert.deepEqual(snapshot(set), before);
        for (const x of randomInputs(arch, 8, 3)) {
          const d = maxAbsDiff(referenceForward(arch, set, x), referenceForward(outArch, out, x));
          assert.ok(d < 1e-4, `max |Δ logit| ${d}`);
        }
      });
    }
  }

  it('when a full permutation is applied, then every hidden kernel holds the same multiset of values but at other positions', () => {
    const set = randomParams(tinyLenet, 2);
    const { set: out } = permuteUnits(set, tinyLenet, 1, 9);
    for (const name of ['conv1/kernel', 'conv2/kernel', 'fc1/kernel']) {
      const a = set.tensors.find((t) => t.name === name)!.data;
      const b = out.tensors.find((t) => t.name === name)!.data;
      assert.deepEqual([...a].sort(), [...b].sort());
      assert.notDeepEqual([...a], [...b]);
    }
    const fc2 = (s: typeof set) => [...s.tensors.find((t) => t.name === 'fc2/bias')!.data];
    assert.deepEqual(fc2(out), fc2(set), 'the output layer keeps its class order');
  });

  it('when rescaling with factor 1 or permuting 0% of units, then the weights are exactly the same', () => {
    const set = randomParams(tinyMlp, 4);
    assert.deepEqual(snapshot(rescaleUnits(set, tinyMlp, 1, 1).set), snapshot(set));
    assert.deepEqual(snapshot(permuteUnits(set, tinyMlp, 0, 1).set), snapshot(set));
  });

  it('when dummy neurons are added, then the hidden layers and the arch grow and the set matches the widened arch', () => {
    const set = randomParams(tinyLenet, 6);
    const { set: out, arch } = addDummyUnits(set, tinyLenet, 0.5, 2);
    assert.deepEqual(hiddenLinks(arch).map((l) => l.units), [5, 6, 8]);
    assert.equal(out.arch, undefined);
    const specs = paramSpecs(arch);
    assert.deepEqual(out.tensors.map((t) => [t.name, t.shape]), specs.map((s) => [s.name, s.shape]));
  });

  it('when conv2 feeds fc1 through the HWC flatten, then the permutation moves fc1 rows h*W*C+w*C+c with channel c', () => {
    const set = randomParams(tinyLenet, 8);
    const { set: out } = permuteUnits(set, tinyLenet, 1, 3);
    const conv2b = set.tensors.find((t) => t.name === 'conv2/bias')!.data;
    const conv2bOut = out.tensors.find((t) => t.name === 'conv2/bias')!.data;
    const fc1 = set.tensors.find((t) => t.name === 'fc1/kernel')!;
    const fc1Out = out.tensors.find((t) => t.name === 'fc1/kernel')!;
    const C = 4;
    const O = 5;
    const fc1bOut = out.tensors.find((t) => t.name === 'fc1/bias')!.data;
    const fc1b = set.tensors.find((t) => t.name === 'fc1/bias')!.data;
    const perm1 = [...fc1bOut].map((v) => [...fc1b].indexOf(v));
    for (let u = 0; u < C; u++) {
      const src = [...conv2b].indexOf(conv2bOut[u]!);
      for (let p = 0; p < 4; p++)
        for (let o = 0; o < O; o++) assert.equal(fc1Out.data[(p * C + u) * O + o], fc1.data[(p * C + src) * O + perm1[o]!]);
    }
  });
});

describe('rescaling both sides (drift-like, not function-preserving)', () => {
  it('when both sides of every hidden unit are rescaled, then each unit carries the plain rescale\'s factor c_j on its outgoing weights too, and the outputs change', () => {
    const set = randomParams(tinyMlp, 12);
    const both = rescaleUnitsBothSides(set, tinyMlp, 4, 7).set;
    const plain = rescaleUnits(set, tinyMlp, 4, 7).set;
    const data = (s: typeof set, name: string) => s.tensors.find((t) => t.name === name)!.data;
    // Same draws: hidden biases see only their own unit's factor.
    for (const name of ['fc1/bias', 'fc2/bias']) assert.deepEqual([...data(both, name)], [...data(plain, name)]);
    // The output layer's inputs: × c_j here, × 1/c_j in the plain rescale, so the product is w².
    const w = data(set, 'fc3/kernel');
    const product = [...data(both, 'fc3/kernel')].map((v, i) => v * data(plain, 'fc3/kernel')[i]!);
    product.forEach((v, i) => assert.ok(Math.abs(v - w[i]! ** 2) < 1e-5, `fc3 kernel ${i}: ${v} vs ${w[i]! ** 2}`));
    assert.ok(product.some((v, i) => Math.abs(data(both, 'fc3/kernel')[i]! - w[i]!) > 1e-3), 'factors other than 1 were drawn');
    const d = Math.max(...randomInputs(tinyMlp, 8, 3).map((x) => maxAbsDiff(referenceForward(tinyMlp, set, x), referenceForward(tinyMlp, both, x))));
    assert.ok(d > 1e-2, `max |Δ logit| ${d}`);
    assert.deepEqual(snapshot(rescaleUnitsBothSides(set, tinyMlp, 1, 7).set), snapshot(set), 'factor 1 is the identity');
  });

  it('when it is asked of a network with batch norm, then the registry says it does not fit and why', () => {
    const attack = getAttack('rescale-both');
    assert.equal(attack.functionPreserving, false);
    assert.equal(attack.targetsAlignment, true);
    assert.match(attack.unfit!(getArchitecture('resnet32')) ?? '', /\S/);
    assert.equal(attack.unfit!(getArchitecture('allcnnc')), undefined);
    assert.equal(attack.unfit!(getArchitecture('lenet5')), undefined);
  });
});
