// Open a notebook whose %%fairing_sweep holds its last trial at a gate, in a running JupyterLab
// with Debian's Chromium; check the trial table live, show one trial's log on demand, screenshot
// the panel, then let the sweep end. One JSON line on stdout.
//
//   JUPYTER_TOKEN=TOKEN node sweep_run.mjs --url http://127.0.0.1:PORT --notebook sweep.ipynb \
//        --gate PATH --screenshot build/browser/sweep-trials.png [--chromium PATH]
//
// The trial with x=6 waits at the gate (a file the script creates once it saw the table with
// the five other trials done): nothing races the sweep's speed.

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeout: '90' };
  for (let i = 0; i < argv.length; i += 2) args[argv[i].slice(2)] = argv[i + 1];
  args.token ??= process.env.JUPYTER_TOKEN;
  return args;
}

function kernelIdle() {
  return [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
    .some((item) => /^(?!No Kernel).+\|\s*Idle$/.test(item.textContent.trim()));
}

// In the page: the table's rows, the best row, the chart, the trial log shown.
function look() {
  const panel = document.querySelector('.fairing-sweepview');
  const rows = [...(panel?.querySelectorAll('.fairing-trials tr.fairing-trial') ?? [])];
  const best = panel?.querySelector('.fairing-trials tr.fairing-best');
  return {
    phase: panel?.querySelector('.fairing-phase')?.textContent.trim() ?? null,
    rows: rows.map((r) => ({ trial: r.dataset.trial, status: r.dataset.status,
      cells: [...r.querySelectorAll('td')].map((td) => td.textContent.trim()) })),
    best: best ? { trial: best.dataset.trial, background: getComputedStyle(best).backgroundColor,
      cells: [...best.querySelectorAll('td')].map((td) => td.textContent.trim()) } : null,
    chartLines: panel?.querySelectorAll('.fairing-chart polyline, .fairing-chart circle').length ?? 0,
    trialLog: (panel?.querySelector('.fairing-trial-log')?.innerText ?? '').trim(),
    options: [...(panel?.querySelectorAll('select option') ?? [])].map((o) => o.textContent.replace(/\u00a0/g, ' ')),
    summary: panel?.querySelector('.fairing-summary')?.textContent ?? null,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const result = { checks: {}, steps: {} };
  const profile = mkdtempSync(join(tmpdir(), 'fairing-chromium-'));
  let context;
  let page;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: args.chromium, headless: true, args: FLAGS, viewport: { width: 1280, height: 1000 },
    });
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(Number(args.timeout) * 1000);
    await page.goto(`${args.url}/lab/tree/${encodeURIComponent(args.notebook)}?token=${encodeURIComponent(args.token)}`);
    await page.locator('.jp-Notebook .jp-CodeCell').first().waitFor();
    await page.waitForFunction(kernelIdle);
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click();
    await page.locator('.fairing-sweepview .fairing-header').waitFor();

    // The five trials that do not wait are done; the sixth runs (held at the gate).
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('.fairing-sweepview tr.fairing-trial')];
      return rows.length === 6 && rows.filter((r) => r.dataset.status === 'Succeeded').length === 5
        && rows.filter((r) => r.dataset.status === 'Running').length === 1;
    });
    await page.waitForTimeout(600);
    result.steps.held = await page.evaluate(look);
    // The user asks for the best trial's log.
    const best = result.steps.held.best;
    const select = page.locator('.fairing-sweepview select');
    const index = result.steps.held.options.findIndex((o) => o.startsWith(`trial ${best.trial}: `));
    await select.selectOption({ index });
    await page.waitForFunction(() => /m=/.test(
      document.querySelector('.fairing-sweepview .fairing-trial-log')?.innerText ?? ''));
    await page.waitForTimeout(400);
    result.steps.log = await page.evaluate(look);
    const panel = page.locator('.fairing-sweepview');
    await panel.scrollIntoViewIfNeeded();
    const shot = resolve(args.screenshot);
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    result.screenshot = shot;
    writeFileSync(args.gate, 'open\n');
    await page.locator('.fairing-sweepview .fairing-summary').waitFor();
    await page.waitForFunction(kernelIdle);
    await page.waitForTimeout(600);
    result.steps.end = await page.evaluate(look);

    const { held, log, end } = result.steps;
    const c = result.checks;
    c.tableLive = held.rows.length === 6 && held.phase === 'Running';
    c.bestHighlighted = held.best !== null && held.best.cells[0].startsWith('★')
      && held.best.background !== 'rgba(0, 0, 0, 0)';
    c.bestIsLowest = held.best !== null && held.rows.filter((r) => r.status === 'Succeeded')
      .every((r) => Number(r.cells[3]) >= Number(held.best.cells[3]));
    c.chartDrawn = held.chartLines >= 2;
    c.logOnDemand = /m=/.test(log.trialLog) && /x is/.test(log.trialLog);
    c.endSucceeded = end.phase === 'Succeeded' && /best m=0/.test(end.summary ?? '')
      && end.rows.every((r) => r.status === 'Succeeded');
    result.ok = Object.values(c).every(Boolean);
  } catch (err) {
    result.error = String(err?.stack ?? err);
    if (page) result.lastLook = await page.evaluate(look).catch((e) => String(e));
    if (page) result.outputs = await page.evaluate(() => [...document.querySelectorAll('.jp-OutputArea')]
      .map((o) => o.innerText.slice(0, 500))).catch(() => null);
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.error ? 2 : (result.ok ? 0 : 1);
}

main().then((code) => { process.exitCode = code; });
