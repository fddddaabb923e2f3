/**
 * Screenshots of every console page for the README (docs/console/*.png), taken from a real service on
 * temp dirs with real (tiny) training, in Debian's Chromium through puppeteer-core — as the browser test.
 *
 *   npx tsx scripts/console-screenshots.ts [--out docs/console]     (about a minute on 2 cores)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'puppeteer-core';
import { startWebServer } from '../src/http/server.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues } from '../src/core/extract.js';
import { initialParamSet } from '../src/core/init.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import type { Role } from '../src/crypto/signing.js';
import { downloaded, dropFile, findChromium, launchBrowser, NO_CHROMIUM, signIn } from '../test/browser-helpers.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/console' } } });
const out = path.resolve(values.out!);
const chromium = findChromium();
if (!chromium) throw new Error(NO_CHROMIUM);

/** A 32x32 picture for a picture key: a bold "W" on a light ground. */
function logo(): { width: number; height: number; pixels: Uint8Array } {
  const size = 32;
  const pixels = new Uint8Array(size * size).fill(235);
  const stroke = (x0: number, y0: number, x1: number, y1: number): void => {
    for (let t = 0; t <= 1; t += 0.01) {
      const x = Math.round(x0 + (x1 - x0) * t);
      const y = Math.round(y0 + (y1 - y0) * t);
      for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) pixels[Math.min(size - 1, Math.max(0, y + dy)) * size + Math.min(size - 1, Math.max(0, x + dx))] = 20;
    }
  };
  stroke(4, 6, 10, 26);
  stroke(10, 26, 16, 12);
  stroke(16, 12, 22, 26);
  stroke(22, 26, 28, 6);
  return { width: size, height: size, pixels };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wm-screenshots-'));
