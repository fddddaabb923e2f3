#!/usr/bin/env node
// The published entry point: the compiled build (dist/, made by `npm ci` or `npm run build`). In a
// checkout without it (development), the TypeScript sources run through tsx instead.
import { existsSync } from 'node:fs';

if (existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
