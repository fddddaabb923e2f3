/**
 * The embedded default loads neither the PostgreSQL client, pg-boss nor the AWS SDK: they are reached only
 * through `await import(…)` when configured. Walks the static import graph from what `weightmark serve` loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/** Static imports (`import … from '…'`, `export … from '…'`), not `import('…')` expressions and not `import type`. */
function staticImports(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [path.resolve(entry)];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of staticImports(f)) {
      if (spec.startsWith('.')) todo.push(path.resolve(path.dirname(f), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, packages };
}

test('when the CLI and the service start on the embedded default, then neither pg, pg-boss nor the AWS SDK is imported', () => {
  // `weightmark serve` (npm start) loads src/cli/server.ts on demand, which starts the service
  const { files, packages } = reachable('src/cli/server.ts');
  assert.ok(files.has(path.resolve('src/http/server.ts')), 'the walk reaches the service');
  assert.ok(packages.has('express'), 'the walk sees packages');
  for (const p of ['pg', 'pg-boss', '@aws-sdk/client-s3', '@aws-sdk/lib-storage']) assert.equal(packages.has(p), false, `${p} is imported statically`);
  for (const f of ['src/store/postgres.ts', 'src/store/s3Blobs.ts', 'src/jobs/pgQueue.ts']) assert.equal(files.has(path.resolve(f)), false, `${f} is imported statically`);
});
