/**
 * The data dir holds the database (audit log, sealed keys) and model files; the keys dir holds the
 * signing and master keys. Neither may be readable by other users, whatever mode they were left in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, tempDir } from './http-helpers.js';

const mode = (p: string): string => '0' + (fs.statSync(p).mode & 0o777).toString(8);

test('when the service starts on a fresh 0755 dir, then data dir, blob dir and keys dir are 0700 and the database with its -wal/-shm 0600', async () => {
  const dir = tempDir('modes');
  fs.chmodSync(dir, 0o755);
  const s = await startTestServer({ dir });
  try {
    const data = path.join(dir, 'data');
    await s.http.post('/v1/tokens').set('Authorization', `Bearer ${s.tokens.admin}`).send({ sub: 'x', role: 'verifier' });
    assert.equal(mode(data), '0700');
    assert.equal(mode(path.join(data, 'models')), '0700');
    assert.equal(mode(path.join(dir, 'keys')), '0700');
    assert.equal(mode(path.join(dir, 'keys', 'signing')), '0700');
    for (const f of ['weightmark.db', 'weightmark.db-wal', 'weightmark.db-shm']) {
      assert.ok(fs.existsSync(path.join(data, f)), `${f} exists while the service runs`);
      assert.equal(mode(path.join(data, f)), '0600', f);
    }
  } finally {
    await s.stop();
  }
});

test('when existing dirs and files are looser, then start tightens each and logs a warning naming the path and the old and new mode', async () => {
  const dir = tempDir('modes-loose');
  const first = await startTestServer({ dir });
  await first.stop();
  const data = path.join(dir, 'data');
  const keys = path.join(dir, 'keys');
  const loose: [string, number][] = [
    [data, 0o755], [path.join(data, 'models'), 0o755], [keys, 0o755], [path.join(keys, 'signing'), 0o755],
    [path.join(data, 'weightmark.db'), 0o644], [path.join(keys, 'master.key'), 0o644],
  ];
  // an empty -wal/-shm is what SQLite leaves after a clean close on some systems; make them loose too
  for (const f of ['weightmark.db-wal', 'weightmark.db-shm']) {
    if (!fs.existsSync(path.join(data, f))) fs.writeFileSync(path.join(data, f), '');
    loose.push([path.join(data, f), 0o644]);
  }
  for (const [p, m] of loose) fs.chmodSync(p, m);
  const s = await startTestServer({ dir });
  try {
    for (const [p, m] of loose) {
      const want = fs.statSync(p).isDirectory() ? '0700' : '0600';
      if (fs.existsSync(p)) assert.equal(mode(p), want, p);
      const line = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn' && l.path === p);
      assert.ok(line, `a warning names ${p}: ${s.logs.filter((l) => l.includes('warn')).join('\n')}`);
      assert.equal(line.from, '0' + m.toString(8));
      assert.equal(line.to, want);
    }
    assert.equal((await s.http.get('/v1/models').set('Authorization', `Bearer ${s.tokens.admin}`)).status, 200, 'the service works after tightening');
  } finally {
    await s.stop();
  }
});
