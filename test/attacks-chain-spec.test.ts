import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildChain, formatChain, getAttack, lowRank, parseChainText, parseOptionsText } from '../src/attacks/index.js';
import type { TrainFn, TrainRequest } from '../src/attacks/types.js';
import { getArchitecture } from '../src/core/architectures.js';
import { initialParamSet } from '../src/core/init.js';
import { snapshot } from './attacks-reference.js';

const lenet = getArchitecture('lenet5');
const set = initialParamSet(lenet, 21);

describe('chains as text and as data', () => {
  it('when a chain is written as text, then steps, strengths and bracketed options (commas included) are read back, and formatChain writes the same text', () => {
    const text = 'low-rank:15[ranks=fc1=15,conv2=15,fc2=8],fine-tune-low-lr:1[lr=0.02;momentum=0.5 nesterov=false],reinit-head';
    const specs = parseChainText(text);
    assert.deepEqual(specs, [
      { attack: 'low-rank', strength: 15, options: { ranks: 'fc1=15,conv2=15,fc2=8' } },
      { attack: 'fine-tune-low-lr', strength: 1, options: { lr: 0.02, momentum: 0.5, nesterov: false } },
      { attack: 'reinit-head' },
    ]);
    assert.equal(formatChain(specs), 'low-rank:15[ranks=fc1=15,conv2=15,fc2=8],fine-tune-low-lr:1[lr=0.02;momentum=0.5;nesterov=false],reinit-head');
    assert.deepEqual(parseChainText(formatChain(specs)), specs);
    assert.deepEqual(parseOptionsText('layers=fc1,fc2 freeze=none'), { layers: 'fc1,fc2', freeze: 'none' });
  });

  it('when a chain is malformed, then the error names the step and what is accepted', () => {
    assert.throws(() => parseChainText(''), /the chain is empty/);
    assert.throws(() => parseChainText('low-rank:x'), /chain step 1 'low-rank:x': the strength 'x' is not a number/);
    assert.throws(() => parseChainText('low-rank:15[ranks=fc1=15'), /a '\[' without its '\]'/);
    assert.throws(() => parseChainText('low rank:15'), /chain step 1 'low rank:15' is not NAME\[:STRENGTH\]/);
    assert.throws(() => parseOptionsText('lr'), /attack option 'lr' is not name=value/);
    assert.throws(() => buildChain(parseChainText('low-rank:15,melt:1')), /chain step 2: Unknown attack 'melt'\. Known attacks are: quantize, .*low-rank/);
    assert.throws(() => buildChain(parseChainText('low-rank,fine-tune')), /chain steps 1 \(low-rank\), 2 \(fine-tune\) have no strength; only one step/);
    assert.throws(() => buildChain([]), /the chain is empty/);
    assert.throws(() => buildChain(Array.from({ length: 9 }, () => ({ attack: 'noise', strength: 0.1 }))), /9 steps; at most 8/);
    assert.throws(() => buildChain([{ attack: 'noise', strength: 0.1, options: { lr: [1] as never } }]), /option lr must be a string, a finite number or a boolean/);
  });

  it('when a step leaves its strength out, then it is the swept step; otherwise the last step is, with its written strength', () => {
    const open = buildChain(parseChainText('low-rank,fine-tune:1'));
    assert.equal(open.sweepStep, 0);
    assert.equal(open.strength, undefined);
    assert.equal(open.attack.strength.name, 'rank kept');
    assert.equal(open.attack.needsData, true);
    const closed = buildChain(parseChainText('reinit-head:1,fine-tune:2'));
    assert.deepEqual([closed.sweepStep, closed.strength, closed.attack.name], [1, 2, 'reinit-head:1,fine-tune:2']);
  });

  it('when low-rank then fine-tune runs, then the trainer starts from the low-rank weights; reinit-head then fine-tune trains twice with the head frozen only in the first', async () => {
    const calls: TrainRequest[] = [];
    const train: TrainFn = async (req) => (calls.push(req), { params: req.init! });
    const before = snapshot(set);
    const { attack } = buildChain(parseChainText('low-rank:15[ranks=fc1=15,conv2=15,fc2=8],fine-tune:1'));
    await attack.run(set, lenet, 1, { seed: 3, train });
    assert.deepEqual(snapshot(set), before, 'input untouched');
    const expected = lowRank(set, lenet, 15, { ranks: { fc1: 15, conv2: 15, fc2: 8 } }).set;
    assert.deepEqual(snapshot(calls[0]!.init!), snapshot(expected));
    assert.deepEqual([calls[0]!.epochs, calls[0]!.lr, calls[0]!.frozen], [1, 0.1, undefined]);

    const chain = buildChain([{ attack: 'reinit-head', strength: 1 }, { attack: 'fine-tune', options: { lr: 0.01 } }]);
    await chain.attack.run(set, lenet, 3, { seed: 3, train });
    assert.equal(calls[1]!.frozen!.length, 6);
    assert.deepEqual([calls[2]!.epochs, calls[2]!.lr, calls[2]!.frozen], [3, 0.01, undefined]);
    assert.equal(getAttack('fine-tune').cumulative, true);
  });
});
