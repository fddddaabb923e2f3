import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { attackNames, attacks, chainAttack, getAttack, permuteUnits, pruneMagnitude, runChain } from '../src/attacks/index.js';
import type { TrainFn } from '../src/attacks/types.js';
import { maxAbsDiff, randomInputs, randomParams, referenceForward, snapshot, tinyLenet } from './attacks-reference.js';

const set = randomParams(tinyLenet, 31);

describe('registry and chains', () => {
  it('when listing the registry, then every attack names its strength, unit and default sweep, and unknown names throw with the list', () => {
    assert.ok(attackNames().length >= 13);
    for (const a of attacks) {
      assert.ok(a.strength.name && a.strength.defaults.length > 0 && a.strength.quick.length > 0, a.name);
      assert.equal(typeof a.needsData, 'boolean');
    }
    assert.throws(() => getAttack('nope'), /Known attacks are: .*quantize/);
  });

  it('when every pure attack runs at each default strength, then it returns a set with the arch\'s tensors and leaves its input alone', async () => {
    for (const a of attacks.filter((x) => !x.needsData)) {
      for (const s of a.strength.defaults) {
        const before = snapshot(set);
        const out = await a.run(set, tinyLenet, s, { seed: 1 });
        assert.deepEqual(snapshot(set), before, a.name);
        assert.equal(out.set.tensors.length, set.tensors.length);
        for (const t of out.set.tensors) assert.ok(t.data.every(Number.isFinite), `${a.name} ${s}`);
      }
    }
  });

  it('when chaining permutation then pruning, then the result equals pruning the permuted set with the chain\'s derived seed', async () => {
    const out = await runChain(set, tinyLenet, [{ attack: getAttack('permute'), strength: 1 }, { attack: getAttack('prune'), strength: 0.5 }], { seed: 4 });
    const expected = pruneMagnitude(permuteUnits(set, tinyLenet, 1, 4 + 7919).set, 0.5);
    assert.deepEqual(snapshot(out.set), snapshot(expected));
  });

  it('when chaining dummy neurons, permutation and rescaling, then the widened network computes the same function', async () => {
    const chain = chainAttack('hide', [
      { attack: getAttack('dummy'), strength: 0.5 },
      { attack: getAttack('permute'), strength: 1 },
      { attack: getAttack('rescale'), strength: 1 },
    ]);
    assert.ok(chain.functionPreserving && chain.changesShape);
    const out = await chain.run(set, tinyLenet, 8, { seed: 2 });
    for (const x of randomInputs(tinyLenet, 5, 1)) assert.ok(maxAbsDiff(referenceForward(tinyLenet, set, x), referenceForward(out.arch, out.set, x)) < 1e-4);
  });

  it('when a training attack runs, then it calls the trainer with init = the attacked set, the strength as epochs and the options', async () => {
    const calls: Parameters<TrainFn>[0][] = [];
    const train: TrainFn = async (req) => {
      calls.push(req);
      return { params: req.init! };
    };
    await getAttack('fine-tune').run(set, tinyLenet, 2, { seed: 3, train, dataLimit: 500, options: { lr: 0.02 } });
    await getAttack('fine-tune-fashion').run(set, tinyLenet, 1, { seed: 3, train });
    const keygen = () => ({ id: 'attacker' }) as never;
    await getAttack('overwrite').run(set, tinyLenet, 1, { seed: 3, train, keygen });
    assert.deepEqual(calls.map((c) => [c.dataset, c.strategy, c.epochs, c.lr, c.limit]), [
      ['mnist', 'none', 2, 0.02, 500],
      ['fashion-mnist', 'none', 1, 0.01, undefined],
      ['mnist', 'naive', 1, 0.1, undefined],
    ]);
    assert.equal(calls[0]!.init, set);
    assert.equal((calls[2]!.key as unknown as { id: string }).id, 'attacker');
    await assert.rejects(getAttack('fine-tune').run(set, tinyLenet, 1, { seed: 1 }), /needs data and a trainer/);
  });
});
