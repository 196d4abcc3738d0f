// Open a notebook whose %%fairing_train cell runs long, in a running JupyterLab with Debian's
// Chromium; Run All, click the JobView panel's Cancel button while the cell waits, and report what
// the panel and the cells show, as one JSON line on stdout.
//
//   JUPYTER_TOKEN=TOKEN node cancel_run.mjs --url http://127.0.0.1:PORT --notebook cancel.ipynb \
//        [--chromium /usr/bin/chromium] [--timeout 60]
//
// Same conventions as run_quickstart.mjs: the token is never printed, the browser profile is a
// fresh folder removed at the end; exit 0 when every check passed, 1 when one failed, 2 on a crash.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeout: '60' };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  args.token ??= process.env.JUPYTER_TOKEN;
  if (!args.url || !args.token || !args.notebook) throw new Error('--url, --notebook and a token are required');
  return args;
}

function kernelIdle() {
  return [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
    .some((item) => /^(?!No Kernel).+\|\s*Idle$/.test(item.textContent.trim()));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const timeoutMs = Number(args.timeout) * 1000;
  const result = { ok: false, checks: {}, timings: {} };
  const t0 = Date.now();
  const mark = (name) => { result.timings[name] = (Date.now() - t0) / 1000; };
  const profile = mkdtempSync(join(tmpdir(), 'fairing-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 1000 },
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    const url = `${args.url}/lab/tree/${encodeURIComponent(args.notebook)}?token=${encodeURIComponent(args.token)}`;
    await page.goto(url);
    await page.locator('.jp-Notebook .jp-CodeCell').first().waitFor();
    await page.waitForFunction(kernelIdle);
    mark('notebookReady');

    await page.locator('.lm-MenuBar-item', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click();

    // The run is going (phase Running) and the cell is still waiting for it: then click.
    const panel = page.locator('.fairing-jobview');
    await panel.locator('.fairing-phase', { hasText: 'Running' }).waitFor();
    const button = panel.locator('button', { hasText: 'Cancel' });
    result.buttonEnabledWhileWaiting = await button.isEnabled();
    mark('running');
    await button.click();
    mark('clicked');
    await panel.locator('.fairing-summary').waitFor();
    mark('summaryShown');
    // The cell has ended (its error is out) when no prompt says [*] any more; then the kernel is idle.
    await page.waitForFunction(() => ![...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')]
      .some((p) => p.textContent.includes('*')));
    await page.waitForFunction(kernelIdle);
    mark('kernelIdle');

    const read = await page.evaluate(() => {
      const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : null);
      const p = document.querySelector('.fairing-jobview');
      return {
        phase: text(p?.querySelector('.fairing-phase')),
        summary: text(p?.querySelector('.fairing-summary')),
        cells: [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map((cell) => ({
          prompt: text(cell.querySelector('.jp-InputArea-prompt')),
          output: cell.querySelector('.jp-OutputArea')?.innerText ?? '',
        })),
      };
    });
    Object.assign(result, read);
    const c = result.checks;
    c.buttonEnabledWhileWaiting = result.buttonEnabledWhileWaiting;
    c.phaseCancelled = result.phase === 'Cancelled';
    c.summaryCancelled = /^Cancelled/.test(result.summary ?? '');
    c.cellSaysCancelledFromPanel = result.cells.some((cell) => cell.output.includes('cancelled from the panel'));
    c.quickAfterClick = result.timings.summaryShown - result.timings.clicked < 10;
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
