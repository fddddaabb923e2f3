import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { addDummyUnits, permuteUnits, rescaleUnits, hiddenLinks } from '../src/attacks/index.js';
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
