"""Eight ``--no-wait`` trains started at once from one kernel: eight distinct runs, all followed to
completion, each run's log and each panel holding only its own lines."""

from __future__ import annotations

import time

import pytest

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.config import Settings
from fairing_magics.run import RunBook
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning

RUNS = 8
LINES = 300


def cell_for(index: int) -> str:
    return (f"import sys, time\n"
            f"for j in range({LINES}):\n"
            f"    print('token-{index}', j, flush=True)\n"
            f"    if j % 50 == 0:\n"
            f"        time.sleep(0.01)\n")


def assert_only_own_lines(text: str, index: int) -> None:
    lines = [line for line in text.splitlines() if line.startswith("token-")]
    assert lines == [f"token-{index} {j}" for j in range(LINES)], (index, lines[:5])


def test_eight_no_wait_trains_from_one_shell(shell, tmp_path):
    started = time.perf_counter()
    runs = []
    for index in range(RUNS):
        result = run(shell, f"%%fairing_train --name conc --no-wait\n{cell_for(index)}")
        assert result.success, result.error_in_exec
        runs.append(result.result)
    assert len({r.name for r in runs}) == RUNS
    assert len({r.folder for r in runs}) == RUNS
    for r in runs:
        r.wait(timeout=120)
        assert r.status == ev.SUCCEEDED, (r.name, r.status, r.tail())
    seconds = time.perf_counter() - started
    for index, r in enumerate(runs):
        assert_only_own_lines(r.logs(), index)
        assert_only_own_lines((r.folder / "logs.txt").read_text(), index)
    magics = shell.magics_manager.registry["FairingMagics"]
    assert {r.name for r in magics.runs.all()} == {r.name for r in runs}
    assert processes_mentioning(str(tmp_path)) == []
    print(f"[concurrency] {RUNS} --no-wait runs x {LINES} lines from one shell: all succeeded, "
          f"logs unmixed, {seconds:.1f} s")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eight_widget_panels_show_only_their_own_lines(tmp_path):
    settings = Settings(backend="local", home=tmp_path / "home", ui="widget")
    book = RunBook()
    runs = [pipeline.train(cell_for(index), {}, [], pipeline.TrainOptions(name="panel", wait=False),
                           settings, book, cwd=tmp_path) for index in range(RUNS)]
    assert all(type(r.view).__name__ == "JobView" for r in runs)
    for r in runs:
        r.wait(timeout=120)
    for index, r in enumerate(runs):
        assert r.status == ev.SUCCEEDED
        r.view.close()
        text = r.view.log_boxes[""].text() + "\n"
        assert_only_own_lines(text, index)
        assert r.name in r.view.header.value
        assert ev.SUCCEEDED in r.view.summary_box.value
    print(f"[concurrency] {RUNS} JobView panels: each shows only its own {LINES} lines")
