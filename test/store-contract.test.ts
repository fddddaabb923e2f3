/**
 * The store contract (src/store/types.ts), run against each engine: SQLite always, PostgreSQL when its
 * binaries are installed (a throwaway cluster from ./pg-helpers.ts, one database per test).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { PgStore } from '../src/store/postgres.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { ChainVerifier } from '../src/store/auditChain.js';
import { LeaseLost, type AuditHeadSigner, type JobRecord, type ModelRecord, type ReleaseRecord, type Store } from '../src/store/types.js';
import type { ServiceStore } from '../src/store/open.js';
import { tempDir } from './http-helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-helpers.js';
import { Keystore } from '../src/crypto/keystore.js';
import { rotateMasterKey } from '../src/service/rotateMasterKey.js';

/** A stand-in signer: the contract is that the store stores what the signer returns, with the head it was given. */
const signHead: AuditHeadSigner = (h) => ({ kid: 'test-kid', jws: `signed:${h.seq}:${h.headHash}` });

const model = (id: string, createdAt: string): ModelRecord => ({
  id, name: `model ${id}`, arch: 'lenet5', source: 'upload', format: 'safetensors', files: [{ name: 'm.safetensors', sha256: 'a'.repeat(64), size: 12 }],
  paramCount: 3_000_000_000, ownerKeyId: null, parentModelId: null, createdBy: 'issuer-1', createdAt, meta: { note: 'ünïcode' },
});
const job = (id: string, createdAt: string): JobRecord => ({
  id, kind: 'train', status: 'queued', input: { epochs: 1 }, progress: null, result: null, error: null, createdBy: 'issuer-1', createdAt, startedAt: null, finishedAt: null,
});
const release = (id: string, modelId: string, licensee: string, createdAt: string): ReleaseRecord => ({
  id, modelId, licensee, status: 'pending', jobId: null, keyId: null, releaseModelId: null, createdBy: 'issuer-1', createdAt, error: null,
});
const audit = (action: string, target: string | null = null) => ({ actor: 'admin-1', role: 'admin' as const, action, target, details: { n: 1 } });

async function verifyChain(store: Store): Promise<{ ok: boolean; entries: number; headHash: string }> {
  const v = new ChainVerifier();
  await store.eachAudit((e) => v.push(e));
  return v.result();
}

interface Engine {
  name: string;
  skip?: string;
  open(label: string, opts?: { signHead?: AuditHeadSigner }): Promise<ServiceStore>;
}

let cluster: PgCluster | undefined;
let dbCount = 0;
const engines: Engine[] = [
  { name: 'sqlite', open: async (label, opts = { signHead }) => new SqliteStore(path.join(tempDir(`store-${label}`), 'weightmark.db'), opts) },
  {
    name: 'postgres',
    skip: pgSkipReason(),
    open: async (_label, opts = { signHead }) => PgStore.open(await cluster!.createDatabase(`contract_${++dbCount}`), opts),
  },
];

before(async () => {
  if (!pgSkipReason()) cluster = await startPgCluster();
});
after(() => cluster?.stop());

