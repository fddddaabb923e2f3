import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getArchitecture } from '../src/core/architectures.js';
import { channelSpaces } from '../src/core/channelSpaces.js';

test('when ResNet-32 is read for permutable channels, then each stage has one residual stream tied across its blocks and embedded in the next', () => {
  const spaces = channelSpaces(getArchitecture('resnet32'));
  const streams = spaces.filter((s) => s.norms.length > 1);
  assert.equal(spaces.length, 15 + 3, '15 blocks with private channels, 3 streams');
  assert.deepEqual(streams.map((s) => s.channels), [16, 32, 64]);
  assert.deepEqual(streams[0]!.producers, ['conv1', ...[1, 2, 3, 4, 5].map((b) => `stage1/block${b}/conv2`)]);
  assert.deepEqual(streams[0]!.consumers, [...[1, 2, 3, 4, 5].map((b) => `stage1/block${b}/conv1`), 'stage2/block1/conv1']);
  assert.deepEqual(streams[2]!.consumers.at(-1), 'fc');
  // Stage 2's stream holds stage 1's 16 channels in its middle (8 zero channels each side), stage 3's holds stage 2's at 16.
  assert.deepEqual(streams[1]!.embeds, [{ space: spaces.indexOf(streams[0]!), offset: 8 }]);
  assert.deepEqual(streams[2]!.embeds, [{ space: spaces.indexOf(streams[1]!), offset: 16 }]);
  const privates = spaces.filter((s) => s.norms.length === 1);
  assert.ok(privates.every((s) => s.producers.length === 1 && s.consumers.length === 1 && s.producers[0]!.endsWith('/conv1') && s.consumers[0]!.endsWith('/conv2')));
});

test('when chains are read, then every hidden layer is a space and the logits and the input are not', () => {
  const allcnnc = channelSpaces(getArchitecture('allcnnc'));
  assert.deepEqual(allcnnc.map((s) => s.producers[0]), ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'conv6', 'conv7', 'conv8']);
  const lenet = channelSpaces(getArchitecture('lenet5'));
  assert.deepEqual(lenet.map((s) => [s.producers[0], s.consumers[0]]), [['conv1', 'conv2'], ['conv2', 'fc1'], ['fc1', 'fc2']]);
});
