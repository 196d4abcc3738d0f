"""What the capture report says about fidelity, and what a job says when a file was left behind.

A real IPython shell runs the earlier cells; bundles run with their own bootstrap in a fresh
Python process in an empty working folder, as the local backend runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fairing_magics.capture import capture_cell, write_bundle
from fairing_magics.capture.origin import cell_filename
from fairing_magics.capture.paths import KERNEL_FOLDER_ENV, KERNEL_PATHS_ENV
from fairing_magics.config import Settings
from fairing_magics.pipeline import plan_train
from fairing_magics.train_request import TrainOptions, merge_request
from tests.capture.test_patterns import fresh_namespace, isolated_library_state
from tests.harness import ipython_shell


@pytest.fixture
def shell():
    sh = ipython_shell()
    fresh_namespace(sh)
    with isolated_library_state():
        yield sh
    fresh_namespace(sh)


def run_cells(shell, *cells):
    for cell in cells:
        assert shell.run_cell(cell, store_history=True).success, cell


def history(shell, cell):
    """The kernel's input history as %%fairing_train passes it (the capturing cell last)."""
    return [*shell.history_manager.input_hist_raw[1:], cell]


def run_bundle(bundle, tmp_path: Path) -> subprocess.CompletedProcess:
    folder = write_bundle(bundle, tmp_path / "bundle")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
    env.update(bundle.runtime_env, FAIRING_OUTPUT_DIR=str(tmp_path / "out"), PYTHONPATH="")
    return subprocess.run([sys.executable, str(folder / "fairing_bootstrap.py")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_file_left_behind_is_named_with_include(shell, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.csv").write_text("a\n" + "1\n" * 500)
    run_cells(shell, "folder = 'data'")
    cell = "print(open(folder + '/big.csv').read()[:1])\n"  # the path is built, not written out
    bundle = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    assert "data/big.csv" not in bundle.files
    run = run_bundle(bundle, tmp_path)
    assert run.returncode == 1
    assert ("fairing: 'data/big.csv' exists in the notebook's folder but was not sent with the job"
            in run.stderr)
    assert "add --include data/big.csv" in run.stderr
    error = json.loads((tmp_path / "out" / "error.json").read_text())
    assert error["type"] == "FileNotFoundError" and "--include data/big.csv" in error["message"]


def test_a_missing_file_the_folder_lacks_gets_no_hint(shell, tmp_path):
    cell = "open('nowhere.csv')\n"
    run = run_bundle(capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path),
                     tmp_path)
    assert run.returncode == 1 and "FileNotFoundError" in run.stderr
    assert "--include" not in run.stderr


def test_files_over_the_limit_are_left_out_with_a_note(shell, tmp_path):
    (tmp_path / "small.txt").write_text("s")
    (tmp_path / "large.bin").write_bytes(b"x" * 5000)
    cell = "a = open('small.txt').read()\nb = open('large.bin', 'rb').read()\n"
    bundle = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path, file_limit=1000)
    assert set(bundle.files) == {"large.bin"} ^ {"large.bin", "small.txt"}
    text = bundle.report.render_text()
    assert "    small.txt (1 B)" in text
    assert "large.bin (5,000 bytes) is named by the code but left out" in text
    assert "add --include large.bin" in text


def test_path_hints_stay_out_of_the_bundle(shell, tmp_path):
    """A file written in the notebook's folder (a run's outputs, say) changes the hints the job
    gets in its environment, not the bundle's files: the image and the --cache key stay."""
    (tmp_path / "data.csv").write_text("x\n1\n")
    cell = "print(open('data.csv').read())\n"
    first = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    (tmp_path / "unrelated.txt").write_text("new file in the folder")
    second = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    assert first.runtime_env[KERNEL_PATHS_ENV] != second.runtime_env[KERNEL_PATHS_ENV]
    assert first.members() == second.members() and first.digest == second.digest
    assert second.runtime_env[KERNEL_FOLDER_ENV] == str(tmp_path.resolve())


def test_report_names_settings_and_live_state(shell, tmp_path):
    run_cells(shell, "import numpy as np", "np.set_printoptions(precision=3)",
              "def add(v, acc=[]):\n    acc.append(v)\n    return acc", "add(1)",
              "class Conf:\n    pass", "Conf.level = 3")
    cell = "print(add(2), Conf.level, np.array([1 / 3]))\n"
    bundle = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    text = bundle.report.render_text()
    assert "numpy print options and error state" in bundle.report.settings
    assert "  Library settings: " in text and "numpy print options and error state" in text
    assert "    add: default of 'acc' (changed since its cell ran)" in text
    assert "    Conf.level (assigned after the class was made)" in text
    assert run_bundle(bundle, tmp_path).stdout == "[1, 2] 3 [0.333]\n"


def test_lazy_name_is_a_note_and_dry_run_shows_it(shell, tmp_path):
    cell = "def later():\n    return not_yet_defined\nprint('ok')\n"
    request = merge_request(TrainOptions(name="lazy", dry_run=True), Settings(home=tmp_path))
    text = plan_train(cell, shell.user_ns, [cell], request, cwd=tmp_path)
    assert ("'not_yet_defined' is defined nowhere, but only a function the cell does not call "
            "uses it" in text)


def test_cell_and_definitions_run_under_the_kernel_file_names(shell, tmp_path):
    run_cells(shell, "def bad():\n    return 1 / 0")
    cell = "x = 1\nbad()\n"
    bundle = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    names = [s["filename"] for s in bundle.program["segments"] if s["kind"] != "prelude"]
    assert all(name.startswith("<ipython-input-") for name in names), names
    run = run_bundle(bundle, tmp_path)
    cell_name = cell_filename(shell, cell, ran=False)  # the name the kernel gives this cell
    assert cell_name and f'File "{cell_name}", line 2, in <module>' in run.stderr, run.stderr
    defined_in = shell.user_ns["bad"].__code__.co_filename
    assert f'File "{defined_in}", line 2, in bad' in run.stderr, run.stderr
    assert "    return 1 / 0\n" in run.stderr


def test_running_an_unchanged_cell_again_gives_the_same_bundle(shell, tmp_path):
    """IPython numbers a cell by its execution count; the count reaches the job through the
    environment, so the digest (the key of --cache and of the build caches) stays the same."""
    run_cells(shell, "def double(v):\n    return 2 * v", "values = [1, 2]")
    cell = "print(double(sum(values)))\n"
    first = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    run_cells(shell, "unrelated = 3", cell)
    again = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=tmp_path)
    assert again.digest == first.digest and again.members() == first.members()
    assert again.runtime_env != first.runtime_env  # the counts differ, and only there
    assert run_bundle(again, tmp_path).stdout == "6\n"


