"""Every pattern of the table: captured names and requirements, and the end-to-end check.

For each pattern the earlier cells run in a real IPython ``InteractiveShell``; the cell is
captured from that shell's namespace and history (before it runs, as ``%%fairing_train`` does),
then run in the shell to record what it prints there. Each bundle is written to a folder and
run by its own bootstrap in a fresh Python process in an empty working folder; what it prints
must be exactly what the shell printed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from fairing_magics.capture import Bundle, capture_cell, write_bundle
from fairing_magics.errors import CaptureError
from tests.capture.patterns import PATTERNS, Pattern
from tests.harness import ipython_shell

IDS = [p.id for p in PATTERNS]


def test_table_is_big_enough():
    assert len(PATTERNS) >= 150
    assert len(set(IDS)) == len(IDS)


@dataclass
class Outcome:
    pattern: Pattern
    bundle: Bundle | None = None
    error: CaptureError | None = None
    kernel_stdout: str = ""
    kernel_stderr: str = ""
    bundle_stdout: str = ""
    bundle_stderr: str = ""
    returncode: int | None = None


@contextmanager
def fd_capture(fd: int = 1):
    """Capture fd 1 or 2 (Python's stream and shell commands alike) into a string, in order."""
    name = "stdout" if fd == 1 else "stderr"
    getattr(sys, name).flush()
    saved_fd, saved_stream = os.dup(fd), getattr(sys, name)
    holder = {"text": ""}
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        setattr(sys, name, io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                                            line_buffering=True))
        try:
            yield holder
        finally:
            getattr(sys, name).flush()
            setattr(sys, name, saved_stream)
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
            tmp.seek(0)
            holder["text"] = tmp.read().decode("utf-8", "replace")


def fd_stdout():
    return fd_capture(1)


@contextmanager
def working_folder(path: Path):
    old = os.getcwd()
    os.chdir(path)
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))
        os.chdir(old)


def _filtered(text: str, ignore: tuple[str, ...]) -> str:
    text = text.replace("\r\n", "\n")  # IPython runs !commands in a pseudo-terminal
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(ignore))


def fresh_namespace(shell: InteractiveShell) -> None:
    """What ``shell.reset()`` does to the namespace, without its slow full garbage collection."""
    namespace = shell.user_ns
    for key in set(namespace) - {"__builtin__", "__builtins__", "__name__"}:
        del namespace[key]
    shell.user_ns_hidden.clear()
    shell.init_user_ns()


