"""Remote failures you can inspect, on the local backend in a real IPython shell: the job saves
the failing frames' variables (those that pickle, under a size cap; the rest named with type and
why); run.error.frames holds them; %fairing_debug shows the traceback where the kernel ran
the code (``Cell In[N], line L``: the job's cell, and the earlier cell a captured function came
from) and puts the failing frame's variables in the namespace; --pdb opens pdb over a replay of
the saved frames (real frames with the kernel's file names, lines, functions and variables)."""

from __future__ import annotations

import io
import pdb
from dataclasses import dataclass

import nbformat
import pytest
from nbclient import NotebookClient

from fairing_magics.ansi import strip_ansi
from fairing_magics.errors import JobFailed
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


@dataclass
class Failure:
    """The failed run of CELL, and where the kernel ran its code: the cell's number and the
    name IPython gives its body (the job's cell), the number and file of HISTORY's cell."""

    shell: object
    error: JobFailed
    cell_number: int
    cell_file: str
    definitions_number: int
    definitions_file: str


@pytest.fixture
def failed(shell, monkeypatch):
    monkeypatch.setenv("FAIRING_FRAMES_VALUE_MB", "1")  # the job's cap: big is over it
    definitions_number = shell.execution_count
    assert run(shell, HISTORY).success
    cell_number = shell.execution_count
    result = run(shell, CELL)
    assert not result.success
    body = CELL.split("\n", 1)[1]
    cell_file = shell.compile.get_code_name(body, shell.transform_cell(body), cell_number)
    return Failure(shell, result.error_in_exec, cell_number, cell_file, definitions_number,
                   shell.user_ns["normalise"].__code__.co_filename)


def test_the_failing_frames_come_back_with_what_pickles_and_why_the_rest_did_not(failed):
    frames = failed.error.frames
    assert [f.function for f in frames] == ["<module>", "normalise"]
    assert [f.filename for f in frames] == [failed.cell_file, failed.definitions_file]
    failing = frames.failing
    assert failing.function == "normalise" and failing.line == "factor = scale / (total - total)"
    assert failing.where == f"Cell In[{failed.definitions_number}], line 4"  # its own cell's
    assert failing.values() == {"rows": [1.0, 2.0, 3.0], "scale": 2.5, "total": 6.0}
    cell = frames[0]
    assert cell.where == f"Cell In[{failed.cell_number}], line 5"
    assert cell.line == "result = normalise(rows, 2.5)"
    assert cell.values()["rows"] == [1.0, 2.0, 3.0]
    assert callable(cell.values()["normalise"])  # the notebook's function, by value
    assert cell.left_out["lock"][0] == "_thread.lock"
    assert cell.left_out["lock"][1].startswith("does not pickle (TypeError: cannot pickle")
    assert cell.left_out["big"] == ("bytearray", "larger than the 1.0 MiB limit of one value")
    assert type(frames.exception).__name__ == "ZeroDivisionError"
    text = frames.traceback_text()
    assert text.splitlines() == [
        "Traceback (most recent call last):",
        f"  Cell In[{failed.cell_number}], line 5, in <module>", "    result = normalise(rows, 2.5)",
        f"  Cell In[{failed.definitions_number}], line 4, in normalise",
        "    factor = scale / (total - total)", "ZeroDivisionError: float division by zero"]


