/**
 * The README's walkthrough, run as pasted: its shell block goes to bash (errexit, pipefail) against a
 * fresh compiled service, in a folder where `npx weightmark` finds this package as an installed
 * dependency would be found. The only edit is the port: the block talks to localhost:8080, the test's
 * service listens on a free one. So the README cannot drift from the code again.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePngGrey } from '../src/formats/png.js';
import { logoPng } from '../scripts/make-logo.js';
import { tempDir } from './http-helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** The ```sh blocks of one README section (from its heading to the next `## `). */
function shellBlocks(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `README has no section '## ${heading}'`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The newest modification time under a folder (ms). */
function newest(dir: string): number {
  return Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs)));
}

/** Starts the compiled service (what `npm start` runs) on a free port with its own data and keys. */
async function startService(dir: string, env: NodeJS.ProcessEnv): Promise<{ port: number; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'serve'], { cwd: dir, env: { ...env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      const m = /"msg":"listening","port":(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.on('exit', (code) => reject(new Error(`the service exited (${code}):\n${log}`)));
  });
  return { port, child, output: () => log };
}

test('when the README walkthrough is pasted into a shell, then every step runs and the signed verdict names Globex', { timeout: 240_000 }, async () => {
  // Not skipped: `npm ci` builds dist/ (prepare), and a build older than the sources would test old code.
  const main = path.join(root, 'dist', 'cli', 'main.js');
  assert.ok(existsSync(main), 'dist/ is missing: `npm ci` builds it, or run `npm run build`');
  assert.ok(statSync(main).mtimeMs >= newest(path.join(root, 'src')) - 1000, 'dist/ is older than src/: run `npm run build`');

  const [script, ...others] = shellBlocks('Walkthrough: from training to a named leak');
  assert.ok(script && others.length === 0, 'the walkthrough is one shell block');
  assert.match(script, /localhost:8080/, 'the block talks to the port npm start listens on');

  const dir = tempDir('readme');
  // `npx weightmark` resolves through node_modules/.bin, as in a project that installed weightmark.
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(path.join(root, 'bin', 'weightmark.js'), path.join(dir, 'node_modules', '.bin', 'weightmark'));
  const { WEIGHTMARK_TOKEN: _token, WEIGHTMARK_URL: _url, ...inherited } = process.env;
  const env = { ...inherited, NODE_OPTIONS: '', WEIGHTMARK_DATA_DIR: path.join(dir, 'data'), WEIGHTMARK_KEYS_DIR: path.join(dir, 'keys'), WEIGHTMARK_LOG_LEVEL: 'info' };
  const service = await startService(dir, env);

  const started = Date.now();
  const run = spawn('bash', ['-euo', 'pipefail', '-c', script.replaceAll('localhost:8080', `127.0.0.1:${service.port}`)], {
    cwd: dir, env: { ...env, WEIGHTMARK_URL: `http://127.0.0.1:${service.port}` }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(run);
  let out = '';
  let err = '';
  run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 0, `the walkthrough failed after ${seconds.toFixed(0)} s\n--- stdout\n${out}\n--- stderr\n${err.slice(-3000)}\n--- service\n${service.output().slice(-2000)}`);

  // Step 3 printed the Acme release's id (--quiet), then the list; step 5 the CLI's summary; step 6 the offline check.
  assert.match(out, /^rel_[\w-]+$/m);
  assert.match(out, /licensee=Globex/);
  assert.match(out, /^ver_[\w-]+: MATCH — claim: ownership, evidence: p < 1e-06$/m);
  assert.match(out, /^ {2}leaked by: Globex \(release rel_[\w-]+, model mdl_[\w-]+\)$/m);
  assert.match(out, /^signature valid - match ownership p < 1e-06 leaked by Globex$/m);
  assert.doesNotMatch(out, /eyJ/, 'no signed document printed on the way');
  for (const f of ['globex.onnx', 'globex.onnx.manifest.jws', 'verification.json', 'jwks.json']) assert.ok(existsSync(path.join(dir, f)), f);
  console.log(`# README walkthrough: ${seconds.toFixed(1)} s`);
});

test('when the README trains with a picture key, then that picture is in the repository, fits a key and is what scripts/make-logo.ts makes', () => {
  const images = [...readme.matchAll(/--key-image (\S+)/g)].map((m) => m[1]!).filter((p) => p.endsWith('.png'));
  assert.ok(images.length > 0, 'the README shows --key-image');
  for (const image of images) {
    const file = path.join(root, image);
    assert.ok(existsSync(file), `${image} is missing`);
    const bytes = new Uint8Array(readFileSync(file));
    const { width, height } = decodePngGrey(bytes);
    assert.ok(width * height <= 64 * 64, `${image} is ${width}x${height}: a key picture has at most 64x64 pixels`);
    assert.deepEqual(bytes, logoPng(), `${image} differs from what scripts/make-logo.ts makes: run it again`);
  }
});
