// Open the quick-start notebook in a running JupyterLab with Debian's Chromium, run all cells,
// and report what the JobView panel of the %%fairing_train cell shows, as one JSON line on stdout.
//
//   JUPYTER_TOKEN=TOKEN node run_quickstart.mjs --url http://127.0.0.1:PORT \
//        [--notebook quickstart.ipynb] [--screenshot build/browser/quickstart-jobview.png] \
//        [--chromium /usr/bin/chromium] [--timeout 60] [--gate PATH]
//
// With --gate, the notebook's training run waits for PATH to exist (the test puts that wait in
// its copy of the notebook): the script creates PATH once the panel shows Running and the run's
// first log line, so the live update is seen however fast the run is, never by racing it.
// The token comes from JUPYTER_TOKEN (as for the server) or --token; it is never printed.
// The browser is the system one (playwright-core downloads none) with a fresh profile folder that
// is removed at the end. Exit code 0 when every check passed, 1 when one failed, 2 on a crash; the
// JSON line is printed in every case so the caller can say what went wrong.

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const args = {
    notebook: 'quickstart.ipynb', screenshot: 'build/browser/quickstart-jobview.png',
    chromium: '/usr/bin/chromium', timeout: '60',
  };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  args.token ??= process.env.JUPYTER_TOKEN;
  if (!args.url || !args.token) throw new Error('--url and a token (JUPYTER_TOKEN or --token) are required');
  return args;
}