const downloads = path.join(dir, 'downloads');
fs.mkdirSync(downloads);
const server = await startWebServer({
  env: {},
  config: { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'data'), keysDir: path.join(dir, 'keys'), logLevel: 'warn' },
});
const { signing, config } = server.service.ctx;
const token = (role: Role, sub: string): string => signing.mintToken({ sub, role, ttlSec: 3600, issuer: config.issuer, audience: config.audience });
const admin = token('admin', 'alice');
const api = async (method: string, p: string, body?: unknown): Promise<Record<string, any>> => {
  const res = await fetch(server.url + p, { method, headers: { Authorization: `Bearer ${admin}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, any>;
};
const finished = async (jobId: string): Promise<Record<string, any>> => {
  for (;;) {
    const job = await api('GET', `/v1/jobs/${jobId}`);
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 250));
  }
};

const browser = await launchBrowser(chromium, downloads);
try {
  fs.mkdirSync(out, { recursive: true });
  const page = await browser.newPage();
  const shot = async (name: string, p: Page = page): Promise<void> => {
    await p.mouse.move(1, 899); // no hover highlight in the picture
    await p.screenshot({ path: path.join(out, `${name}.png`) as `${string}.png`, fullPage: true });
    console.log(`wrote ${path.join(values.out!, `${name}.png`)}`);
  };

  // the data the pages show: a trained model with two licensees, and a model registered with a picture key
  const trained = await finished((await api('POST', '/v1/models/train', { name: 'lenet-demo', arch: 'lenet5', epochs: 1, limit: 4000, strategy: 'naive' })).id);
  const modelId = trained.result.modelId as string;
  await finished((await api('POST', `/v1/models/${modelId}/releases`, { licensee: 'Acme Corp', epochs: 1, limit: 300 })).job.id);
  const base = initialParamSet('lenet5', 11);
  const pictureKey = generateKey(keyTargetsFromParamSet(base), { seed: 'screenshot-logo', id: 'key-logo', arch: 'lenet5', image: logo() });
  const logoModel = path.join(dir, 'logo-copy.safetensors');
  fs.writeFileSync(logoModel, writeSafetensors(embedValues(base, pictureKey), { arch: 'lenet5' }));
  const form = new FormData();
  form.append('file', new Blob([fs.readFileSync(logoModel)]), 'logo.safetensors');
  form.append('key', new Blob([JSON.stringify(pictureKey)]), 'logo.key.json');
  form.append('name', 'logo-keyed (uploaded)');
  form.append('arch', 'lenet5');
  const reg = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: form });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);

  await page.goto(`${server.url}/`);
  await page.waitForSelector('#signin textarea');
  await shot('sign-in');
  await signIn(page, admin);

  await page.goto(`${server.url}/#/models`);
  await page.waitForSelector('#model-list table');
  await shot('models');

  // a release issued from the console, caught while its progress streams in
  await page.goto(`${server.url}/#/releases`);
  await page.waitForSelector('#release-form select[name=model] option');
  await page.select('#release-form select[name=model]', modelId);
  await page.$eval('#release-form input[name=licensee]', (el) => ((el as HTMLInputElement).value = 'Globex'));
  await page.$eval('#release-form input[name=limit]', (el) => ((el as HTMLInputElement).value = '3000'));
  await page.click('#release-form button[type=submit]');
  await page.waitForFunction(() => /step \d+\/\d+/.test(document.querySelector('#release-form .progress-line')?.textContent ?? ''), { timeout: 60_000 });
  await shot('releases');
  await page.waitForSelector('#released', { timeout: 120_000 });
  await page.$$eval('#release-list tbody tr', (rows) => {
    const row = rows.find((r) => (r as HTMLTableRowElement).cells[0]?.textContent === 'Globex');
    (row?.querySelector('button.download') as HTMLButtonElement).click();
  });
  const leak = await downloaded(downloads);

  await page.click('#nav a[data-page=verify]');
  await page.waitForSelector('#dropzone');
  await dropFile(page, '#dropzone', leak);
  await page.waitForSelector('#evidence', { timeout: 60_000 });
  await shot('verify');
  await dropFile(page, '#dropzone', logoModel);
  await page.waitForSelector('#mark', { timeout: 60_000 });
  await shot('verify-picture-mark');

  // an attack sweep's result under Jobs: the data it measured on, the numbers, the plot
  const sweep = await finished((await api('POST', `/v1/models/${modelId}/attacks`, { attack: 'quantize', testLimit: 1000 })).id);
  if (sweep.status !== 'succeeded') throw new Error(`attack sweep: ${sweep.status} ${sweep.error}`);
  await page.goto(`${server.url}/#/jobs`);
  await page.waitForSelector('#job-list button.show-sweep');
  await page.click('#job-list button.show-sweep');
  await page.waitForSelector('#sweep-view img.sweep-plot');
  await page.$eval('#sweep-view img.sweep-plot', (img) => (img as HTMLImageElement).decode());
  await shot('attack-sweep');
  await page.click('#nav a[data-page=models]'); // away, so the jobs page below renders afresh
  await page.waitForSelector('#model-list table');

  // a job followed live on the jobs page
  await api('POST', '/v1/models/train', { name: 'lenet-second', arch: 'lenet5', epochs: 2, limit: 3000, strategy: 'naive' });
  await page.goto(`${server.url}/#/jobs`);
  await page.waitForFunction(() => /step \d+\/\d+/.test(document.querySelector('#job-list .progress-line')?.textContent ?? ''), { timeout: 60_000 });
  await shot('jobs');

  await page.goto(`${server.url}/#/audit`);
  await page.waitForSelector('#chain');
  await page.waitForSelector('#audit-list table');
  await shot('audit');

  // what a verifier is offered: the verify page only
  const verifierPage = await browser.newPage();
  await verifierPage.goto(`${server.url}/`);
  await signIn(verifierPage, token('verifier', 'court'));
  await verifierPage.waitForSelector('#dropzone');
  await dropFile(verifierPage, '#dropzone', leak);
  await verifierPage.waitForSelector('#verdict', { timeout: 60_000 });
  await shot('verify-as-verifier', verifierPage);
} finally {
  await browser.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
