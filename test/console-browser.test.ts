/**
 * The operator's console in a real browser against the real service (real training in a child process):
 * sign in, train a tiny model, issue a release with live progress, download it, drop the download on
 * the verify page and read the licensee's name. Then a verifier signs in and is offered only what its
 * role may do.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Browser, Page } from 'puppeteer-core';
import { startTestServer, tempDir, type TestServer } from './http-helpers.js';
import { downloaded, dropFile, findChromium, launchBrowser, NO_CHROMIUM, signIn, watchForErrors } from './browser-helpers.js';

const chromium = findChromium();
let s: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];
const downloads = tempDir('console-downloads');

before(async () => {
  if (!chromium) return;
  s = await startTestServer();
  browser = await launchBrowser(chromium, downloads);
  page = await browser.newPage();
  errors = watchForErrors(page);
});
after(async () => {
  await browser?.close();
  await s?.stop();
});

const text = (selector: string): Promise<string> => page.$eval(selector, (el) => el.textContent ?? '');

test('when an issuer trains, releases, downloads and verifies in the console, then the verdict names the licensee', { skip: chromium ? false : NO_CHROMIUM, timeout: 120_000 }, async () => {
  const res = await page.goto(`${s.url}/`);
  assert.match(String(res?.headers()['content-security-policy']), /script-src 'self'/);
  assert.deepEqual(await signIn(page, s.tokens.issuer), ['Models', 'Releases', 'Verify', 'Jobs'], 'an issuer has no audit log');

  // train: the smallest real run (as test/http-real-pipeline.test.ts), followed live over the event stream
  await page.waitForSelector('#train-form');
  await page.select('#train-form select[name=arch]', 'mlp');
  await page.$eval('#train-form input[name=name]', (el) => ((el as HTMLInputElement).value = 'browser-demo'));
  await page.$eval('#train-form input[name=limit]', (el) => ((el as HTMLInputElement).value = '300'));
  await page.click('#train-form button[type=submit]');
  await page.waitForSelector('#train-form .progress');
  await page.waitForSelector('#trained', { timeout: 60_000 });
  assert.match(await text('#model-list'), /browser-demo/);

  // issue a release to a licensee, with live progress
  await page.goto(`${s.url}/#/releases`);
  await page.waitForSelector('#release-form select[name=model] option');
  await page.$eval('#release-form input[name=licensee]', (el) => ((el as HTMLInputElement).value = 'Globex'));
  await page.$eval('#release-form input[name=limit]', (el) => ((el as HTMLInputElement).value = '100'));
  await page.click('#release-form button[type=submit]');
  await page.waitForSelector('#release-form .progress');
  await page.waitForSelector('#released', { timeout: 60_000 });
  const progress = await text('#release-form .progress');
  assert.match(progress, /succeeded/, 'the progress view reached the final status');

  // download it (ONNX), as a file on disk
  await page.waitForSelector('#release-list button.download');
  await page.click('#release-list button.download');
  const file = await downloaded(downloads);
  assert.match(file, /\.onnx$/);
  assert.ok(fs.statSync(file).size > 1000);

  // drop the download on the verify page
  await page.click('#nav a[data-page=verify]');
  await page.waitForSelector('#dropzone');
  await dropFile(page, '#dropzone', file);
  await page.waitForSelector('#verdict', { timeout: 30_000 });
  assert.match(await text('#verdict .decision'), /^Match$/);
  assert.equal(await text('#leaked-by'), 'Leaked by Globex');
  assert.equal(await page.$('#evidence'), null, 'an issuer gets the verdict only: no per-layer evidence');
  assert.match(await text('#verification-list'), /Globex/);

  // sweep an attack from the Models page: progress, then what it measured on, the numbers and the plot
  const issuer = { Authorization: `Bearer ${s.tokens.issuer}` };
  const model = (await s.http.get('/v1/models').set(issuer)).body.items.find((m: { name: string }) => m.name === 'browser-demo');
  await page.click('#nav a[data-page=models]');
  await page.waitForSelector(`#attack-form select[name=model] option[value="${model.id}"]`);
  await page.select('#attack-form select[name=model]', model.id);
  await page.select('#attack-form select[name=attack]', 'quantize');
  assert.equal(await text('#attack-form .strength-hint'), 'bits: 8, 7, 6, 5, 4, 3, 2');
  await page.$eval('#attack-form input[name=strengths]', (el) => ((el as HTMLInputElement).value = '8, 2'));
  await page.$eval('#attack-form input[name=testLimit]', (el) => ((el as HTMLInputElement).value = '200'));
  await page.click('#attack-form button[type=submit]');
  await page.waitForSelector('#attack-form .progress');
  await page.waitForSelector('#attack-form img.sweep-plot', { timeout: 60_000 });
  assert.match(await text('#attack-form .evaluated-on'), /^Accuracy on the mnist test set \(200 images\)\.$/);
  assert.match(await text('#attack-form .aligned-onto'), /^Scored as a verification scores it, aligned onto the anchor \(the weights from before the key was drawn\)\.$/);
  assert.match(await text('#attack-form table'), /unattacked.*8.*2/s);
  assert.ok(await page.$eval('#attack-form img.sweep-plot', async (img) => {
    await (img as HTMLImageElement).decode();
    return (img as HTMLImageElement).naturalWidth > 0;
  }), 'the plot loads as an image under the console\'s CSP');
  // and the same job's result from the Jobs page
  await page.click('#nav a[data-page=jobs]');
  await page.waitForSelector('#job-list button.show-sweep');
  await page.click('#job-list button.show-sweep');
  await page.waitForSelector('#sweep-view img.sweep-plot');
  assert.match(await text('#sweep-view .evaluated-on'), /mnist test set \(200 images\)/);
  assert.deepEqual(errors, [], 'the page reported errors (a CSP refusal shows here)');
});

test('when a verifier signs in, then the console offers only Verify, and an auditor sees the per-layer evidence and the audit chain', { skip: chromium ? false : NO_CHROMIUM, timeout: 60_000 }, async () => {
  errors.length = 0;
  await page.goto(`${s.url}/`);
  assert.deepEqual(await signIn(page, s.tokens.verifier), ['Verify']);
  await page.waitForSelector('#verification-list');
  assert.match(await text('#verification-list'), /No verifications yet/, 'a verifier sees its own verifications only');

  await page.goto(`${s.url}/`);
  assert.deepEqual(await signIn(page, s.tokens.auditor), ['Models', 'Releases', 'Verify', 'Jobs', 'Audit log']);
  await page.goto(`${s.url}/#/verify`);
  await page.waitForSelector('#dropzone');
  await dropFile(page, '#dropzone', fs.readdirSync(downloads).map((f) => `${downloads}/${f}`)[0]!);
  await page.waitForSelector('#evidence', { timeout: 30_000 });
  assert.match(await text('#evidence'), /fc1/, 'the per-layer table names the layers');
  await page.click('#nav a[data-page=audit]');
  await page.waitForSelector('#chain');
  assert.match(await text('#chain'), /Chain intact/);
  assert.match(await text('#audit-list'), /release\.create|job\.succeeded/);
  assert.deepEqual(errors, []);
});

test('when a bad token is pasted, then the sign-in form says why and nothing else is shown', { skip: chromium ? false : NO_CHROMIUM }, async () => {
  await page.goto(`${s.url}/`);
  await page.waitForSelector('#signin textarea');
  const forged = s.tokens.admin.slice(0, -4) + (s.tokens.admin.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  await page.$eval('#signin textarea', (el, t) => ((el as HTMLTextAreaElement).value = t), forged);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#signin .error');
  assert.match(await text('#signin .error'), /WM_ERR_AUTH_INVALID/);
  assert.equal(await page.$('#nav a'), null);
});
