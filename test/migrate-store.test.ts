/**
 * `weightmark migrate-store` end to end: data made by the embedded service (SQLite + files), moved
 * into PostgreSQL + S3 by the CLI, then the service started on PostgreSQL + S3 with the same keys: its
 * audit chain verifies, a release downloads byte for byte as before and still names its licensee.
 * Running it again copies nothing; a database holding another install's chain is refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, safetensorsBytes, watermarked, binaryBody, StandInExecutor, tempDir, type TestServer, jobOutcome } from './http-helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-helpers.js';
import { startS3Endpoint, type S3Endpoint } from './s3-helpers.js';
import { imageFolderZip } from './dataset-helpers.js';

const skip = pgSkipReason();
const run = promisify(execFile);

let cluster: PgCluster | undefined;
let s3: S3Endpoint | undefined;
before(async () => {
  if (skip) return;
  cluster = await startPgCluster();
  s3 = await startS3Endpoint('migrate-target');
});
after(async () => {
  await s3?.stop();
  cluster?.stop();
});

const auth = (t: TestServer, role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${t.tokens[role]}` });

/** An embedded install with a registered model, a release downloaded once and a verification; stopped after. */
async function embeddedInstall(dir: string, licensee: string): Promise<{ releaseId: string; download: Buffer; auditEntries: number; dataset: { id: string; digest: string } }> {
  const t = await startTestServer({ dir, executor: new StandInExecutor(2, 5), config: { verifyWorkers: 0 } });
  try {
    const owner = watermarked(11, `key-${licensee}`);
    const reg = await t.http.post('/v1/models').set(auth(t, 'issuer')).field('arch', 'lenet5')
      .attach('file', safetensorsBytes(owner.params), 'owner.safetensors').attach('key', Buffer.from(JSON.stringify(owner.key)), 'owner.key.json');
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const rel = await t.http.post(`/v1/models/${reg.body.id}/releases`).set(auth(t, 'issuer')).send({ licensee });
    assert.equal((await jobOutcome(t, rel.body.job.id)).status, 'succeeded');
    const dl = await t.http.get(`/v1/releases/${rel.body.release.id}/download`).set(auth(t, 'issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
    assert.equal(dl.status, 200);
    const v = await t.http.post('/v1/verifications').set(auth(t, 'verifier')).attach('file', dl.body as Buffer, 'found.safetensors');
    assert.equal(v.body.leakedBy, licensee);
    const ds = await t.http.post('/v1/datasets').set(auth(t, 'issuer')).attach('file', Buffer.from(imageFolderZip({ classes: ['a', 'b'], perClass: 5 })), 'ab.zip');
    assert.equal(ds.status, 201, JSON.stringify(ds.body));
    const audit = await t.http.get('/v1/audit/verify').set(auth(t, 'auditor'));
    assert.equal(audit.body.ok, true);
    return { releaseId: rel.body.release.id, download: dl.body as Buffer, auditEntries: audit.body.entries, dataset: { id: ds.body.id, digest: ds.body.digest } };
  } finally {
    await t.stop();
  }
}

async function migrate(dataDir: string, databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...s3!.env, WEIGHTMARK_DATABASE_URL: databaseUrl };
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate-store', '--data-dir', dataDir, '--json'], { env, timeout: 120_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('when an embedded install is migrated and the service started on PostgreSQL + S3, then the chain verifies and the release downloads and verifies as before', { skip, timeout: 300_000 }, async () => {
  const dir = tempDir('migrate-src');
  const made = await embeddedInstall(dir, 'Umbrella');
  const url = await cluster!.createDatabase('migrated');

  const first = await migrate(path.join(dir, 'data'), url);
  assert.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout) as { blobs: { copied: number; present: number }; rows: Record<string, { source: number; copied: number }>; audit: { entries: number } };
  // the safetensors download of a release is the release model's own file: the same digest, one object; and the dataset's
  assert.equal(report.blobs.copied, 3, JSON.stringify(report));
  assert.equal(report.rows.datasets!.source, 1);
  assert.equal(report.audit.entries, made.auditEntries);
  for (const [table, r] of Object.entries(report.rows)) assert.equal(r.copied, r.source, `${table}: every row copied`);
  assert.equal(report.rows.verifications!.source, 1);

  const again = await migrate(path.join(dir, 'data'), url);
  assert.equal(again.code, 0, again.stderr);
  const second = JSON.parse(again.stdout) as typeof report;
  assert.equal(second.blobs.copied, 0);
  assert.equal(second.blobs.present, report.blobs.copied);
  for (const [table, r] of Object.entries(second.rows)) assert.equal(r.copied, 0, `${table}: nothing copied twice`);

  const t = await startTestServer({ dir: tempDir('migrate-dst'), env: { ...s3!.env, WEIGHTMARK_DATABASE_URL: url }, config: { verifyWorkers: 0, keysDir: path.join(dir, 'keys') } });
  try {
    assert.equal(t.server.service.store.engine, 'postgres');
    assert.equal(t.server.service.ctx.blobs.engine, 's3');
    const audit = await t.http.get('/v1/audit/verify').set(auth(t, 'auditor'));
    assert.equal(audit.body.ok, true, JSON.stringify(audit.body));
    assert.equal(audit.body.signedHead.matches, true, 'the signed head moved with the chain');
    const dl = await t.http.get(`/v1/releases/${made.releaseId}/download`).set(auth(t, 'issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
    assert.equal(dl.status, 200);
    assert.deepEqual(dl.body, made.download, 'the same signed bytes, now from the bucket');
    const v = await t.http.post('/v1/verifications').set(auth(t, 'verifier')).attach('file', dl.body as Buffer, 'found.safetensors');
    assert.equal(v.status, 201);
    assert.equal(v.body.leakedBy, 'Umbrella');
    const ds = await t.http.get(`/v1/datasets/${made.dataset.id}`).set(auth(t, 'issuer'));
    assert.equal(ds.body.digest, made.dataset.digest);
    assert.equal((await t.server.service.ctx.blobs.get(ds.body.file)).length, ds.body.file.size, 'the dataset blob moved to the bucket');
  } finally {
    await t.stop();
  }
});

test('when the target database holds another install\'s audit chain, then migrate-store refuses before writing anything', { skip, timeout: 300_000 }, async () => {
  const a = tempDir('migrate-a');
  const b = tempDir('migrate-b');
  await embeddedInstall(a, 'Acme');
  await embeddedInstall(b, 'Globex');
  const url = await cluster!.createDatabase('taken');
  assert.equal((await migrate(path.join(a, 'data'), url)).code, 0);
  const refused = await migrate(path.join(b, 'data'), url);
  assert.equal(refused.code, 1);
  assert.match(JSON.parse(refused.stdout).error, /differs from this install's: it holds another install's data/);
  assert.equal(refused.stderr.includes('postgres://'), false, 'the database URL is never printed');
});