for (const engine of engines) {
  describe(`store contract on ${engine.name}`, { skip: engine.skip }, () => {
    const open: Engine['open'] = async (label, opts) => engine.open(label, opts);

    test('when opened, then every migration is applied', async () => {
      const s = await open('migrations');
      assert.equal(s.schemaVersion(), MIGRATIONS[MIGRATIONS.length - 1]!.version);
      await s.close();
    });

    test('when models, keys and jobs are written, then they read back equal, paged newest first', async () => {
      const s = await open('records');
      const v0 = await s.keyIndexVersion();
      await s.write((w) => {
        w.insertModel(model('m1', '2026-01-01T00:00:00.000Z'));
        w.insertModel(model('m2', '2026-01-02T00:00:00.000Z'));
        w.insertKey({ id: 'k1', modelId: 'm1', kind: 'owner', sealed: 'sealed-1', n: 64, createdAt: '2026-01-01T00:00:01.000Z' });
        w.setModelOwnerKey('m1', 'k1');
        w.insertJob(job('j1', '2026-01-01T00:00:00.000Z'));
        w.insertJob(job('j2', '2026-01-02T00:00:00.000Z'));
      });
      assert.deepEqual(await s.getModel('m2'), model('m2', '2026-01-02T00:00:00.000Z'));
      assert.equal((await s.getModel('m1'))?.ownerKeyId, 'k1');
      assert.equal(await s.getModel('nope'), undefined);
      const page = await s.listModels({ limit: 1, offset: 0 });
      assert.deepEqual([page.items.map((m) => m.id), page.total], [['m2'], 2]);
      assert.deepEqual(await s.getKey('k1'), { id: 'k1', modelId: 'm1', kind: 'owner', sealed: 'sealed-1', n: 64, createdAt: '2026-01-01T00:00:01.000Z' });
      assert.deepEqual((await s.listKeyRefs()).map((k) => [k.id, k.n]), [['k1', 64]]);
      assert.notEqual(await s.keyIndexVersion(), v0, 'adding a key moves the index version');

      await s.write((w) => w.updateJob('j1', { status: 'succeeded', result: { acc: 0.5 }, finishedAt: '2026-01-03T00:00:00.000Z' }));
      const j1 = await s.getJob('j1');
      assert.deepEqual([j1?.status, j1?.result, j1?.finishedAt, j1?.progress], ['succeeded', { acc: 0.5 }, '2026-01-03T00:00:00.000Z', null]);
      const queued = await s.listJobs({ limit: 10, offset: 0, status: 'queued' });
      assert.deepEqual([queued.items.map((j) => j.id), queued.total], [['j2'], 1]);
      await s.close();
    });

    test('when datasets are written, then they read back equal by id and by digest, paged newest first, and a second record of one digest is refused', async () => {
      const s = await open('datasets');
      const ds = (id: string, digest: string, createdAt: string) => ({
        id, name: `set ${id}`, format: 'npz', digest, file: { name: 'dataset.bin', sha256: digest, size: 1234 }, shape: [28, 28, 1] as [number, number, number],
        samples: 300, classes: ['0', '1'], classCounts: [150, 150], split: { holdout: 0.1, seed: 42, train: 270, heldOut: 30, digest: 'ab'.repeat(32) },
        mean: [0.13], std: [0.31], createdBy: 'issuer-1', createdAt,
      });
      const d1 = ds('ds_1', 'a'.repeat(64), '2026-01-01T00:00:00.000Z');
      const d2 = ds('ds_2', 'b'.repeat(64), '2026-01-02T00:00:00.000Z');
      await s.write((w) => {
        w.insertDataset(d1);
        w.insertDataset(d2);
      });
      assert.deepEqual(await s.getDataset('ds_1'), d1);
      assert.deepEqual(await s.getDatasetByDigest('b'.repeat(64)), d2);
      assert.equal(await s.getDatasetByDigest('c'.repeat(64)), undefined);
      const page = await s.listDatasets({ limit: 1, offset: 0 });
      assert.deepEqual([page.items.map((d) => d.id), page.total], [['ds_2'], 2]);
      await assert.rejects(s.write((w) => w.insertDataset({ ...d1, id: 'ds_3' })));
      assert.equal((await s.listDatasets({ limit: 10, offset: 0 })).total, 2);
      await s.close();
    });

    test('when a job was taken over by another attempt or already settled, then a unit that expects otherwise is rolled back whole', async () => {
      const s = await open('lease');
      await s.write((w) => w.insertJob(job('j1', '2026-01-01T00:00:00.000Z')));
      await s.write((w) => {
        w.expectJobLease('j1', null);
        w.updateJob('j1', { status: 'running', lease: 'attempt-1' });
      });
      await s.write((w) => w.updateJob('j1', { lease: 'attempt-2' }));
      const late = s.write((w) => {
        w.expectJobLease('j1', 'attempt-1');
        w.updateJob('j1', { status: 'succeeded' });
        w.appendAudit(audit('job.succeeded', 'j1'));
      });
      await assert.rejects(late, LeaseLost);
      assert.equal((await s.getJob('j1'))?.status, 'running');
      assert.equal((await verifyChain(s)).entries, 0, 'its audit entry went with it');
      await assert.rejects(s.write((w) => w.expectJobLease('j1', null)), LeaseLost, 'a held job is not free');
      await s.write((w) => {
        w.expectJobLease('j1', 'attempt-2');
        w.updateJob('j1', { status: 'succeeded' });
      });
      assert.equal((await s.getJob('j1'))?.status, 'succeeded');
      await assert.rejects(s.write((w) => {
        w.expectJobActive('j1');
        w.updateJob('j1', { status: 'cancelled', lease: null });
      }), LeaseLost, 'a final job is not cancelled after the fact');
      assert.equal((await s.getJob('j1'))?.status, 'succeeded');
      await s.close();
    });

    test('when releases and artifacts are written, then filters, patches and artifact replacement hold', async () => {
      const s = await open('releases');
      await s.write((w) => {
        w.insertModel(model('m1', '2026-01-01T00:00:00.000Z'));
        w.insertRelease(release('r1', 'm1', 'acme', '2026-01-01T00:00:00.000Z'));
        w.insertRelease(release('r2', 'm1', 'globex', '2026-01-02T00:00:00.000Z'));
        w.insertArtifact({ releaseId: 'r1', format: 'safetensors', files: [], manifestJws: 'first', createdAt: '2026-01-01T00:00:00.000Z' });
      });
      await s.write((w) => {
        w.updateRelease('r1', { status: 'ready', error: null });
        w.insertArtifact({ releaseId: 'r1', format: 'safetensors', files: [], manifestJws: 'second', createdAt: '2026-01-02T00:00:00.000Z' });
      });
      assert.equal((await s.getRelease('r1'))?.status, 'ready');
      const acme = await s.listReleases({ limit: 10, offset: 0, licensee: 'acme' });
      assert.deepEqual([acme.items.map((r) => r.id), acme.total], [['r1'], 1]);
      assert.equal((await s.listReleases({ limit: 10, offset: 0, modelId: 'm1' })).total, 2);
      assert.equal((await s.getArtifact('r1', 'safetensors'))?.manifestJws, 'second');
      assert.equal(await s.getArtifact('r1', 'onnx'), undefined);
      await s.close();
    });

    test('when verifications, commitments and sketches are written, then they read back and sketches are trimmed per subject', async () => {
      const s = await open('verifications');
      const v = { id: 'v1', createdBy: 'verifier-1', createdAt: '2026-01-01T00:00:00.000Z', decision: 'match' as const, pValue: 1.2345678901234e-12, report: { a: 1 }, reportJws: 'r.jws', verdict: { d: 'match' }, verdictJws: 'v.jws' };
      const c = { digest: 'd'.repeat(64), sealed: 'sealed', jws: 'c.jws', subject: 'lenet', createdBy: 'issuer-1', createdAt: '2026-01-01T00:00:00.000Z' };
      await s.write((w) => {
        w.insertVerification(v);
        w.insertCommitment(c);
        for (let i = 0; i < 4; i++) {
          w.insertUploadSketch({ verificationId: `s${i}`, subject: 'verifier-1', signature: 'sig', digest: `x${i}`, sketch: new Float32Array([i, 0.5, -1]), createdAt: `2026-01-0${i + 1}T00:00:00.000Z` }, 3);
        }
      });
      assert.deepEqual(await s.getVerification('v1'), v, 'a p-value keeps double precision');
      assert.equal((await s.listVerifications({ limit: 10, offset: 0, createdBy: 'someone-else' })).total, 0);
      assert.deepEqual(await s.getCommitment(c.digest), c);
      const sketches = await s.recentUploadSketches('verifier-1', 'sig', 10);
      assert.deepEqual(sketches.map((k) => k.verificationId), ['s3', 's2', 's1'], 'the oldest beyond 3 was trimmed');
      assert.deepEqual([...sketches[0]!.sketch], [3, 0.5, -1]);
      await s.close();
    });

    test('when the master key is rotated, then every key and commitment opens with the new key only, with one audit entry; a secret the current key cannot open stops it before any write', async () => {
      const s = await open('rotation');
      const [oldKs, newKs, otherKs] = [1, 2, 3].map((b) => new Keystore(Buffer.alloc(32, b)));
      const c = { digest: 'e'.repeat(64), sealed: oldKs!.seal('{"commitment":1}', 'e'.repeat(64)), jws: 'c.jws', subject: 's', createdBy: 'issuer-1', createdAt: '2026-01-01T00:00:00.000Z' };
      await s.write((w) => {
        w.insertModel(model('m1', '2026-01-01T00:00:00.000Z'));
        for (const id of ['k1', 'k2']) w.insertKey({ id, modelId: 'm1', kind: 'owner', sealed: oldKs!.seal(`{"key":"${id}"}`, id), n: 8, createdAt: '2026-01-01T00:00:01.000Z' });
        w.insertCommitment(c);
      });
      await assert.rejects(rotateMasterKey(s, otherKs!, newKs!, 'test'), /watermark key 'k1' does not open with the current master key.*nothing was changed/);
      assert.equal(oldKs!.open((await s.getKey('k1'))!.sealed, 'k1'), '{"key":"k1"}', 'the refused rotation wrote nothing');
      assert.deepEqual(await rotateMasterKey(s, oldKs!, newKs!, 'test'), { keys: 2, commitments: 1 });
      for (const id of ['k1', 'k2']) {
        const sealed = (await s.getKey(id))!.sealed;
        assert.equal(newKs!.open(sealed, id), `{"key":"${id}"}`);
        assert.throws(() => oldKs!.open(sealed, id));
      }
      assert.equal(newKs!.open((await s.getCommitment(c.digest))!.sealed, c.digest), '{"commitment":1}');
      const entries: string[] = [];
      await s.eachAudit((e) => void entries.push(e.action));
      assert.deepEqual(entries, ['master-key.rotate']);
      await s.close();
    });

    test('when the quota is taken, then it counts up to the limit and refuses past it', async () => {
      const s = await open('quota');
      const taken = [];
      for (let i = 0; i < 4; i++) taken.push(await s.takeQuota('verifier-1', '2026-01-01', 3));
      assert.deepEqual(taken, [1, 2, 3, undefined]);
      assert.equal(await s.takeQuota('verifier-1', '2026-01-02', 3), 1, 'a new day starts again');
      assert.equal(await s.takeQuota('verifier-2', '2026-01-01', 3), 1, 'subjects count apart');
      await s.close();
    });

    test('when units append audit entries, then the chain verifies, filters work and each unit leaves a signed head', async () => {
      const s = await open('audit');
      assert.equal(await s.latestAuditCheckpoint(), undefined);
      await s.write((w) => {
        w.appendAudit(audit('model.create', 'm1'));
        w.appendAudit(audit('key.create', 'k1'));
      });
      await s.write((w) => w.appendAudit({ ...audit('token.mint'), actor: 'issuer-1', role: 'issuer' }));
      const chain = await verifyChain(s);
      assert.deepEqual([chain.ok, chain.entries], [true, 3]);
      const cp = await s.latestAuditCheckpoint();
      assert.deepEqual([cp?.seq, cp?.headHash, cp?.kid, cp?.jws], [3, chain.headHash, 'test-kid', `signed:3:${chain.headHash}`]);
      assert.deepEqual((await s.listAudit({ limit: 10, actor: 'issuer-1' })).map((e) => e.seq), [3]);
      assert.deepEqual((await s.listAudit({ limit: 10, action: 'key.create' })).map((e) => e.target), ['k1']);
      assert.deepEqual((await s.listAudit({ limit: 1, afterSeq: 1 })).map((e) => e.seq), [2]);
      await s.close();
    });

    test('when a unit fails part way, then none of it is stored: no row, no audit entry, no checkpoint', async () => {
      const s = await open('rollback');
      await s.write((w) => w.insertModel(model('m1', '2026-01-01T00:00:00.000Z')));
      await assert.rejects(s.write((w) => {
        w.insertModel(model('m2', '2026-01-02T00:00:00.000Z'));
        w.appendAudit(audit('model.create', 'm2'));
        w.insertModel(model('m1', '2026-01-03T00:00:00.000Z')); // duplicate id
      }));
      assert.equal(await s.getModel('m2'), undefined);
      assert.equal((await verifyChain(s)).entries, 0);
      assert.equal(await s.latestAuditCheckpoint(), undefined);
      await s.close();
    });

    test('when opened without a head signer, then a unit that appends audit entries is refused', async () => {
      const s = await open('unsigned', {});
      await assert.rejects(s.write((w) => w.appendAudit(audit('x'))), /without an audit head signer/);
      assert.equal((await verifyChain(s)).entries, 0);
      await s.close();
    });
  });
}

