"""Quiet by default: no empty ``Out[n]:`` after a train cell in terminal IPython, no note about
Cython's run-time module for an ordinary pandas/scikit-learn cell, no kernel-transport warning
from ``fairing-magics run``."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat

from fairing_magics.capture.requirements import is_runtime_module, pin_requirements
from tests.core.conftest import run

ROOT = Path(__file__).resolve().parents[2]


def test_a_train_cell_shows_its_panel_and_no_empty_out_prompt(shell, capfd):
    capfd.readouterr()
    result = run(shell, "%%fairing_train --name quiet\nprint('trained')")
    assert result.success, result.error_in_exec
    out = capfd.readouterr().out
    assert "trained" in out and "Succeeded" in out
    assert "Out[" not in out
    # ... and the cell's value is the run all the same: _, Out[n] and the execution result.
    assert result.result.name.startswith("quiet-") and result.result.status == "Succeeded"
    assert shell.user_ns["_"] is result.result
    assert shell.user_ns["Out"][result.execution_count] is result.result
    assert run(shell, "_").success  # shown on request
    assert f"<Run {result.result.name}" in capfd.readouterr().out


def test_no_note_for_cythons_runtime_module(shell, capsys):
    assert run(shell, "import pandas as pd\nfrom sklearn.linear_model import LinearRegression\n"
                      "from sklearn.utils import murmurhash3_32\n"
                      "df = pd.DataFrame({'a': [1.0, 2.0, 3.0], 'b': [2.0, 4.0, 6.0]})").success
    capsys.readouterr()
    result = run(shell, "%%fairing_train --dry-run\n"
                        "m = LinearRegression().fit(df[['a']], df['b'])\n"
                        "print(murmurhash3_32(1), pd.isna(m.coef_[0]))")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "scikit-learn==" in out and "pandas==" in out
    assert "module '_cython" not in out and "comes from no installed distribution" not in out
    cython = [name for name in sys.modules if name.startswith("_cython_")]
    assert cython and all(is_runtime_module(name) for name in cython)


def test_a_public_module_made_at_run_time_still_gets_its_note():
    sys.modules["made_in_the_notebook"] = types.ModuleType("made_in_the_notebook")
    try:
        packages, notes = pin_requirements({"made_in_the_notebook"})
    finally:
        del sys.modules["made_in_the_notebook"]
    assert (packages == ()
            and "module 'made_in_the_notebook' comes from no installed distribution" in notes[0])


def test_fairing_magics_run_has_no_kernel_transport_warning(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print('hello from the kernel')")])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    proc = subprocess.run([sys.executable, "-m", "fairing_magics.cli", "run",
                           str(tmp_path / "tiny.ipynb")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "hello from the kernel" in proc.stdout and "all cells ran" in proc.stdout
    assert "WARNING" not in proc.stderr and "without encryption" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.ipynb"]  # no socket files left
