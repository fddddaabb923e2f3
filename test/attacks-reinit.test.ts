import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { featureLayers, getAttack, paramLayers } from '../src/attacks/index.js';
import { trainerFor } from '../src/attacks/pipeline.js';
import type { TrainFn, TrainRequest } from '../src/attacks/types.js';
import { getArchitecture } from '../src/core/architectures.js';
import { initialParamSet } from '../src/core/init.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { createGradientEngine } from '../src/training/engine.js';
import { snapshot } from './attacks-reference.js';

const lenet = getArchitecture('lenet5');
const owner = initialParamSet(lenet, 3);
const data = (s: ParamSet, name: string): Float32Array => s.tensors.find((t) => t.name === name)!.data;

/** A trainer that records its request and returns the initial weights. */
function recorder(): { train: TrainFn; calls: TrainRequest[] } {
  const calls: TrainRequest[] = [];
  return { calls, train: async (req) => (calls.push(req), { params: req.init! }) };
}

describe('re-initialise and retrain', () => {
  it('when reinit-head runs, then the head is drawn from the seeded initialiser and retrained with every other tensor frozen at SGD lr 0.01, momentum 0.9', async () => {
    const { train, calls } = recorder();
    const before = snapshot(owner);
    await getAttack('reinit-head').run(owner, lenet, 2, { seed: 42, train, dataLimit: 300 });
    assert.deepEqual(snapshot(owner), before, 'input untouched');
    const req = calls[0]!;
    assert.deepEqual([req.epochs, req.lr, req.momentum, req.weightDecay, req.schedule, req.strategy, req.limit], [2, 0.01, 0.9, 0, 'constant', 'none', 300]);
    assert.deepEqual(req.frozen, ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias', 'fc1/kernel', 'fc1/bias']);
    const fresh = initialParamSet(lenet, 42);
    assert.deepEqual(data(req.init!, 'fc2/kernel'), data(fresh, 'fc2/kernel'));
    assert.deepEqual(data(req.init!, 'fc2/bias'), data(fresh, 'fc2/bias'));
    assert.deepEqual(data(req.init!, 'fc1/kernel'), data(owner, 'fc1/kernel'));
  });

  it('when reinit-hidden or reinit-classifier runs, then fc1 (and fc2) are re-initialised with nothing or the features frozen; options choose layers, freezing and rates', async () => {
    const { train, calls } = recorder();
    await getAttack('reinit-hidden').run(owner, lenet, 1, { seed: 7, train });
    assert.deepEqual(calls[0]!.frozen, []);
    assert.deepEqual(data(calls[0]!.init!, 'fc1/kernel'), data(initialParamSet(lenet, 7), 'fc1/kernel'));
    assert.deepEqual(data(calls[0]!.init!, 'fc2/kernel'), data(owner, 'fc2/kernel'));
    await getAttack('reinit-head').run(owner, lenet, 1, { seed: 7, train, options: { layers: 'fc1,fc2', freeze: 'rest', lr: 0.05, weightDecay: 5e-4 } });
    assert.deepEqual(calls[1]!.frozen, ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias']);
    assert.deepEqual([calls[1]!.lr, calls[1]!.weightDecay], [0.05, 5e-4]);
    assert.deepEqual(paramLayers(lenet), ['conv1', 'conv2', 'fc1', 'fc2']);
    // The outside testers' "features frozen": the conv stack fixed, fc1 trains with the fresh head.
    await getAttack('reinit-head').run(owner, lenet, 1, { seed: 7, train, options: { freeze: 'features' } });
    assert.deepEqual(calls[2]!.frozen, ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias']);
    await getAttack('reinit-hidden').run(owner, lenet, 1, { seed: 7, train, options: { freeze: 'conv1' } });
    assert.deepEqual(calls[3]!.frozen, ['conv1/kernel', 'conv1/bias']);
    assert.deepEqual(featureLayers(lenet), ['conv1', 'conv2']);
    // reinit-classifier: every dense layer after the flatten fresh, the conv stack frozen.
    await getAttack('reinit-classifier').run(owner, lenet, 1, { seed: 8, train });
    assert.deepEqual(calls[4]!.frozen, ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias']);
    for (const name of ['fc1/kernel', 'fc2/kernel']) assert.deepEqual(data(calls[4]!.init!, name), data(initialParamSet(lenet, 8), name), name);
    assert.deepEqual(featureLayers(getArchitecture('mlp')), []);
  });

  it('when the network pools globally (ResNet-32, ALL-CNN-C), then reinit-classifier renews only what follows the pool — or the output conv — with every feature layer, batch norms included, frozen', async () => {
    for (const [name, classifier, hidden] of [['resnet32', 'fc', 'stage3/block5/conv2'], ['allcnnc', 'conv9', 'conv8']] as const) {
      const arch = getArchitecture(name);
      const set = initialParamSet(arch, 3);
      const { train, calls } = recorder();
      await getAttack('reinit-classifier').run(set, arch, 1, { seed: 9, train });
      const all = paramLayers(arch);
      assert.deepEqual(featureLayers(arch), all.filter((l) => l !== classifier), name);
      const kept = set.tensors.filter((t) => !t.name.startsWith(`${classifier}/`));
      // The features keep the owner's weights and are frozen, batch norm's scale and shift among them.
      for (const t of kept) assert.deepEqual(data(calls[0]!.init!, t.name), t.data, `${name} ${t.name} kept`);
      assert.ok(calls[0]!.frozen!.every((t) => !t.startsWith(`${classifier}/`)), name);
      if (name === 'resnet32') assert.ok(calls[0]!.frozen!.includes('stage3/block5/bn2/gamma'), calls[0]!.frozen!.join(','));
      const kernel = `${classifier}/kernel`;
      assert.deepEqual(data(calls[0]!.init!, kernel), data(initialParamSet(arch, 9), kernel), `${name} classifier drawn afresh`);
      await getAttack('reinit-hidden').run(set, arch, 1, { seed: 9, train });
      const changed = calls[1]!.init!.tensors.filter((t) => t.data.some((v, i) => v !== data(set, t.name)[i])).map((t) => t.name);
      assert.ok(changed.includes(`${hidden}/kernel`) && changed.every((t) => t.startsWith(`${hidden}/`)), `${name}: reinit-hidden renews the last kernel layer before the output, not a batch norm (changed: ${changed.join(', ')})`);
    }
  });

  it('when the classifier is the output layer alone (ALL-CNN-C, ResNet-32), then reinit-classifier says it is reinit-head there, and the two ask the trainer for the same thing; in LeNet5 and the mlp they differ', async () => {
    const classifier = getAttack('reinit-classifier');
    for (const name of ['allcnnc', 'resnet32']) {
      const arch = getArchitecture(name);
      assert.equal(classifier.sameAs?.(arch), 'reinit-head', name);
      const set = initialParamSet(arch, 5);
      const { train, calls } = recorder();
      await classifier.run(set, arch, 2, { seed: 11, train });
      await getAttack('reinit-head').run(set, arch, 2, { seed: 11, train });
      const [a, b] = calls;
      assert.deepEqual([...a!.frozen!].sort(), [...b!.frozen!].sort(), name);
      assert.deepEqual(snapshot(a!.init!), snapshot(b!.init!), name);
      assert.deepEqual({ ...a, init: undefined, frozen: undefined }, { ...b, init: undefined, frozen: undefined }, name);
    }
    for (const name of ['lenet5', 'mlp']) assert.equal(classifier.sameAs?.(getArchitecture(name)), undefined, name);
    assert.equal(getAttack('reinit-head').sameAs, undefined);
  });

  it('when retraining for 0 epochs, then the re-initialised model comes back without calling the trainer', async () => {
    const { train, calls } = recorder();
    const { set } = await getAttack('reinit-head').run(owner, lenet, 0, { seed: 5, train });
    assert.equal(calls.length, 0);
    assert.deepEqual(data(set, 'fc2/kernel'), data(initialParamSet(lenet, 5), 'fc2/kernel'));
    assert.deepEqual(data(set, 'conv1/kernel'), data(owner, 'conv1/kernel'));
  });

  it('when an option, the strength or the trainer is wrong or missing, then it throws saying what was found and what is accepted', async () => {
    const { train } = recorder();
    const head = getAttack('reinit-head');
    await assert.rejects(head.run(owner, lenet, 1, { seed: 1, train, options: { layers: 'fc3' } }), /cannot re-initialise 'fc3': lenet5 has the layers conv1, conv2, fc1, fc2/);
    await assert.rejects(head.run(owner, lenet, 1, { seed: 1, train, options: { freeze: 'all' } }), /option freeze must be 'rest', 'features', 'none' or a list of layers such as "conv1,conv2" \(lenet5 has conv1, conv2, fc1, fc2\), got "all"/);
    await assert.rejects(head.run(owner, lenet, 1, { seed: 1, train, options: { freeze: 'conv1,fc2' } }), /cannot freeze fc2: re-initialised layers must train/);
    await assert.rejects(head.run(owner, lenet, 1, { seed: 1, train, options: { lr: 'fast' } }), /option lr must be a non-negative number, got "fast"/);
    await assert.rejects(head.run(owner, lenet, 1.5, { seed: 1, train }), /retraining epochs must be a non-negative integer, got 1\.5/);
    await assert.rejects(head.run(owner, lenet, 1, { seed: 1 }), /attack 'reinit-head' needs data and a trainer/);
    assert.equal(head.cumulative, false, 're-initialising twice would be wrong: not cumulative');
  });
});

describe('reinit-head through the real trainer', () => {
  const mlp = getArchitecture('mlp');
  const model = initialParamSet(mlp, 9);
  const engine = createGradientEngine(mlp, { threads: 1 });
  after(async () => (await engine).dispose());

  it('when the head is retrained one epoch on 300 samples, then the frozen tensors stay bit-identical and the head moves away from both the original and its fresh draw', async () => {
    const train = trainerFor({ engine: await engine, testLimit: 100 });
    const { set } = await getAttack('reinit-head').run(model, mlp, 1, { seed: 4, train, dataLimit: 300 });
    for (const name of ['fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias']) assert.deepEqual(data(set, name), data(model, name), `${name} frozen`);
    const fresh = initialParamSet(mlp, 4);
    for (const name of ['fc3/kernel', 'fc3/bias']) {
      assert.notDeepEqual(data(set, name), data(model, name), `${name} re-initialised`);
      assert.notDeepEqual(data(set, name), data(fresh, name), `${name} trained`);
    }
  });
});