describe('both engines reach the same schema', { skip: pgSkipReason() }, () => {
  test('when both are migrated, then they have the same tables, columns and nullability', async () => {
    const lite = new SqliteStore(path.join(tempDir('store-schema'), 'weightmark.db'));
    const pgs = await PgStore.open(await cluster!.createDatabase('schema_compare'));
    const fromLite = new Map<string, string[]>();
    const tables = lite.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    for (const { name } of tables) {
      const cols = lite.db.prepare('SELECT name, "notnull" AS nn FROM pragma_table_info(?)').all(name) as { name: string; nn: number }[];
      // SQLite's INTEGER PRIMARY KEY is NOT NULL without saying so
      const pk = lite.db.prepare('SELECT name FROM pragma_table_info(?) WHERE pk > 0').all(name) as { name: string }[];
      fromLite.set(name, cols.map((c) => `${c.name}${c.nn || pk.some((p) => p.name === c.name) ? ' not null' : ''}`).sort());
    }
    const rows = (await pgs.pool.query(
      "SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name",
    )).rows as { table_name: string; column_name: string; is_nullable: string }[];
    const fromPg = new Map<string, string[]>();
    for (const r of rows) fromPg.set(r.table_name, [...(fromPg.get(r.table_name) ?? []), `${r.column_name}${r.is_nullable === 'NO' ? ' not null' : ''}`]);
    for (const [t, cols] of fromPg) fromPg.set(t, cols.sort());
    assert.deepEqual(Object.fromEntries([...fromPg].sort()), Object.fromEntries([...fromLite].sort()));
    assert.equal(pgs.schemaVersion(), lite.schemaVersion());
    await lite.close();
    await pgs.close();
  });
});
