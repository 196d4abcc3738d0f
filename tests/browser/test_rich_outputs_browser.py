"""A remote training curve in a real browser (JupyterLab + Debian's Chromium,
``remote_figure.mjs``): the figure the run draws with ``plt.show()`` renders in the panel, below
the log, while the run is held at a gate; once the run ended, its figures and final value are the
cell's ordinary outputs (with the cell's ``Out`` prompt for the value), no longer in the panel.
The screenshot mid-run is ``build/browser/remote-figure.png``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_jobview_browser import (
    ROOT,
    _png_size,
    browser_tools,  # noqa: F401
    magic_notebook,
    watch_in_lab,
)
from tests.core.kernels import gate_code

SCREENSHOT = ROOT / "build" / "browser" / "remote-figure.png"

pytestmark = pytest.mark.e2e


def curve_notebook(gate: Path) -> dict:
    train = ("%%fairing_train --name curve\n"
             "import matplotlib.pyplot as plt\n"
             "losses = []\n"
             "for epoch in range(1, 11):\n"
             "    losses.append(round(0.9 ** epoch, 5))\n"
             "    print(f'epoch {epoch} loss={losses[-1]}')\n"
             "    if epoch == 5:\n"
             "        plt.figure(figsize=(6, 3.2))\n"
             "        plt.plot(range(1, epoch + 1), losses, marker='o')\n"
             "        plt.title('training loss, drawn in the run at epoch 5')\n"
             "        plt.xlabel('epoch')\n"
             "        plt.ylabel('loss')\n"
             "        plt.show()\n" + gate_code(gate, "        ") +
             "plt.figure(figsize=(6, 3.2))\n"
             "plt.plot(range(1, 11), losses, marker='o')\n"
             "plt.title('training loss, all epochs')\n"
             "plt.show()\n"
             "losses[4]\n")
    return magic_notebook(train)


def test_a_remote_figure_shows_in_the_panel_while_the_run_goes_on(
        browser_tools, tmp_path):  # noqa: F811
    gate = tmp_path / "gate-figure"
    result = watch_in_lab(tmp_path, "remote_figure.mjs", curve_notebook(gate), "curve.ipynb",
                          SCREENSHOT, "--gate", str(gate), timeout=120)
    context = json.dumps(result, indent=1)[:6000]
    assert "error" not in result, context
    assert all(result["checks"].values()), context
    assert SCREENSHOT.exists() and _png_size(SCREENSHOT) == (1280, 1000)
    print(f"rich outputs browser e2e: screenshot {SCREENSHOT}")
