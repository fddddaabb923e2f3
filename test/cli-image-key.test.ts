import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExtract, runTrain } from '../src/cli/localCommands.js';
import { extractedPicture } from '../src/core/picture.js';
import { generateKey } from '../src/core/keygen.js';
import { decodePngGrey, encodePngGrey } from '../src/formats/png.js';
import { captured } from './cli-helpers.js';


const quick = ['--arch', 'mlp', '--strategy', 'naive', '--epochs', '1', '--limit', '500', '--threads', '1', '--seed', '5'];
const dir = mkdtempSync(join(tmpdir(), 'wm-cli-image-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A 16×16 two-tone logo (a ring with a bar): the kind of picture the paper embeds. */
function logo(): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, i) => {
    const [x, y] = [i % 16, Math.floor(i / 16)];
    const r = Math.hypot(x - 7.5, y - 7.5);
    return (r > 4 && r < 7) || (y === 8 && x > 3 && x < 12) ? 0 : 255;
  });
}

test('when a model is trained with --key-image, then extract --image gives the picture back', async () => {
  const png = join(dir, 'logo.png');
  writeFileSync(png, encodePngGrey(16, 16, logo()));
  const out = join(dir, 'image-marked');
  const train = await captured(() => runTrain([...quick, '--key-image', png, '--key-seed', 'image-test', '--out', out, '--json']));
  assert.equal(train.code, 0);
  const key = JSON.parse(readFileSync(join(out, 'key.json'), 'utf8'));
  assert.equal(key.valueKind, 'image');
  assert.equal(key.values.length, 256);

  const picture = join(dir, 'extracted.png');
  const extract = await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--image', picture, '--json']));
  const result = JSON.parse(extract.out);
  assert.equal(result.decision, 'match');
  assert.equal(result.image, picture);
  const back = decodePngGrey(new Uint8Array(readFileSync(picture)));
  assert.equal(back.width, 16);
  assert.equal(back.height, 16);
  assert.deepEqual(back.pixels, logo());
});

test('when a model is trained with --key-message, then extract prints the message', async () => {
  const out = join(dir, 'message-marked');
  const train = await captured(() => runTrain([...quick, '--key-message', 'ACME 2026', '--out', out, '--json']));
  assert.equal(train.code, 0);
  assert.equal(JSON.parse(readFileSync(join(out, 'key.json'), 'utf8')).values.length, 72);

  const json = await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--json']));
  assert.equal(JSON.parse(json.out).message, 'ACME 2026');
  const text = await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json')]));
  assert.match(text.out, /Message: "ACME 2026"/);
  await assert.rejects(runExtract(['--model', out, '--key', join(out, 'key.json'), '--image', join(dir, 'no.png')]), /--image needs a key made from a picture .* valueKind 'message'/);
});

test('when the key picture is larger than 64x64 or flags conflict, then training refuses and says why', async () => {
  const big = join(dir, 'big.png');
  writeFileSync(big, encodePngGrey(65, 64, new Uint8Array(65 * 64)));
  await assert.rejects(runTrain([...quick, '--key-image', big, '--out', join(dir, 'x')]), /65x64 = 4160 pixels; a key picture may have at most 4096 \(64x64\)/);
  await assert.rejects(runTrain([...quick, '--key-image', big, '--key-message', 'hi', '--out', join(dir, 'x')]), /Give one of --key, --key-image, --key-message; got --key-image and --key-message/);
  await assert.rejects(runTrain([...quick, '--key-message', 'hi', '--n', '100', '--out', join(dir, 'x')]), /--n cannot be combined/);
});

test('when a key predates recorded amplitudes and every tensor holds a black pixel, then grey levels come back exactly', () => {
  const pixels = Uint8Array.from({ length: 256 }, (_, i) => (i % 16 === 0 ? 0 : i));
  const targets = [{ name: 'a', shape: [1000], scale: 0.01 }, { name: 'b', shape: [1000], scale: 0.7 }];
  const { amplitudes: _, ...size } = generateKey(targets, { seed: 'grey', image: { width: 16, height: 16, pixels } }).image!;
  const key = { ...generateKey(targets, { seed: 'grey', image: { width: 16, height: 16, pixels } }), image: size };
  assert.deepEqual(extractedPicture(key, key.values), pixels);
  // A mark that lost half its strength shows as a faded picture, not one stretched back to full contrast.
  const faded = extractedPicture(key, key.values.map((v) => v / 2));
  assert.equal(faded[0], 64);
});

test('when a tensor holds only mid-grey pixels, then the recorded amplitudes still give the grey levels back exactly', () => {
  const pixels = Uint8Array.from({ length: 256 }, (_, i) => i);
  // The bias-like tensor gets one position: with no black or white pixel of its own, only the recorded amplitude can map it back.
  const targets = [{ name: 'w', shape: [5000], scale: 0.05 }, { name: 'b', shape: [10], scale: 0.3 }];
  const key = generateKey(targets, { seed: 'gradient', image: { width: 16, height: 16, pixels } });
  assert.deepEqual(extractedPicture(key, key.values), pixels);
});
