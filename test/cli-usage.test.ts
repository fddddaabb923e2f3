/**
 * The CLI's front door (src/cli/main.ts), run as a user runs it: every command listed, the API forms of
 * train and attack reachable, a typo answered with a suggestion, and bad usage exiting 2 everywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, WEIGHTMARK_URL: 'http://127.0.0.1:1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('when asked for help, then the CLI lists the local and the API commands, train and attack under api', () => {
  const r = cli('--help');
  assert.equal(r.code, 0);
  for (const c of ['weightmark train', 'weightmark extract', 'prepare-data', 'verify', 'audit-verify', 'api train', 'api attack', 'token']) assert.ok(r.out.includes(c), `--help lacks '${c}'`);
  const api = cli('api', 'train', '--help');
  assert.equal(api.code, 0);
  assert.match(api.out, /usage: weightmark api train --arch/);
  assert.match(cli('api', 'attack', '--help').out, /usage: weightmark api attack --model ID/);
});

test('when the command is mistyped or misused, then the CLI exits 2 and says what would work', () => {
  const typo = cli('trian');
  assert.equal(typo.code, 2);
  assert.match(typo.err, /unknown command 'trian'; did you mean 'train'\?/);
  assert.ok(typo.err.split('\n').length < 4, 'one line, not the whole usage');
  assert.equal(cli('frobnicate').code, 2);
  assert.equal(cli('api').code, 2);
  const local = cli('train', '--bogus');
  assert.equal(local.code, 2, 'a local command\'s bad flag is usage too');
  assert.match(local.err, /Unknown option '--bogus'/);
  assert.equal(cli('export', '--format', 'onnx').code, 2, 'a missing required flag');
  assert.equal(cli('api', 'train', '--bogus').code, 2);
  assert.equal(cli('api', 'jobs').code, 1, 'no server: a failure, not usage');
});

test('when a key file is not a key, or a key picture is missing, then the error names the file', () => {
  const model = 'models/robustness/naive.safetensors';
  const r = cli('extract', '--model', model, '--key', model);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`Key file ${model} is not JSON .*expected a weightmark key`));
  const notKey = cli('extract', '--model', model, '--key', 'package.json');
  assert.match(notKey.err, /Key file package\.json is not a weightmark key/);
  const pic = cli('train', '--key-image', 'no-such-logo.png', '--epochs', '1', '--limit', '100', '--out', 'unused');
  assert.equal(pic.code, 1);
  assert.match(pic.err, /--key-image no-such-logo\.png: no such file/);
  assert.doesNotMatch(pic.err, /ENOENT/);
});
