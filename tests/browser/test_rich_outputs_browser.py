"""A remote training curve in a real browser (JupyterLab + Debian's Chromium,
``remote_figure.mjs``): the figure the run draws with ``plt.show()`` renders in the panel, below
the log, while the run is held at a gate; once the run ended, its figures and final value are the
cell's ordinary outputs (with the cell's ``Out`` prompt for the value), no longer in the panel.
The screenshot mid-run is ``build/browser/remote-figure.png``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.browser.test_jobview_browser import (
    CHROMIUM,
    HERE,
    ROOT,
    Lab,
    _png_size,
    browser_tools,  # noqa: F401
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
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fairing_magics"),
                nbformat.v4.new_code_cell(train)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_a_remote_figure_shows_in_the_panel_while_the_run_goes_on(
        browser_tools, tmp_path):  # noqa: F811
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    lab = Lab(tmp_path)
    try:
        lab.start()
        gate = tmp_path / "gate-figure"
        nbformat.write(nbformat.from_dict(curve_notebook(gate)), str(lab.root / "curve.ipynb"))
        env = dict(os.environ, JUPYTER_TOKEN=lab.token)
        done = subprocess.run(["node", str(HERE / "remote_figure.mjs"), "--url", lab.url,
                               "--notebook", "curve.ipynb", "--gate", str(gate),
                               "--screenshot", str(SCREENSHOT),
                               "--chromium", str(CHROMIUM), "--timeout", "120"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    finally:
        lab.stop()
    lines = done.stdout.strip().splitlines()
    assert lines, (f"the browser script printed nothing (exit {done.returncode}):\n"
                   f"{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    context = json.dumps(result, indent=1)[:6000]
    assert "error" not in result, context
    assert all(result["checks"].values()), context
    assert SCREENSHOT.exists() and _png_size(SCREENSHOT) == (1280, 1000)
    print(f"rich outputs browser e2e: screenshot {SCREENSHOT}")
