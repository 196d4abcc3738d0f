"""The JobView's Cancel button clicked in a real JupyterLab while the ``%%fairing_train`` cell
waits for its run (``cancel_run.mjs``, Debian's Chromium through playwright-core).

What it proves beyond tests/core/test_panel_cancel.py: the click a real ipywidgets front end
sends reaches the busy kernel (the comm pump), the panel then shows Cancelled, and the cell fails
with "cancelled from the panel". Same needs as test_jobview_browser.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import nbformat
import pytest

from tests.browser.test_jobview_browser import (
    CHROMIUM,
    HERE,
    ROOT,
    browser_tools,  # noqa: F401
    lab,  # noqa: F401
)

pytestmark = pytest.mark.e2e

NOTEBOOK = "cancel.ipynb"


def test_cancel_button_stops_a_waiting_cell_in_jupyterlab(lab):  # noqa: F811
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                           "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext fairing_magics",
        "%%fairing_train --name sleepy\nimport time\nprint('sleeping', flush=True)\n"
        "time.sleep(120)",
        "print('after the cancelled cell')",
    )]
    nbformat.write(nb, lab.root / NOTEBOOK)
    started = time.monotonic()
    env = dict(os.environ, JUPYTER_TOKEN=lab.token)
    done = subprocess.run(["node", str(HERE / "cancel_run.mjs"), "--url", lab.url,
                           "--notebook", NOTEBOOK, "--chromium", str(CHROMIUM), "--timeout", "60"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    seconds = time.monotonic() - started
    lines = done.stdout.strip().splitlines()
    assert lines, (f"the browser script printed nothing (exit {done.returncode}):\n"
                   f"{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    context = f"exit {done.returncode}; result: {json.dumps(result)}\nserver log:\n{lab.log_tail()}"
    assert "error" not in result, context
    assert result["buttonEnabledWhileWaiting"], context
    assert result["phase"] == "Cancelled" and result["summary"].startswith("Cancelled"), context
    assert "cancelled from the panel: run sleepy-" in result["cells"][1]["output"], context
    # Run All stops at a failed cell, as with any error: the next cell was not run.
    assert "after the cancelled cell" not in result["cells"][2]["output"], context
    assert result["timings"]["summaryShown"] - result["timings"]["clicked"] < 10, context
    print(f"browser cancel e2e: {seconds:.1f} s; timings {result['timings']}")
