// Open a notebook whose %%fairing_sweep holds its last trial at a gate, in a running JupyterLab
// with Debian's Chromium; check the trial table live, show one trial's log on demand, screenshot
// the panel, then let the sweep end. One JSON line on stdout.
//
//   JUPYTER_TOKEN=TOKEN node sweep_run.mjs --url http://127.0.0.1:PORT --notebook sweep.ipynb \
//        --gate PATH --screenshot build/browser/sweep-trials.png [--chromium PATH]
//
// The trial with x=6 waits at the gate (a file the script creates once it saw the table with
// the five other trials done): nothing races the sweep's speed.

import { writeFileSync } from 'node:fs';
import { kernelIdle, runInLab, screenshot } from './lab.mjs';

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

await runInLab('.fairing-sweepview', look, async (page, args, result) => {
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
  result.screenshot = await screenshot(page, args.screenshot);
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
});
