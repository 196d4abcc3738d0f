"""A run watched live in a real browser (JupyterLab + Debian's Chromium, ``live_run.mjs``): a
progress bar that moves, a metrics chart that grows, a log that follows its newest line until
the user scrolls up and then stays put. The screenshot mid-run is ``build/browser/live-run.png``.

The run is held at two gates (files the browser script creates once it saw what it checks), so
the checks never race the run's speed.
"""

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

SCREENSHOT = ROOT / "build" / "browser" / "live-run.png"

pytestmark = pytest.mark.e2e


def live_notebook(gate1: Path, gate2: Path) -> dict:
    train = ("%%fairing_train --name live\n"
             "import sys\n"
             "for k in range(60):\n"
             "    print(f'warming up, line {k}')\n"
             "for i in range(1, 41):\n"
             "    sys.stdout.write(f'\\r\\x1b[Kepoch={i} loss={1 / i:.4f} "
             "accuracy={1 - 1 / (i + 1):.3f}\\n')\n"
             "    bar = '#' * (i // 4)\n"
             "    sys.stdout.write(f'\\r\\x1b[32mtrain\\x1b[0m: {i * 100 // 40:3d}%|{bar:<10}| "
             "{i}/40 [00:{i:02d}<00:30,  1.33it/s]')\n"
             "    sys.stdout.flush()\n"
             "    if i == 10:\n" + gate_code(gate1, "        ") +
             "    if i == 25:\n" + gate_code(gate2, "        ") +
             "sys.stdout.write('\\n')\n")
    return magic_notebook(train)


def test_a_run_is_watched_live_in_jupyterlab(browser_tools, tmp_path):  # noqa: F811
    gate1, gate2 = tmp_path / "gate1", tmp_path / "gate2"
    result = watch_in_lab(tmp_path, "live_run.mjs", live_notebook(gate1, gate2), "live.ipynb",
                          SCREENSHOT, "--gate1", str(gate1), "--gate2", str(gate2))
    context = json.dumps(result, indent=1)[:6000]
    assert "error" not in result, context
    assert all(result["checks"].values()), context
    assert SCREENSHOT.exists() and _png_size(SCREENSHOT) == (1280, 1000)
    print(f"live browser e2e: screenshot {SCREENSHOT}; steps {json.dumps(result['steps'])[:800]}")
