import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './http-helpers.js';
import { mnistNpz } from './dataset-helpers.js';

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
