import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFields, describeJob, describeVerification, idMadeBy } from '../src/cli/clientOutput.js';

const point = (strength: number, accuracy: number, r: number | null, decision: string) => ({ strength, accuracy, r, n: 1023, pValue: 1e-38, decision });

test('when an attack job is shown, then its sweep is a table per model and strength, a point without a score says so, and the plot is named', () => {
  const job = {
    id: 'job_attack123', kind: 'attack', status: 'succeeded', createdBy: 'alice', createdAt: '2026-01-01T00:00:00.000Z', progress: { phase: 'done', fraction: 1 }, error: null,
    result: {
      modelId: 'mdl_x', plot: '/v1/jobs/job_attack123/plot.svg', evaluatedOn: { datasetId: 'ds_pets', split: 'held-out', samples: 120 }, alignedOnto: 'anchor',
      sweep: {
        attack: { name: 'prune-global', title: 'global magnitude pruning', strengthName: 'sparsity', unit: '%' }, invariant: false,
        series: [{ model: 'default', baseline: point(0, 0.993, 0.99, 'match'), points: [point(0.5, 0.992, 0.97, 'match'), point(0.99, 0.537, null, 'no match')] }],
      },
    },
  };
  const lines = describeJob(job).split('\n');
  assert.equal(lines[0], 'job_attack123: attack succeeded (by alice, 2026-01-01T00:00:00.000Z)');
  assert.equal(lines[1], '  global magnitude pruning');
  assert.deepEqual(lines.slice(2, 6).map((l) => l.trim().split(/\s{2,}/)), [
    ['model', 'sparsity', 'accuracy', 'r', 'decision'],
    ['default', 'none', '99.30%', '0.9900', 'match'],
    ['default', '50%', '99.20%', '0.9700', 'match'],
    ['default', '99%', '53.70%', 'no score', 'no match'],
  ]);
  assert.equal(lines[6], '  accuracy on: the held-out split of dataset ds_pets (120 images)');
  assert.equal(lines[7], '  scored as verification scores it, aligned onto the anchor (weights from before the key was drawn)');
  assert.match(lines[8]!, /plot: weightmark plot job_attack123 --out sweep\.svg \(GET \/v1\/jobs\/job_attack123\/plot\.svg\)/);
  assert.equal(lines.length, 9);
});

test('when a training job runs or ends, then one line says what it made, or how far it is, or why it failed', () => {
  assert.equal(
    describeJob({ id: 'job_t', kind: 'train', status: 'succeeded', result: { modelId: 'mdl_m', keyId: 'key_k', testAccuracy: 0.9876 }, error: null }),
    'job_t: train succeeded\n  result: modelId mdl_m, keyId key_k, testAccuracy 98.76%',
  );
  assert.equal(describeJob({ id: 'job_t', kind: 'train', status: 'running', progress: { phase: 'training', fraction: 0.25 }, result: null, error: null }), 'job_t: train running\n  progress: 25.00% training');
  assert.equal(describeJob({ id: 'job_t', kind: 'train', status: 'failed', result: null, error: 'interrupted' }), 'job_t: train failed\n  error: interrupted');
});

test('when any other response holds a signed document, then it is named with its size, not printed', () => {
  const jws = `eyJ${'a'.repeat(400)}`;
  assert.equal(describeFields({ seq: 3, jws, reportJws: jws }), `seq: 3\njws: (signed, ${jws.length} characters; --json prints it)\nreportJws: (signed, ${jws.length} characters; --json prints it)`);
});

test('when a leaked release still carries the owner key best, then the summary names the release of the matching licensee key and scores the best key', () => {
  const candidate = (kind: string, keyId: string, r: number, licensee: string | null, releaseId: string | null, decision: string) => ({ kind, keyId, r, n: 1023, pValue: decision === 'match' ? 1e-38 : 0.4, atFloor: decision === 'match', alignment: 'as read', licensee, releaseId, decision });
  const owner = candidate('owner', 'key_owner', 0.987, null, null, 'match');
  const v = {
    id: 'ver_1', decision: 'match', evidence: 'p < 1e-06', claim: 'ownership', leakedBy: 'Globex', modelId: 'mdl_base', verdictJws: 'eyJ…', reportJws: 'eyJ…',
    report: { best: owner, conclusion: 'The suspect carries …', candidates: [owner, candidate('licensee', 'key_acme', 0.05, 'Acme Corp', 'rel_acme', 'no match'), candidate('licensee', 'key_globex', 0.977, 'Globex', 'rel_globex', 'match')] },
  };
  assert.deepEqual(describeVerification(v).split('\n'), [
    'ver_1: MATCH — claim: ownership, evidence: p < 1e-06',
    '  leaked by: Globex (release rel_globex, model mdl_base)',
    '  score: r = 0.9870 over 1023 key positions, p < 1e-38 (owner key key_owner, alignment as read)',
    '  The suspect carries …',
    '  all of it: weightmark verification ver_1 --json; the signed report: weightmark report ver_1 --out FILE.jws',
  ]);
});

test('when --quiet names a job, then a succeeded training job gives its model, a release job its release, and an attack or unfinished job itself', () => {
  assert.equal(idMadeBy({ id: 'job_t', kind: 'train', status: 'succeeded', result: { modelId: 'mdl_m' } }), 'mdl_m');
  assert.equal(idMadeBy({ id: 'job_r', kind: 'release', status: 'succeeded', result: { releaseId: 'rel_r', releaseModelId: 'mdl_r' } }), 'rel_r');
  assert.equal(idMadeBy({ id: 'job_a', kind: 'attack', status: 'succeeded', result: { modelId: 'mdl_attacked', sweep: {} } }), 'job_a');
  assert.equal(idMadeBy({ id: 'job_t', kind: 'train', status: 'failed', result: null }), 'job_t');
});