def test_a_function_pickled_by_value_ships_no_fairing_module(shell):
    """The pickle's reference to the job's __main__ is not a module of ours for the job to need,
    even when the notebook's folder holds fairing_magics itself (a checkout)."""
    root = Path(__file__).resolve().parents[2]
    run_cells(shell, "offset = [1]", "f = lambda v: v + offset[0]")
    cell = "print(f(1))\n"
    bundle = capture_cell(cell, shell.user_ns, history(shell, cell), cwd=root)
    assert not [path for path in bundle.files if path.startswith("fairing_magics/")]
    assert [line.split("==")[0] for line in bundle.requirements] == ["cloudpickle"]


LIBRARY_IMPORTED_BETWEEN_RUNS = r'''
import json, sys, warnings
from IPython.core.interactiveshell import InteractiveShell
from fairing_magics.capture import capture_cell, write_bundle

shell = InteractiveShell.instance()
for cell in ("import warnings\nwarnings.filterwarnings('ignore', message='noisy')",
             "import math\nvalues = [1.0, 2.0]"):
    assert shell.run_cell(cell, store_history=True).success
cell = ("import numpy as np\nwarnings.warn('noisy thing')\n"
        "print(np.polyfit(values, values, 1).round(3))\n")
history = [*shell.history_manager.input_hist_raw[1:], cell]
first = capture_cell(cell, shell.user_ns, history, cwd=sys.argv[1] if len(sys.argv) > 1 else None)
before = len(warnings.filters)
# numpy's filters
assert shell.run_cell("import pandas, scipy.special", store_history=False).success
added = len(warnings.filters) - before
again = capture_cell(cell, shell.user_ns, history, cwd=sys.argv[1] if len(sys.argv) > 1 else None)
write_bundle(again, sys.argv[2])
print(json.dumps({"added": added, "same": again.digest == first.digest,
                  "env": dict(again.runtime_env)}))
'''


def test_a_library_imported_in_the_kernel_between_two_runs_leaves_the_bundle_as_it_was(tmp_path):
    """numpy (through pandas, or run.metrics) adds warnings filters when it is imported; they are
    not the notebook's settings (the job's own import adds them again), so the same cell is the
    same bundle (a --cache hit) while the notebook's own filter still reaches the job. A fresh
    interpreter: in this test process numpy was imported long ago."""
    script = tmp_path / "kernel.py"
    script.write_text(LIBRARY_IMPORTED_BETWEEN_RUNS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
    done = subprocess.run([sys.executable, str(script), str(tmp_path), str(tmp_path / "bundle")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["added"] >= 4  # the import did change the kernel's filters
    assert result["same"], "the import of a library changed the bundle"
    work = tmp_path / "work"
    work.mkdir()
    env.update(result["env"], FAIRING_OUTPUT_DIR=str(tmp_path / "out"), PYTHONPATH="")
    run = subprocess.run([sys.executable, str(tmp_path / "bundle" / "fairing_bootstrap.py")],
                         cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[1. 0.]\n" and "noisy" not in run.stderr  # the notebook's filter held
