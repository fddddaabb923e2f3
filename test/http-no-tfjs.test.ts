import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadContract } from '../src/http/contract.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Static imports reachable from a module (dynamic `import()` is not followed: it only runs when called). */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (/^\s*import\s+type\s/.test(m[0]) || /^\s*export\s+type\s/.test(m[0])) continue;
      if (spec.startsWith('.')) {
        const resolved = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
        visit(fs.existsSync(resolved) ? resolved : resolved.replace(/\.ts$/, '.js'));
      } else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

test('when the service process starts, then nothing it imports statically loads tfjs (training runs in a child process)', () => {
  const { files, packages } = staticGraph(path.join(root, 'src/http/server.ts'));
  assert.ok(files.size > 20);
  assert.deepEqual([...packages].filter((p) => p.startsWith('@tensorflow')), []);
  assert.ok(![...files].some((f) => f.includes('/src/training/')), 'no training module in the service process');
});

test('when the contract is read, then every operation declares its roles and a problem response', () => {
  const contract = loadContract();
  const doc = contract.document as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  for (const op of contract.operations) {
    assert.ok(op.roles.length > 0, `${op.operationId} has no x-roles`);
    const responses = doc.paths[op.path]![op.method]!.responses;
    if (!op.roles.includes('public')) assert.ok(responses.default, `${op.operationId} has no default problem response`);
  }
});
