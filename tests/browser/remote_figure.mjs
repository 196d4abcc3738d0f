// Open a notebook whose %%fairing_train run draws a training curve (plt.show() in the run) and is
// then held at a gate, in a running JupyterLab with Debian's Chromium: the figure must render in
// the panel, below the log, while the run goes on (screenshot then); once the run ended, the
// figures and the final value are the cell's ordinary outputs, out of the panel. One JSON line.
//
//   JUPYTER_TOKEN=TOKEN node remote_figure.mjs --url http://127.0.0.1:PORT --notebook rich.ipynb \
//        --gate PATH --screenshot build/browser/remote-figure.png [--chromium PATH]
//
// The script creates the gate file only once it saw the figure drawn in the panel: nothing races
// the run's speed.

import { writeFileSync } from 'node:fs';
import { kernelIdle, runInLab, screenshot } from './lab.mjs';

// In the page: the panel, its displays, and the training cell's outputs outside the panel.
function look() {
  const panel = document.querySelector('.fairing-jobview');
  const images = (root) => [...(root?.querySelectorAll('img') ?? [])]
    .map((img) => ({ width: img.naturalWidth, height: img.naturalHeight, complete: img.complete }));
  const cell = panel?.closest('.jp-CodeCell');
  const outside = [...(cell?.querySelectorAll('.jp-OutputArea-child') ?? [])]
    .filter((child) => !child.querySelector('.fairing-jobview') && !child.closest('.fairing-jobview'));
  const displays = panel?.querySelector('.fairing-displays');
  const log = panel?.querySelector('.fairing-log');
  return {
    phase: panel?.querySelector('.fairing-phase')?.textContent.trim() ?? null,
    panelImages: images(displays),
    displayBoxes: displays?.querySelectorAll('.fairing-display').length ?? 0,
    belowLog: Boolean(log && displays
      && (log.compareDocumentPosition(displays) & Node.DOCUMENT_POSITION_FOLLOWING)),
    logText: (log?.innerText ?? '').trim().split('\n').slice(-3),
    outsideImages: outside.flatMap((child) => images(child)),
    outsidePrompts: outside.map((child) => child.querySelector('.jp-OutputPrompt')?.textContent.trim() ?? ''),
    outsideText: outside.map((child) => child.innerText.trim().slice(0, 200)),
    summary: panel?.querySelector('.fairing-summary')?.textContent ?? null,
  };
}

await runInLab('.fairing-jobview', look, async (page, args, result) => {
  // The run drew its curve and waits at the gate: the figure is in the panel, drawn.
  await page.waitForFunction(() => [...document.querySelectorAll('.fairing-jobview .fairing-displays img')]
    .some((img) => img.complete && img.naturalWidth > 100));
  result.steps.held = await page.evaluate(look);
  const figure = page.locator('.fairing-jobview .fairing-displays img').first();
  await figure.scrollIntoViewIfNeeded();
  await page.evaluate(() => {  // the whole panel in view when it fits, its figure at least
    const panel = document.querySelector('.fairing-jobview');
    const box = panel.getBoundingClientRect();
    if (box.height < window.innerHeight) panel.scrollIntoView({ block: 'start' });
  });
  await page.waitForTimeout(300);
  result.screenshot = await screenshot(page, args.screenshot);
  writeFileSync(args.gate, 'open\n');

  // The run ended: its displays moved out of the panel, into the cell's outputs.
  await page.locator('.fairing-jobview .fairing-summary').waitFor();
  await page.waitForFunction(kernelIdle);
  await page.waitForFunction(() => {
    const cell = document.querySelector('.fairing-jobview')?.closest('.jp-CodeCell');
    return [...(cell?.querySelectorAll('.jp-OutputArea-child img') ?? [])]
      .filter((img) => !img.closest('.fairing-jobview') && img.complete && img.naturalWidth > 100).length === 2;
  });
  result.steps.end = await page.evaluate(look);

  const { held, end } = result.steps;
  const c = result.checks;
  c.heldWhileRunning = held.phase === 'Running';
  c.figureInPanel = held.panelImages.length === 1 && held.panelImages[0].width > 100 && held.belowLog;
  c.logShownWithIt = held.logText.some((line) => line.includes('epoch 5'));
  c.endSucceeded = end.phase === 'Succeeded' && /Succeeded/.test(end.summary ?? '');
  c.panelEmptied = end.panelImages.length === 0 && end.displayBoxes === 0;
  c.ordinaryOutputs = end.outsideImages.length === 2 && end.outsideImages.every((img) => img.width > 100);
  c.finalValueWithPrompt = end.outsidePrompts.some((p) => /^\[\d+\]:$/.test(p))
    && end.outsideText.some((text) => text.includes('0.59'));
  result.ok = Object.values(c).every(Boolean);
});
