import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './http-helpers.js';
import { i64npy, mnistNpz, mnistSubset, npzOf, u8npy } from './dataset-helpers.js';

test('when a small MNIST npz is uploaded and an mlp trained on it for 1 epoch through the API, then the job reports accuracy on its held-out split, and a release fine-tunes on it', { timeout: 180_000 }, async () => {
  const s = await startTestServer(); // the real child-process trainer
  const as = (role: 'issuer' | 'auditor') => ({ Authorization: `Bearer ${s.tokens[role]}` });
  const finished = async <R>(id: string): Promise<{ status: string; error: string | null; result: R }> => {
    for (let i = 0; i < 1500; i++) {
      const job = (await s.http.get(`/v1/jobs/${id}`).set(as('issuer'))).body;
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
        assert.equal(job.status, 'succeeded', String(job.error));
        return job;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not finish`);
  };
  try {
    const up = await s.http.post('/v1/datasets').set(as('issuer')).attach('file', Buffer.from(mnistNpz(300)), 'mnist300.npz');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    // 10% of each class, rounded per class
    assert.ok(up.body.split.heldOut >= 25 && up.body.split.heldOut <= 35, String(up.body.split.heldOut));
    const res = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'mlp', epochs: 1, datasetId: up.body.id, strategy: 'naive', batchSize: 16, seed: 3 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const job = await finished<{ testAccuracy: number; evaluatedOn: { samples: number }; modelId: string }>(res.body.id);
    const { testAccuracy, evaluatedOn } = job.result;
    console.log(`held-out accuracy after 1 epoch on ${up.body.split.train} MNIST samples: ${testAccuracy}`);
    assert.equal(evaluatedOn.samples, up.body.split.heldOut);
    // ~30 held-out samples of 10 classes: chance is 0.1; one epoch of ~17 steps gets well past it
    assert.ok(testAccuracy > 0.3, `held-out accuracy ${testAccuracy}`);

    const rel = await s.http.post(`/v1/models/${job.result.modelId}/releases`).set(as('issuer')).send({ licensee: 'acme', epochs: 1 });
    assert.equal(rel.status, 202, JSON.stringify(rel.body));
    const released = await finished<{ testAccuracy: number }>(rel.body.job.id);
    console.log(`release (fine-tuned on the upload's training split): held-out accuracy ${released.result.testAccuracy}`);
    assert.ok(released.result.testAccuracy > 0.3);
  } finally {
    await s.stop();
  }
});

test('when a model trained on an uploaded dataset is attacked through the API, then accuracy is measured on that dataset\'s held-out split and fine-tuning trains on its training split', { timeout: 180_000 }, async () => {
  const s = await startTestServer();
  const as = { Authorization: `Bearer ${s.tokens.issuer}` };
  const finished = async <R>(id: string): Promise<R> => {
    for (let i = 0; i < 1500; i++) {
      const job = (await s.http.get(`/v1/jobs/${id}`).set(as)).body;
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
        assert.equal(job.status, 'succeeded', String(job.error));
        return job.result as R;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not finish`);
  };
  try {
    // MNIST digits labelled digit+1 (mod 10): learnable, and unlike MNIST's own labels, so a model
    // scored on MNIST's test set, or fine-tuned on MNIST, would lose what it learned here.
    const { x, y } = mnistSubset(300);
    const up = await s.http.post('/v1/datasets').set(as).attach('file', Buffer.from(npzOf({ x: u8npy([300, 28, 28], x), y: i64npy([300], [...y].map((d) => (d + 1) % 10)) })), 'shifted.npz');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const train = await s.http.post('/v1/models/train').set(as).send({ arch: 'mlp', epochs: 2, datasetId: up.body.id, strategy: 'naive', batchSize: 16, seed: 3 });
    assert.equal(train.status, 202, JSON.stringify(train.body));
    const trained = await finished<{ testAccuracy: number; modelId: string }>(train.body.id);
    assert.ok(trained.testAccuracy > 0.3, `held-out accuracy ${trained.testAccuracy}`);

    const attack = await s.http.post(`/v1/models/${trained.modelId}/attacks`).set(as).send({ attack: 'fine-tune', strengths: [1], invariant: false });
    assert.equal(attack.status, 202, JSON.stringify(attack.body));
    const swept = await finished<{ evaluatedOn: unknown; sweep: { series: { baseline: { accuracy: number }; points: { accuracy: number }[] }[] } }>(attack.body.id);
    assert.deepEqual(swept.evaluatedOn, { datasetId: up.body.id, split: 'held-out', samples: up.body.split.heldOut });
    const [series] = swept.sweep.series;
    assert.equal(series!.baseline.accuracy, trained.testAccuracy, 'the unattacked model scores what its training job reported, on the same split');
    console.log(`fine-tuned 1 epoch on the upload: held-out accuracy ${series!.points[0]!.accuracy} (unattacked ${trained.testAccuracy})`);
    assert.ok(series!.points[0]!.accuracy > 0.3, `fine-tuned accuracy ${series!.points[0]!.accuracy}: fine-tuning on other labels would have unlearned the upload's`);
  } finally {
    await s.stop();
  }
});
