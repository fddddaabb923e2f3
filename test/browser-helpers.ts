/**
 * A real browser for the console tests and screenshots: Debian's Chromium driven by puppeteer-core
 * (which downloads nothing). `.ci/run` installs Chromium when it is missing; on a machine without it the
 * browser tests skip, saying why.
 */
import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The browser to drive: WEIGHTMARK_CHROMIUM, else Debian's chromium; undefined when there is none. */
export function findChromium(): string | undefined {
  const given = process.env.WEIGHTMARK_CHROMIUM;
  if (given) return fs.existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => fs.existsSync(p));
}

export const NO_CHROMIUM = 'no Chromium found (apt-get install -y chromium, or set WEIGHTMARK_CHROMIUM); .ci/run installs it';

export async function launchBrowser(executablePath: string, downloadDir?: string): Promise<Browser> {
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'],
    defaultViewport: { width: 1280, height: 900 },
  });
  if (downloadDir) {
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir });
  }
  return browser;
}

/** Collects what the page reports as broken (script errors, CSP refusals, failed loads), to assert it stays empty. */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on('console', (m) => {
    // a refused request is reported below with its URL
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  return errors;
}

/** Pastes a token into the sign-in form and waits for the navigation it unlocks. */
export async function signIn(page: Page, token: string): Promise<string[]> {
  await page.waitForSelector('#signin textarea');
  await page.$eval('#signin textarea', (el, t) => ((el as HTMLTextAreaElement).value = t), token);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#signout');
  return page.$$eval('#nav a', (as) => as.map((a) => a.textContent ?? ''));
}

/** Waits for a file to finish downloading into `dir` (Chromium writes `.crdownload` until then). */
export async function downloaded(dir: string, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const done = fs.readdirSync(dir).filter((f) => !f.endsWith('.crdownload'));
    if (done.length) return path.join(dir, done[0]!);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no download arrived in ${dir} within ${timeoutMs} ms`);
}

/**
 * Drops a file on an element the way a user dragging it from the desktop does: a `drop` event whose
 * DataTransfer holds the file (puppeteer cannot drag from outside the page).
 */
export async function dropFile(page: Page, selector: string, file: string): Promise<void> {
  const b64 = fs.readFileSync(file).toString('base64');
  await page.$eval(selector, (el, name, data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, path.basename(file), b64);
}
