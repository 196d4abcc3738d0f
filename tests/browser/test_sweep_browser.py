"""A sweep watched live in a real browser (JupyterLab + Debian's Chromium, ``sweep_run.mjs``):
the trial table fills in, the best trial is highlighted, the chart draws the objective per trial,
and a trial's log is shown when the user picks it. The screenshot, with one trial still running,
is ``build/browser/sweep-trials.png``."""

from __future__ import annotations

import json

import pytest

from tests.browser.test_jobview_browser import (
    ROOT,
    _png_size,
    browser_tools,  # noqa: F401
    magic_notebook,
    watch_in_lab,
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
    return magic_notebook(cell)


def test_a_sweep_is_watched_live_in_jupyterlab(browser_tools, tmp_path):  # noqa: F811
    gate = tmp_path / "gate"
    result = watch_in_lab(tmp_path, "sweep_run.mjs", sweep_notebook(gate), "sweep.ipynb",
                          SCREENSHOT, "--gate", str(gate))
    context = json.dumps(result, indent=1)[:6000]
    assert "error" not in result, context
    assert all(result["checks"].values()), context
    assert SCREENSHOT.exists() and _png_size(SCREENSHOT) == (1280, 1000)
    print(f"sweep browser e2e: screenshot {SCREENSHOT}")
