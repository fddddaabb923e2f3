// The runnable build: tsc compiles src/ to dist/ (same depth, so paths computed from import.meta.url —
// openapi.yaml, the shared datasets folder — resolve the same from either), then the worker bootstraps
// (.mjs, not compiled) are copied beside their workers, and the console's static files (src/web) to
// dist/web, where the compiled server looks for them. Run by `npm ci` (prepare) and `npm run build`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
const copy = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) copy(p);
    else if (e.name.endsWith('.mjs')) {
      const to = join(root, 'dist', relative(join(root, 'src'), p));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(p, to);
    }
  }
};
copy(join(root, 'src'));
cpSync(join(root, 'src', 'web'), join(root, 'dist', 'web'), { recursive: true });
