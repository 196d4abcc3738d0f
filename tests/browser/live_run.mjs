// Open a notebook whose %%fairing_train run is held at two gates, in a running JupyterLab with
// Debian's Chromium; check the panel live and screenshot it mid-run. One JSON line on stdout.
//
//   JUPYTER_TOKEN=TOKEN node live_run.mjs --url http://127.0.0.1:PORT --notebook live.ipynb \
//        --gate1 PATH --gate2 PATH --screenshot build/browser/live-run.png [--chromium PATH]
//
// The run waits at gate 1 (a quarter through its bar) and at gate 2 (later): the script creates
// each gate file only once it saw the state it checks, so nothing races the run's speed.
// At gate 1: the progress bar and the chart are drawn, the log is scrolled to its newest line.
// Then the user scrolls the log up; at gate 2 the bar has moved on, the chart has grown, and the
// line the user was reading is still where it was. The screenshot is taken at gate 2.

import { writeFileSync } from 'node:fs';
import { kernelIdle, runInLab, screenshot } from './lab.mjs';

// In the page: the panel's progress, chart and log scroll state, and the log line at its top.
function look() {
  const panel = document.querySelector('.fairing-jobview');
  const bar = panel?.querySelector('.fairing-progress');
  const log = panel?.querySelector('.fairing-log');
  let topLine = null;
  if (log) {
    const box = log.getBoundingClientRect();
    const range = document.caretRangeFromPoint(box.left + 8, box.top + 6);
    if (range && log.contains(range.startContainer)) {
      const text = range.startContainer.textContent;
      const start = text.lastIndexOf('\n', range.startOffset - 1) + 1;
      const end = text.indexOf('\n', range.startOffset);
      topLine = text.slice(start, end < 0 ? undefined : end);
    }
  }
  const liveRow = log?.querySelector('.fairing-live')?.textContent ?? '';
  return {
    phase: panel?.querySelector('.fairing-phase')?.textContent.trim() ?? null,
    fraction: bar ? Number(bar.dataset.fraction) : null,
    progressText: bar?.textContent ?? '',
    chartLines: panel?.querySelectorAll('.fairing-chart polyline').length ?? 0,
    chartMetrics: [...(panel?.querySelectorAll('.fairing-chart svg') ?? [])].map((s) => s.dataset.metric),
    lossPoints: (panel?.querySelector('.fairing-chart svg[data-metric="loss"] polyline')
      ?.getAttribute('points') ?? '').trim().split(/\s+/).filter(Boolean).length,
    scrollTop: log?.scrollTop ?? null,
    scrollHeight: log?.scrollHeight ?? null,
    clientHeight: log?.clientHeight ?? null,
    topLine,
    liveRow,
    logTail: (log?.innerText ?? '').trim().split('\n').slice(-3),
    summary: panel?.querySelector('.fairing-summary')?.textContent ?? null,
  };
}

await runInLab('.fairing-jobview', look, async (page, args, result) => {
  // Gate 1: a quarter through, with a chart; the log shows its newest line.
  await page.waitForFunction(() => {
    const bar = document.querySelector('.fairing-jobview .fairing-progress');
    const live = document.querySelector('.fairing-jobview .fairing-live');
    return bar && Number(bar.dataset.fraction) === 0.25 && live?.textContent.includes('10/40')
      && document.querySelectorAll('.fairing-jobview .fairing-chart polyline').length >= 2;
  });
  await page.waitForTimeout(600); // two flushes: the log box settles (no race: the run waits)
  result.steps.gate1 = await page.evaluate(look);
  // The user scrolls the log up a little, to read older lines.
  await page.evaluate(() => { const log = document.querySelector('.fairing-jobview .fairing-log'); log.scrollTop -= 120; });
  await page.waitForTimeout(300);
  result.steps.scrolled = await page.evaluate(look);
  writeFileSync(args.gate1, 'open\n');

  // Gate 2: further on; the bar moved, the chart grew, the scrolled log stayed put.
  await page.waitForFunction(() => {
    const bar = document.querySelector('.fairing-jobview .fairing-progress');
    return bar && Number(bar.dataset.fraction) === 0.625;
  });
  await page.waitForTimeout(600);
  result.steps.gate2 = await page.evaluate(look);
  const panel = page.locator('.fairing-jobview');
  await panel.scrollIntoViewIfNeeded();
  result.screenshot = await screenshot(page, args.screenshot);
  // Back to the bottom: the log follows the newest lines again.
  await page.evaluate(() => { const log = document.querySelector('.fairing-jobview .fairing-log'); log.scrollTop = 0; });
  writeFileSync(args.gate2, 'open\n');
  await page.locator('.fairing-jobview .fairing-summary').waitFor();
  await page.waitForFunction(kernelIdle);
  await page.waitForTimeout(600);
  result.steps.end = await page.evaluate(look);

  const { gate1, scrolled, gate2, end } = result.steps;
  const c = result.checks;
  c.barAtGate1 = gate1.fraction === 0.25 && /25% 10\/40/.test(gate1.progressText) && /ETA/.test(gate1.progressText);
  c.chartAtGate1 = gate1.chartMetrics.includes('loss') && gate1.chartMetrics.includes('accuracy');
  c.logAtNewest = Math.abs(gate1.scrollTop) < 2 && gate1.liveRow.includes('10/40')
    && gate1.scrollHeight > gate1.clientHeight;
  c.scrolledUp = scrolled.scrollTop < -100;
  c.barMoved = gate2.fraction === 0.625 && gate2.fraction > gate1.fraction && gate2.liveRow.includes('25/40');
  c.chartGrew = gate2.lossPoints > gate1.lossPoints;
  c.scrolledLogStayed = scrolled.topLine !== null && gate2.topLine === scrolled.topLine;
  c.endSucceeded = end.phase === 'Succeeded' && /Succeeded/.test(end.summary ?? '');
  c.noRawEscapes = !/\\u001b/.test(JSON.stringify(result.steps)); // JSON writes ESC as \u001b
  c.endFollowsNewest = end.logTail.some((l) => l.includes('epoch=40')) || end.logTail.some((l) => l.includes('40/40'));
  result.ok = Object.values(c).every(Boolean);
});
