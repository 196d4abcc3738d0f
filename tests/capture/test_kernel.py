"""Capture inside a real Jupyter kernel (ipykernel via nbclient), as the magics do.

ipykernel differs from a plain InteractiveShell where capture cares: cells are compiled as
``/tmp/ipykernel_<pid>/<hash>.py``, ``display`` lives in builtins, and the history holds the
capturing cell itself. Two kernels that run the same notebook must give the same bundle digest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "import numpy as np\nfrom math import sqrt",
    "%load_ext autoreload",
    "data = np.arange(10.0)\noffset = 0.5\nsmooth = lambda v: v * 0.9",
    "def mean(v):\n    return float(np.asarray(v).mean())",
    "class Scaler:\n    def __init__(self, k):\n        self.k = k\n"
    "    def __call__(self, v):\n        return v * self.k",
    "scaler = Scaler(2)",
]
CELL = ("%time m = mean(data) + offset\nprint('mean', m, sqrt(16.0), smooth(10))\n"
        "print(isinstance(scaler, Scaler), scaler(3))\ndisplay('shown')\n")
CAPTURE = """
import json, pathlib
from fairing_magics.capture import capture_cell, write_bundle
cell = {cell!r}
ip = get_ipython()
bundle = capture_cell(cell, ip.user_ns, ip.history_manager.input_hist_raw[1:],
                      cwd=pathlib.Path({cwd!r}))
write_bundle(bundle, {out!r})
print(json.dumps({{"digest": bundle.digest, "names": bundle.report.names}}))
"""


def run_notebook(folder: Path, out: Path) -> tuple[dict, str]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.cells.append(nbformat.v4.new_code_cell(CAPTURE.format(cell=CELL, cwd=str(folder),
                                                             out=str(out))))
    nb.cells.append(nbformat.v4.new_code_cell(CELL))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    captured = json.loads("".join(o.get("text", "") for o in nb.cells[-2].outputs
                                  if o.output_type == "stream"))
    kernel_output = []
    for output in nb.cells[-1].outputs:
        if output.output_type == "stream" and output.name == "stdout":
            kernel_output.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            kernel_output.append(output.data["text/plain"] + "\n")
    return captured, "".join(kernel_output)


@pytest.mark.e2e
def test_capture_in_a_real_kernel(tmp_path):
    first, kernel_stdout = run_notebook(tmp_path, tmp_path / "bundle1")
    second, _ = run_notebook(tmp_path, tmp_path / "bundle2")
    assert set(first["names"]) == {"np", "sqrt", "data", "offset", "smooth", "mean", "Scaler",
                                   "scaler"}
    assert first["digest"] == second["digest"]  # a kernel restart does not change the bundle

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "FAIRING_OUTPUT_DIR": str(tmp_path / "out")}
    proc = subprocess.run([sys.executable, str(tmp_path / "bundle1" / "fairing_bootstrap.py")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    timing = ("CPU times", "Wall time")
    expected = "".join(line for line in kernel_stdout.splitlines(True)
                       if not line.startswith(timing))
    assert proc.stdout == expected


@pytest.mark.e2e
def test_warnings_read_as_in_a_real_kernel(tmp_path):
    """ipykernel names cells /tmp/ipykernel_<pid>/<hash>.py: a warning raised in a captured
    definition and one raised in the cell read the same in the job, pid included, although the
    pid never enters the bundle (it comes back through the job's environment)."""
    from tests.capture.corpus.measure import _CAPTURE, Kernel, kernel_env, run_bundle

    env = kernel_env(Path(__file__).resolve().parents[2])
    kernel = Kernel(tmp_path, env)
    try:
        for cell in ("import warnings",
                     "def risky():\n    warnings.warn('from a definition')\n    return 1"):
            assert kernel.run(cell)[2] == ""
        cell = "print(risky())\nwarnings.warn('from the cell', UserWarning)"
        out = str(tmp_path / "bundle")
        kernel.run(f"exec({_CAPTURE!r}, {{'CELL': {cell!r}, 'OUT': {out!r}}})", store_history=False)
        status = json.loads(Path(out + ".json").read_text())
        stdout, stderr, error = kernel.run(cell)
    finally:
        kernel.close()
    assert status["ok"] and error == ""
    assert "/ipykernel_" in stderr and "UserWarning: from a definition" in stderr
    assert "<kernel-cells>" in (Path(out) / "fairing_manifest.json").read_text()
    assert "ipykernel_" not in (Path(out) / "fairing_manifest.json").read_text()
    job = run_bundle(Path(out), {**env, **status["env"]}, tmp_path / "work")
    assert job == (stdout, stderr, 0)


@pytest.mark.e2e
def test_wide_frame_prints_as_in_a_real_kernel(tmp_path):
    """pandas takes a plain process for a terminal (max_columns 0: fit to 80 columns, '...')
    and a Jupyter kernel for none (max_columns 20: wrap the columns): the job prints a wide
    frame as the kernel does, although the notebook never set an option."""
    from tests.capture.corpus.measure import _CAPTURE, Kernel, kernel_env, run_bundle

    env = kernel_env(Path(__file__).resolve().parents[2])
    kernel = Kernel(tmp_path, env)
    try:
        setup = ("import numpy as np\nimport pandas as pd\n"
                 "wide = pd.DataFrame(np.arange(40.0).reshape(2, 20) / 3)")
        assert kernel.run(setup)[2] == ""
        cell = "print(wide)"
        out = str(tmp_path / "bundle")
        kernel.run(f"exec({_CAPTURE!r}, {{'CELL': {cell!r}, 'OUT': {out!r}}})", store_history=False)
        status = json.loads(Path(out + ".json").read_text())
        stdout, stderr, error = kernel.run(cell)
    finally:
        kernel.close()
    assert status["ok"] and error == ""
    assert "..." not in stdout and "\\" in stdout  # the kernel wraps the columns
    assert run_bundle(Path(out), {**env, **status["env"]}, tmp_path / "work") == (stdout, stderr, 0)