def test_fairing_debug_shows_the_failure_and_puts_the_variables_in_the_namespace(failed, capsys):
    shell, error = failed.shell, failed.error
    shell.user_ns["total"] = "mine"
    capsys.readouterr()
    assert run(shell, "%fairing_debug").success
    out = capsys.readouterr().out
    assert f"Remote failure of run {error.frames.run}" in out
    assert f"  Cell In[{failed.cell_number}], line 5, in <module>\n" in out
    assert (f"Variables of normalise (Cell In[{failed.definitions_number}], line 4): 3 saved\n"
            in out)
    assert "now in your namespace: rows, scale, total (replacing this kernel's total)" in out
    assert shell.user_ns["total"] == 6.0 and shell.user_ns["scale"] == 2.5
    assert run(shell, f"%fairing_debug {error.frames.run} --frame 0 --no-namespace").success
    out = capsys.readouterr().out
    assert (f"Variables of <module> (Cell In[{failed.cell_number}], line 5): 3 saved, 2 left out\n"
            in out)
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
    """pdb shows the replayed frames under the kernel's file names, as it shows the kernel's own
    code, and lists the kernel's text of those cells."""
    error = failed.error
    out = io.StringIO()
    error.frames.post_mortem(_scripted("where\np total, scale\nup\np rows, sorted(locals())\n"
                                       "list 4, 6\ndown\nlist 1, 2\nll\nq\n", out))
    text = out.getvalue()
    assert f"> {failed.definitions_file}(4)normalise()\n-> factor = scale / (total - total)" in text
    assert "(6.0, 2.5)" in text
    assert f"  {failed.cell_file}(5)<module>()\n-> result = normalise(rows, 2.5)" in text
    assert "([1.0, 2.0, 3.0], ['big', 'lock'" not in text  # left-out names are absent, not faked
    assert "([1.0, 2.0, 3.0], [" in text and "'rows'" in text
    assert ("  4  \tprint('normalising', len(rows))\n  5  ->\tresult = normalise(rows, 2.5)\n"
            in text)  # list 4, 6 in the cell
    # list 1, 2: the kernel's text of the definitions' cell (the job had only the function)
    assert "  1  \timport threading\n  2  \tdef normalise(rows, scale):\n(Pdb)" in text
    assert "  2  \tdef normalise(rows, scale):\n  3  \t    total = sum(rows)\n  4  ->" in text  # ll
    tb = error.frames.replay()
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_name, tb.tb_lineno, tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    saved = [(f.function, f.lineno, f.filename) for f in error.frames]
    assert frames == saved == [("<module>", 5, failed.cell_file),
                               ("normalise", 4, failed.definitions_file)]


def test_fairing_debug_pdb_opens_ipythons_debugger(failed, monkeypatch, capsys):
    shell = failed.shell
    assert shell.debugger_cls.__module__ == "IPython.core.debugger"  # a kernel's: reads stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("p total * 2\nup\np len(rows)\nq\n"))
    capsys.readouterr()
    assert run(shell, "%fairing_debug --pdb --no-namespace").success
    out = strip_ansi(capsys.readouterr().out)  # IPython's debugger colours its lines
    assert "ipdb> 12.0" in out and "ipdb> 3\n" in out
    assert f"> {failed.definitions_file}(4)normalise()\n" in out
    assert f"> {failed.cell_file}(5)<module>()\n" in out  # after up


def test_frames_of_an_earlier_kernel_run_are_found_by_name(failed, shell, capsys):
    name = failed.error.frames.run
    shell.run_cell("%unload_ext fairing_magics")  # a new kernel: the run is known by its folder
    shell.extension_manager.loaded.discard("fairing_magics")
    assert shell.run_cell("%load_ext fairing_magics").success
    capsys.readouterr()
    result = run(shell, f"%fairing_debug {name} --no-namespace")
    assert result.success, result.error_in_exec
    assert f"Variables of normalise (Cell In[{failed.definitions_number}], line 4)" in capsys.readouterr().out
    missing = run(shell, "%fairing_debug nosuchrun-abc123")
    assert "run nosuchrun-abc123 saved no frames to debug" in str(missing.error_in_exec)


@pytest.mark.e2e  # a real Jupyter kernel (ipykernel, through nbclient)
def test_in_a_jupyter_kernel_the_frames_are_where_the_kernel_ran_them(tmp_path, monkeypatch):
    """ipykernel names a cell /tmp/ipykernel_<pid>/<hash>.py, with no count in the name: the
    job's cell is still ``Cell In[3]`` (the magic tells IPython the name the job runs its body
    under) and the function is in ``Cell In[2]``, the cell that defined it."""
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext fairing_magics",
        "def ratio(a, b):\n    scaled = a * 2\n    return scaled / b",
        "%%fairing_train --name ratio\nnumbers = [4, 0]\nprint(ratio(*numbers))",
        "%fairing_debug --no-namespace",
        "import sys\nprint([f.filename.rsplit('/', 2)[-2][:10] for f in sys.last_value.frames])")]
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[3].outputs)
    assert "  Cell In[3], line 2, in <module>\n    print(ratio(*numbers))\n" in shown, shown
    assert "  Cell In[2], line 3, in ratio\n    return scaled / b\n" in shown
    assert "Variables of ratio (Cell In[2], line 3): 3 saved\n" in shown
    files = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert files == "['ipykernel_', 'ipykernel_']\n"  # the kernel's own file names