@contextmanager
def isolated_library_state():
    """Patterns share one process: put back the library settings a pattern changed."""
    import decimal
    import random

    import matplotlib
    import numpy as np
    import pandas as pd
    import sklearn

    saved = (list(warnings.filters), sklearn.get_config(), np.get_printoptions(), np.geterr(),
             decimal.getcontext().copy(), dict(matplotlib.rcParams), random.getstate(), np.random.get_state())
    try:
        yield
    finally:
        warnings.filters[:] = saved[0]
        warnings._filters_mutated()
        sklearn.set_config(**saved[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.reset_option("all")
            matplotlib.rcParams.update(saved[5])
        np.set_printoptions(**saved[2])
        np.seterr(**saved[3])
        decimal.setcontext(saved[4])
        random.setstate(saved[6])
        np.random.set_state(saved[7])


def _show_warning(message) -> None:
    """What Python does with a warning outside pytest: write it to stderr."""
    (message.file or sys.stderr).write(warnings._formatwarnmsg(message))


def _kernel_side(shell: InteractiveShell, pattern: Pattern, cwd: Path) -> Outcome:
    with isolated_library_state(), warnings.catch_warnings():
        warnings._showwarnmsg_impl = _show_warning  # pytest records warnings; a kernel prints them
        return _run_in_shell(shell, pattern, cwd)


def _run_in_shell(shell: InteractiveShell, pattern: Pattern, cwd: Path) -> Outcome:
    outcome = Outcome(pattern)
    for rel, text in pattern.local_files.items():
        (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
        (cwd / rel).write_text(text)
    fresh_namespace(shell)
    captured = pattern.cell.replace("%CWD%", str(cwd))
    with working_folder(cwd):
        for cell in pattern.history:
            if cell.startswith("%%fairing_train"):
                continue  # ran remotely: the kernel never executed it
            with fd_stdout() as out:
                result = shell.run_cell(cell, store_history=True)
            assert result.success, f"{pattern.id}: history cell failed in IPython:\n{cell}\n{out['text']}"
        try:
            outcome.bundle = capture_cell(
                captured, shell.user_ns, [*pattern.history, captured], cwd=cwd,
                includes=pattern.includes, value_limit=pattern.value_limit,
            )
        except CaptureError as exc:
            outcome.error = exc
            return outcome
        if pattern.shell:
            with fd_capture(2) as err, fd_stdout() as out:
                result = shell.run_cell(captured, store_history=True, silent=True)
            assert result.success, f"{pattern.id}: the cell failed in IPython:\n{out['text']}{err['text']}"
            outcome.kernel_stdout = _filtered(out["text"], pattern.ignore)
            outcome.kernel_stderr = err["text"]
        else:
            outcome.kernel_stdout = pattern.stdout
    return outcome


def _run_bundle(outcome: Outcome, root: Path) -> None:
    folder = write_bundle(outcome.bundle, root / "bundle")
    workdir = root / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
    env.update(outcome.bundle.runtime_env)
    env.update(FAIRING_OUTPUT_DIR=str(root / "out"), PYTHONPATH="", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(folder / "fairing_bootstrap.py")], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    outcome.bundle_stdout = _filtered(proc.stdout, outcome.pattern.ignore)
    outcome.bundle_stderr = proc.stderr
    outcome.returncode = proc.returncode


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every pattern run in the shell and captured (in-process: the unit tier)."""
    shell = ipython_shell()  # the same shell whichever test made it first
    results = {p.id: _kernel_side(shell, p, tmp_path_factory.mktemp("nb-" + p.id)) for p in PATTERNS}
    fresh_namespace(shell)
    return results


@pytest.fixture(scope="module")
def runs(outcomes, tmp_path_factory) -> dict[str, Outcome]:
    """Every captured bundle run in a fresh process, two at a time."""
    runnable = [o for o in outcomes.values() if o.bundle is not None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_run_bundle, o, tmp_path_factory.mktemp("run-" + o.pattern.id)) for o in runnable]
        for future in futures:
            future.result()
    return outcomes


@pytest.mark.parametrize("pid", IDS)
def test_captures_the_expected_names(outcomes, pid):
    outcome = outcomes[pid]
    pattern = outcome.pattern
    if pattern.error:
        assert outcome.error is not None, f"expected a CaptureError mentioning {pattern.error!r}"
        assert pattern.error in str(outcome.error), str(outcome.error)
        return
    assert outcome.error is None, str(outcome.error)
    report = outcome.bundle.report
    assert set(report.names) == set(pattern.names), outcome.bundle.source
    dists = {line.split("==")[0].lower() for line in outcome.bundle.requirements} - {"cloudpickle"}
    assert dists == set(pattern.requirements)
    if pattern.bundle_files:
        assert set(outcome.bundle.files) == set(pattern.bundle_files)
    if outcome.bundle.values:
        assert any(line.startswith("cloudpickle==") for line in outcome.bundle.requirements)


@pytest.mark.e2e  # a fresh Python process per pattern: tens of seconds for the table
@pytest.mark.parametrize("pid", [p.id for p in PATTERNS if not p.error])
def test_bundle_prints_what_the_kernel_prints(runs, pid):
    outcome = runs[pid]
    assert outcome.returncode == 0, outcome.bundle_stderr + "\n" + outcome.bundle.source
    assert outcome.bundle_stdout == outcome.kernel_stdout, outcome.bundle.source
    if outcome.pattern.stderr:
        assert outcome.bundle_stderr == outcome.kernel_stderr, outcome.bundle.source
