"""Remote failures you can inspect, on the local backend in a real IPython shell: the job saves
the failing frames' variables (those that pickle, under a size cap; the rest named with type and
why); run.error.frames holds them; %fairing_debug shows the traceback with the cell's line
numbers and puts the failing frame's variables in the namespace; --pdb opens pdb over a replay
of the saved frames (real frames with the remote files, lines, functions and variables)."""

from __future__ import annotations

import io
import pdb

import pytest

from tests.notebook_jobs.conftest import run

HISTORY = ("import threading\n"
           "def normalise(rows, scale):\n"
           "    total = sum(rows)\n"
           "    factor = scale / (total - total)\n"
           "    return [r * factor for r in rows]\n")
CELL = ("%%fairing_train --name fit\n"
        "lock = threading.Lock()\n"
        "big = bytearray(3 * 2**20)\n"
        "rows = [1.0, 2.0, 3.0]\n"
        "print('normalising', len(rows))\n"
        "result = normalise(rows, 2.5)\n")


@pytest.fixture
def failed(shell, monkeypatch):
    monkeypatch.setenv("FAIRING_FRAMES_VALUE_MB", "1")  # the job's cap: big is over it
    assert run(shell, HISTORY).success
    result = run(shell, CELL)
    assert not result.success
    return shell, result.error_in_exec


def test_the_failing_frames_come_back_with_what_pickles_and_why_the_rest_did_not(failed):
    _, error = failed
    frames = error.frames
    assert [f.function for f in frames] == ["<module>", "normalise"]
    failing = frames.failing
    assert failing.function == "normalise" and failing.line == "factor = scale / (total - total)"
    assert failing.values() == {"rows": [1.0, 2.0, 3.0], "scale": 2.5, "total": 6.0}
    cell = frames[0]
    assert cell.where == "cell line 5" and cell.line == "result = normalise(rows, 2.5)"
    assert cell.values()["rows"] == [1.0, 2.0, 3.0]
    assert callable(cell.values()["normalise"])  # the notebook's function, by value
    assert cell.left_out["lock"][0] == "_thread.lock"
    assert cell.left_out["lock"][1].startswith("does not pickle (TypeError: cannot pickle")
    assert cell.left_out["big"] == ("bytearray", "larger than the 1.0 MiB limit of one value")
    assert type(frames.exception).__name__ == "ZeroDivisionError"
    text = frames.traceback_text()
    assert text.splitlines()[1:] == [
        "  cell line 5, in <module>", "    result = normalise(rows, 2.5)",
        "  main.py line 9 (captured definitions), in normalise",
        "    factor = scale / (total - total)", "ZeroDivisionError: float division by zero"]


def test_fairing_debug_shows_the_failure_and_puts_the_variables_in_the_namespace(failed, capsys):
    shell, error = failed
    shell.user_ns["total"] = "mine"
    capsys.readouterr()
    assert run(shell, "%fairing_debug").success
    out = capsys.readouterr().out
    assert f"Remote failure of run {error.frames.run}" in out
    assert "Variables of normalise (main.py line 9 (captured definitions)): 3 saved" in out
    assert "now in your namespace: rows, scale, total (replacing this kernel's total)" in out
    assert shell.user_ns["total"] == 6.0 and shell.user_ns["scale"] == 2.5
    assert run(shell, f"%fairing_debug {error.frames.run} --frame 0 --no-namespace").success
    out = capsys.readouterr().out
    assert "Variables of <module> (cell line 5)" in out
    assert "lock                 _thread.lock" in out and "left out: does not pickle" in out
    assert "big                  bytearray" in out and "left out: larger than the 1.0 MiB" in out
    assert "now in your namespace" not in out
    bad = run(shell, f"%fairing_debug {error.frames.run} --frame 7")
    assert not bad.success and "saved frames 0 to 1" in str(bad.error_in_exec)


def _scripted(commands: str, sink: io.StringIO):
    """A pdb that reads ``commands`` (what a person would type) and writes to ``sink``."""
    class Scripted(pdb.Pdb):
        def __init__(self):
            super().__init__(stdin=io.StringIO(commands), stdout=sink)
            self.use_rawinput = False
    return Scripted


def test_pdb_post_mortem_over_the_replayed_frames(failed):
    _, error = failed
    out = io.StringIO()
    error.frames.post_mortem(_scripted("where\np total, scale\nup\np rows, sorted(locals())\n"
                                       "list 4, 6\ndown\nll\nq\n", out))
    text = out.getvalue()
    assert "main.py(9)normalise()" in text and "-> factor = scale / (total - total)" in text
    assert "(6.0, 2.5)" in text
    assert "main.py(" in text and "<module>()" in text and "-> result = normalise(rows, 2.5)" in text
    assert "([1.0, 2.0, 3.0], ['big', 'lock'" not in text  # left-out names are absent, not faked
    assert "([1.0, 2.0, 3.0], [" in text and "'rows'" in text
    tb = error.frames.replay()
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_name, tb.tb_lineno, tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    saved = [(f.function, f.lineno, f.filename) for f in error.frames]
    assert frames == saved


def test_fairing_debug_pdb_opens_ipythons_debugger(failed, monkeypatch, capsys):
    shell, error = failed
    monkeypatch.setattr(shell, "simple_prompt", True)  # IPython's own Pdb, reading stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("p total * 2\nup\np len(rows)\nq\n"))
    capsys.readouterr()
    assert run(shell, "%fairing_debug --pdb --no-namespace").success
    out = capsys.readouterr().out
    assert "ipdb> 12.0" in out and "normalise()" in out and "ipdb> 3\n" in out


def test_frames_of_an_earlier_kernel_run_are_found_by_name(failed, shell):
    _, error = failed
    name = error.frames.run
    shell.run_cell("%unload_ext fairing_magics")  # a new kernel: the run is known by its folder
    shell.extension_manager.loaded.discard("fairing_magics")
    assert shell.run_cell("%load_ext fairing_magics").success
    result = run(shell, f"%fairing_debug {name} --no-namespace")
    assert result.success, result.error_in_exec
    missing = run(shell, "%fairing_debug nosuchrun-abc123")
    assert "run nosuchrun-abc123 saved no frames to debug" in str(missing.error_in_exec)
