"""A sweep watched live in a real browser (JupyterLab + Debian's Chromium, ``sweep_run.mjs``):
the trial table fills in, the best trial is highlighted, the chart draws the objective per trial,
and a trial's log is shown when the user picks it. The screenshot, with one trial still running,
is ``build/browser/sweep-trials.png``."""

from __future__ import annotations

import json
import os
import subprocess

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

SCREENSHOT = ROOT / "build" / "browser" / "sweep-trials.png"

pytestmark = pytest.mark.e2e


def sweep_notebook(gate) -> dict:
    cell = ("%%fairing_sweep --name watched --param x=choice:1,2,3,4,5,6 --algorithm grid "
            "--trials 6 --parallel 2 --objective m --metric step_count\n"
            "print('x is', x)\n"
            "if x == 6:\n" + gate_code(gate, "    ") +
            "print(f'step_count=1 m={(x - 3) ** 2}')\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fairing_magics"),
                nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_a_sweep_is_watched_live_in_jupyterlab(browser_tools, tmp_path):  # noqa: F811
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    lab = Lab(tmp_path)
    try:
        lab.start()
        gate = tmp_path / "gate"
        nbformat.write(nbformat.from_dict(sweep_notebook(gate)), str(lab.root / "sweep.ipynb"))
        env = dict(os.environ, JUPYTER_TOKEN=lab.token)
        done = subprocess.run(["node", str(HERE / "sweep_run.mjs"), "--url", lab.url,
                               "--notebook", "sweep.ipynb", "--gate", str(gate),
                               "--screenshot", str(SCREENSHOT), "--chromium", str(CHROMIUM),
                               "--timeout", "90"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
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
    print(f"sweep browser e2e: screenshot {SCREENSHOT}")
