import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, watermarked, safetensorsBytes, tempDir, type TestServer } from './http-helpers.js';
import { runClient } from '../src/cli/client.js';
import { imageFolderZip } from './dataset-helpers.js';

let s: TestServer;
const tmp = tempDir('cli');
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

/** Runs a CLI command in-process and captures what it prints. */
async function cli(command: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await runClient(command, argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** A watermarked model and its key written as files, as a user would have them. */
function modelWithKey(seed: number, name: string): { modelFile: string; keyFile: string } {
  const w = watermarked(seed, `${name}-key`);
  const modelFile = path.join(tmp, `${name}.safetensors`);
  const keyFile = path.join(tmp, `${name}.key.json`);
  fs.writeFileSync(modelFile, safetensorsBytes(w.params));
  fs.writeFileSync(keyFile, JSON.stringify(w.key));
  return { modelFile, keyFile };
}

test('when `weightmark token` runs against the keys dir, then the token it mints is accepted by the server', async () => {
  const r = await cli('token', ['--role', 'issuer', '--sub', 'cli-user', '--ttl', '10m', '--keys-dir', s.keysDir, '--json']);
  assert.equal(r.code, 0, r.err);
  const { token } = JSON.parse(r.out) as { token: string };
  const models = await cli('models', ['--url', s.url, '--token', token, '--json']);
  assert.equal(models.code, 0, models.err);
  assert.equal(JSON.parse(models.out).total, 0);
});

test('when a model is registered and a suspect verified from the CLI, then --json prints the API responses', async () => {
  const { modelFile, keyFile } = modelWithKey(21, 'owner');
  const common = ['--url', s.url, '--token', s.tokens.issuer, '--json'];
  const reg = await cli('register', ['--file', modelFile, '--key', keyFile, '--arch', 'lenet5', ...common]);
  assert.equal(reg.code, 0, reg.err);
  const model = JSON.parse(reg.out) as { id: string };
  const ver = await cli('verify', ['--file', modelFile, '--model', model.id, ...common]);
  assert.equal(ver.code, 0, ver.err);
  const v = JSON.parse(ver.out) as { id: string; decision: string };
  assert.equal(v.decision, 'match');
  const rep = await cli('report', [v.id, '--out', path.join(tmp, 'r.jws'), ...common]);
  assert.equal(rep.code, 0);
  assert.equal(fs.readFileSync(path.join(tmp, 'r.jws'), 'utf8').split('.').length, 3);
  const chain = await cli('audit-verify', ['--url', s.url, '--token', s.tokens.auditor]);
  assert.match(chain.out, /ok: true/);
  // A head kept from audit-head is checked by audit-verify --seq --hash; a forged hash is named.
  const head = JSON.parse((await cli('audit-head', ['--url', s.url, '--token', s.tokens.auditor, '--json'])).out) as { seq: number; headHash: string };
  const kept = await cli('audit-verify', ['--url', s.url, '--token', s.tokens.auditor, '--seq', String(head.seq), '--hash', head.headHash, '--json']);
  assert.equal(JSON.parse(kept.out).ok, true, kept.out);
  const forged = await cli('audit-verify', ['--url', s.url, '--token', s.tokens.auditor, '--seq', String(head.seq), '--hash', 'f'.repeat(64), '--json']);
  assert.equal(JSON.parse(forged.out).ok, false, forged.out);

  // An attack chain goes to the service as steps (low-rank then fine-tune), options included.
  const job = await cli('attack', ['--model', model.id, '--chain', 'low-rank:15[ranks=fc1=15,conv2=15,fc2=8],fine-tune:1', '--strengths', '1', '--test-limit', '100', ...common]);
  assert.equal(job.code, 0, job.err + job.out);
  const j = JSON.parse(job.out) as { id: string; input?: { attack?: string } };
  assert.match(j.id, /^job_/);
  await cli('cancel', [j.id, ...common]);
  // Following a job that did not succeed is a failure of the command.
  const watched = await cli('watch', [j.id, ...common]);
  assert.equal(watched.code, 1, watched.err + watched.out);
  assert.match(watched.err, /ended (cancelled|failed)/);
  const bad = await cli('attack', ['--model', model.id, '--chain', 'low-rank:15,no-such-attack', ...common]);
  assert.equal(bad.code, 1);
  assert.match(bad.err + bad.out, /no-such-attack/);
});

test('when the server refuses, then the CLI prints the problem and exits 1; bad usage exits 2', async () => {
  const r = await cli('audit', ['--url', s.url, '--token', s.tokens.verifier]);
  assert.equal(r.code, 1);
  assert.match(r.err, /403 WM_ERR_FORBIDDEN/);
  assert.equal((await cli('register', ['--url', s.url])).code, 2);
  assert.equal((await cli('frobnicate', [])).code, 2);
  const down = await cli('models', ['--url', 'http://127.0.0.1:1', '--token', 'x']);
  assert.equal(down.code, 1);
  assert.match(down.err, /no server/);
});

test('when verify prints for a person, then it is the decision, the score and the id in a few lines, never a JWS; --quiet prints only the id; WEIGHTMARK_URL and WEIGHTMARK_TOKEN stand in for --url and --token', async () => {
  const { modelFile, keyFile } = modelWithKey(22, 'summary');
  const saved = { url: process.env.WEIGHTMARK_URL, token: process.env.WEIGHTMARK_TOKEN };
  process.env.WEIGHTMARK_URL = s.url;
  process.env.WEIGHTMARK_TOKEN = s.tokens.admin;
  try {
    const reg = await cli('register', ['--file', modelFile, '--key', keyFile, '--arch', 'lenet5', '--quiet']);
    assert.equal(reg.code, 0, reg.err);
    assert.match(reg.out, /^mdl_[\w-]+$/, 'the id alone, for MODEL=$(…)');

    const ver = await cli('verify', ['--file', modelFile, '--model', reg.out]);
    assert.equal(ver.code, 0, ver.err);
    const lines = ver.out.split('\n');
    assert.match(lines[0]!, /^ver_[\w-]+: MATCH — claim: key match only, evidence: p < 1e-06$/);
    assert.match(ver.out, /score: r = 1\.0000 over \d+ key positions, p < 1e-38 \(owner key key_/);
    assert.ok(lines.length <= 6, ver.out);
    assert.doesNotMatch(ver.out, /eyJ/, 'no signed document in the summary');

    const id = (await cli('verify', ['--file', modelFile, '--model', reg.out, '-q'])).out;
    assert.match(id, /^ver_[\w-]+$/);
    // Only admin and auditor get the report: an issuer's or a verifier's summary has no score.
    for (const role of ['issuer', 'verifier'] as const) {
      const own = await cli('verify', ['--file', modelFile, '--model', reg.out, '--token', s.tokens[role]]);
      assert.match(own.out, /: MATCH — /, role);
      assert.doesNotMatch(own.out, /score:|eyJ/, role);
    }
    // --quiet is for commands that make or show one thing; elsewhere it is bad usage.
    assert.equal((await cli('models', ['--quiet'])).code, 2);
  } finally {
    for (const [k, v] of [['WEIGHTMARK_URL', saved.url], ['WEIGHTMARK_TOKEN', saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('when `weightmark datasets upload FILE` runs twice and `datasets` lists, then the dataset is registered once and listed; a bad action is usage', async () => {
  const common = ['--url', s.url, '--token', s.tokens.issuer, '--json'];
  const file = path.join(tmp, 'pets.zip');
  fs.writeFileSync(file, imageFolderZip({ classes: ['cat', 'dog'], perClass: 5 }));
  const up = await cli('datasets', ['upload', file, '--name', 'pets', '--holdout', '0.2', ...common]);
  assert.equal(up.code, 0, up.err);
  const made = JSON.parse(up.out) as { id: string; created: boolean; split: { holdout: number } };
  assert.deepEqual([made.created, made.split.holdout], [true, 0.2]);
  const again = await cli('datasets', ['upload', file, '--url', s.url, '--token', s.tokens.issuer, '--quiet']);
  assert.equal(again.out.trim(), made.id);
  const list = await cli('datasets', common);
  assert.deepEqual((JSON.parse(list.out) as { items: { id: string }[] }).items.map((d) => d.id), [made.id]);
  const show = await cli('datasets', ['show', made.id, ...common]);
  assert.equal((JSON.parse(show.out) as { name: string }).name, 'pets');
  assert.equal((await cli('datasets', ['remove', made.id, ...common])).code, 2);
});

test('when `weightmark attacks` runs, then it prints one line per attack of the service with its default strengths', async () => {
  const r = await cli('attacks', ['--url', s.url, '--token', s.tokens.issuer]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^quantize {2}k-bit quantization per tensor; bits: 8, 7, 6, 5, 4, 3, 2$/m);
  assert.match(r.out, /^fine-tune {2}.*; epochs: 1, 2, 3, 5; trains on the model's data$/m);
  const { attackNames } = await import('../src/attacks/index.js');
  assert.equal(r.out.split('\n').length, attackNames().length);
});