// Runs in the page: true when the status bar shows a kernel (not "No Kernel") that is idle.
function kernelIdle() {
  return [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
    .some((item) => /^(?!No Kernel).+\|\s*Idle$/.test(item.textContent.trim()));
}

// Runs in the page before "Run All": remembers every phase the header shows, and how many times
// the log area changed, so the result tells whether the panel updated live.
function watchPanel() {
  const seen = { phases: [], logUpdates: 0, lastLog: '' };
  window.__fairingSeen = seen;
  const look = () => {
    const phase = document.querySelector('.fairing-jobview .fairing-phase');
    const text = phase ? phase.textContent.trim() : '';
    if (text && seen.phases[seen.phases.length - 1] !== text) seen.phases.push(text);
    const log = document.querySelector(".fairing-jobview .fairing-log");
    const logText = log ? log.textContent : '';
    if (logText !== seen.lastLog) { seen.lastLog = logText; seen.logUpdates += 1; }
  };
  new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
}

// Runs in the page after the run: the panel's parts and every code cell's outputs, as text.
function readPage() {
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : null);
  const panel = document.querySelector('.fairing-jobview');
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map((cell) => ({
    source: cell.querySelector('.jp-InputArea .cm-content')?.innerText ?? '',
    prompt: text(cell.querySelector('.jp-InputArea-prompt')),
    output: cell.querySelector('.jp-OutputArea')?.innerText ?? '',
    errors: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map((e) => e.innerText),
  }));
  return {
    panelCount: document.querySelectorAll('.fairing-jobview').length,
    header: text(panel?.querySelector('.fairing-header')),
    phase: text(panel?.querySelector('.fairing-header .fairing-phase')),
    stages: text(panel?.querySelector('.fairing-stages')),
    stageNames: [...(panel?.querySelectorAll('.fairing-stage') ?? [])].map((s) => s.textContent.trim()),
    log: [...(panel?.querySelectorAll(".fairing-log") ?? [])].map((l) => l.innerText).join("\n") || null,
    summary: text(panel?.querySelector('.fairing-summary')),
    cancelVisible: !!panel && [...panel.querySelectorAll('button')].some(
      (b) => b.textContent.includes('Cancel') && b.offsetParent !== null),
    widgetErrors: [...document.querySelectorAll('.jp-OutputArea-output')]
      .map((o) => o.innerText).filter((t) => /Error displaying widget|model not found/i.test(t)),
    cells,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const timeoutMs = Number(args.timeout) * 1000;
  const result = { ok: false, checks: {}, timings: {}, consoleErrors: [], pageErrors: [] };
  const t0 = Date.now();
  const mark = (name) => { result.timings[name] = (Date.now() - t0) / 1000; };
  const profile = mkdtempSync(join(tmpdir(), 'fairing-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 1000 },
    });
    mark('browser');
    result.browserVersion = context.browser()?.version() ?? null;
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    page.on('console', (msg) => { if (msg.type() === 'error') result.consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => result.pageErrors.push(String(err)));

    const url = `${args.url}/lab/tree/${encodeURIComponent(args.notebook)}?token=${encodeURIComponent(args.token)}`;
    await page.goto(url);
    // The notebook is open and its kernel connected when the status bar names the kernel and
    // says Idle (the toolbar's indicator already says idle while there is "No Kernel").
    await page.locator('.jp-Notebook .jp-CodeCell').first().waitFor();
    await page.waitForFunction(kernelIdle);
    mark('notebookReady');

    await page.evaluate(watchPanel);
    // Run > Run All Cells, as a user would.
    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click();
    mark('runAllClicked');

    await page.locator('.fairing-jobview .fairing-header').waitFor();
    mark('panelShown');
    if (args.gate) {
      // The run is held at its gate: the panel must show it Running with its first line, live.
      await page.waitForFunction(() => {
        const phase = document.querySelector('.fairing-jobview .fairing-phase')?.textContent.trim();
        const log = document.querySelector('.fairing-jobview .fairing-log')?.textContent ?? '';
        return phase === 'Running' && log.includes('training in process');
      });
      result.logWhileRunning = await page.evaluate(
        () => document.querySelector('.fairing-jobview .fairing-log')?.textContent ?? '');
      writeFileSync(args.gate, 'seen live\n');
      mark('gateOpened');
    }
    await page.locator('.fairing-jobview .fairing-summary').waitFor();
    mark('summaryShown');
    // Every cell done: the last cell got its execution count and the kernel went idle again.
    await page.waitForFunction(() => {
      const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
      return prompts.length > 0 && prompts.every((p) => /\[\d+\]/.test(p.textContent));
    });
    await page.waitForFunction(kernelIdle);
    mark('allCellsDone');

    Object.assign(result, await page.evaluate(readPage));
    result.seen = await page.evaluate(() => ({ phases: window.__fairingSeen.phases,
      logUpdates: window.__fairingSeen.logUpdates }));
    result.seen.gateOpened = 'gateOpened' in result.timings;
    result.seen.logWhileRunning = result.logWhileRunning ?? '';

    const panel = page.locator('.fairing-jobview');
    await panel.scrollIntoViewIfNeeded();
    result.panelBox = await panel.boundingBox();
    const shot = resolve(args.screenshot);
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    result.screenshot = shot;
    mark('screenshot');

    const c = result.checks;
    c.onePanel = result.panelCount === 1;
    c.headerNamesRun = /linreg-[0-9a-z]+/.test(result.header ?? '');
    c.headerShowsFinalPhase = result.phase === 'Succeeded';
    c.stagesCaptureAndRun = /capture/.test(result.stages ?? '') && /\brun\b/.test(result.stages ?? '');
    c.logHasEpochLines = (result.log?.match(/epoch=\d+\s+loss=/g) ?? []).length >= 5
      && /remote: weight=/.test(result.log ?? '');
    c.summarySucceeded = /Succeeded/.test(result.summary ?? '');
    c.cancelHiddenAtEnd = !result.cancelVisible;
    c.updatedLive = (!args.gate || result.seen.gateOpened) && result.seen.phases.includes('Running')
      && result.seen.phases[result.seen.phases.length - 1] === 'Succeeded';
    const box = result.panelBox;
    c.panelInScreenshot = !!box && box.y >= 0 && box.y + box.height <= page.viewportSize().height;
    c.noWidgetErrors = result.widgetErrors.length === 0;
    c.noCellErrors = result.cells.every((cell) => cell.errors.length === 0);
    c.remoteEqualsLocal = result.cells.some((cell) => cell.output.includes('the remote fit equals the local fit'));
    result.ok = Object.values(c).every(Boolean);
  } catch (err) {
    result.error = String(err?.stack ?? err);
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    result.timings.total = (Date.now() - t0) / 1000;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.error ? 2 : (result.ok ? 0 : 1);
}

main().then((code) => { process.exitCode = code; }, (err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String(err?.stack ?? err) })}\n`);
  process.exitCode = 2;
});
