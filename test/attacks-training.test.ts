import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { getAttack } from '../src/attacks/index.js';
import { attackerKeygen, trainerFor } from '../src/attacks/pipeline.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { pearson } from '../src/core/score.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';
import { toParamSet } from '../src/training/train.js';
import { snapshot } from './attacks-reference.js';

const arch = getArchitecture('lenet5');
const init = toParamSet(arch, initParams(arch, 3));
const key = generateKey(keyTargetsFromParamSet(init), { n: 512, seed: 'owner-test', arch: arch.name });
const owner = embedValues(init, key);
const engine = await createGradientEngine(arch, { threads: 1 });
const ctx = { seed: 5, train: trainerFor({ engine, testLimit: 100 }), keygen: attackerKeygen, dataLimit: 300 };
after(() => engine.dispose());

describe('training attacks through the real trainer', () => {
  it('when fine-tuning one epoch, then every layer moves, the mark drifts but stays correlated, and the input is untouched', async () => {
    const before = snapshot(owner);
    const { set } = await getAttack('fine-tune').run(owner, arch, 1, ctx);
    assert.deepEqual(snapshot(owner), before);
    for (const t of set.tensors) assert.notDeepEqual([...t.data], [...owner.tensors.find((x) => x.name === t.name)!.data], t.name);
    const r = pearson(extractValues(set, key), key.values);
    assert.ok(r > 0.5 && r < 0.9999, `r ${r}`);
  });

  it("when overwriting, then the attacker's own key reads back exactly from the result", async () => {
    const { set } = await getAttack('overwrite').run(owner, arch, 1, ctx);
    const attackerKey = attackerKeygen(owner, arch, { n: 1024, seed: ctx.seed + 0x5eed });
    assert.ok(pearson(extractValues(set, attackerKey), attackerKey.values) > 0.9999);
  });

  it('when overwriting at the low rate, then the trainer is asked for the naive embedding of the attacker\'s key at lr 0.01, and an lr option still wins', async () => {
    const calls: Parameters<typeof ctx.train>[0][] = [];
    const record = { ...ctx, train: async (req: Parameters<typeof ctx.train>[0]) => (calls.push(req), { params: req.init! }) };
    await getAttack('overwrite-low-lr').run(owner, arch, 2, record);
    await getAttack('overwrite-low-lr').run(owner, arch, 1, { ...record, options: { lr: 0.003 } });
    assert.deepEqual(calls.map((c) => [c.strategy, c.lr, c.epochs, c.momentum]), [['naive', 0.01, 2, 0.9], ['naive', 0.003, 1, 0.9]]);
    assert.equal(calls[0]!.key!.id, attackerKeygen(owner, arch, { n: 1024, seed: ctx.seed + 0x5eed }).id);
  });

  it('when a training attack is given a negative or non-numeric rate, then it refuses before training, naming the option', async () => {
    let trained = 0;
    const record = { ...ctx, train: async (req: Parameters<typeof ctx.train>[0]) => (trained++, { params: req.init! }) };
    for (const name of ['overwrite-low-lr', 'overwrite', 'fine-tune', 'fine-tune-low-lr']) {
      await assert.rejects(async () => getAttack(name).run(owner, arch, 1, { ...record, options: { lr: -1 } }), /option lr must be a non-negative number, got -1/, name);
      await assert.rejects(async () => getAttack(name).run(owner, arch, 1, { ...record, options: { momentum: 'high' } }), /option momentum must be a non-negative number, got "high"/, name);
    }
    assert.equal(trained, 0);
  });
});
