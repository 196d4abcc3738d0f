// What the browser scripts of a run's panel share: their command line, Debian's Chromium opened
// on a notebook in a running JupyterLab, Run All, the kernel's idle state, a screenshot, and the
// one JSON line each prints (its checks, the steps it looked at, an error with the panel's last
// look). Each script keeps only what it checks.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

// --name value pairs; the token from JUPYTER_TOKEN (never on a command line others can read).
export function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeout: '90' };
  for (let i = 0; i < argv.length; i += 2) args[argv[i].slice(2)] = argv[i + 1];
  args.token ??= process.env.JUPYTER_TOKEN;
  return args;
}

// In the page: the notebook's kernel is there and idle.
export function kernelIdle() {
  return [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
    .some((item) => /^(?!No Kernel).+\|\s*Idle$/.test(item.textContent.trim()));
}

export async function screenshot(page, path) {
  const shot = resolve(path);
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  return shot;
}

// Open --notebook in JupyterLab at --url, Run All, wait for the panel (``panel``: its CSS
// selector) to show, then ``body(page, args, result)`` fills result.steps, result.checks and
// result.ok. On an error the result says it, with ``look()`` of the page and the cells' outputs.
// The browser and its profile are always removed. Exit code: 0 ok, 1 a check failed, 2 error.
export async function runInLab(panel, look, body) {
  const args = parseArgs(process.argv.slice(2));
  const result = { checks: {}, steps: {} };
  const profile = mkdtempSync(join(tmpdir(), 'fairing-chromium-'));
  let context;
  let page;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: args.chromium, headless: true, args: FLAGS,
      viewport: { width: 1280, height: 1000 },
    });
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(Number(args.timeout) * 1000);
    await page.goto(`${args.url}/lab/tree/${encodeURIComponent(args.notebook)}`
      + `?token=${encodeURIComponent(args.token)}`);
    await page.locator('.jp-Notebook .jp-CodeCell').first().waitFor();
    await page.waitForFunction(kernelIdle);
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click();
    await page.locator(`${panel} .fairing-header`).waitFor();
    await body(page, args, result);
  } catch (err) {
    result.error = String(err?.stack ?? err);
    if (page) result.lastLook = await page.evaluate(look).catch((e) => String(e));
    if (page) {
      result.outputs = await page.evaluate(() => [...document.querySelectorAll('.jp-OutputArea')]
        .map((o) => o.innerText.slice(0, 500))).catch(() => null);
    }
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.error ? 2 : (result.ok ? 0 : 1);
}
