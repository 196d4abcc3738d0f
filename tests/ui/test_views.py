"""JobView (real ipywidgets objects) and TextView render the same run events."""

from __future__ import annotations

import io
import time

from fairing_magics import events as ev
from fairing_magics.ui.jobview import JobView
from fairing_magics.ui.textview import TextView


def _feed(view, n_lines: int, source: str = "") -> None:
    view.handle(ev.StageChanged("capture", "done", 0.02, "4 files"))
    view.handle(ev.PhaseChanged(ev.RUNNING, "pid 1"))
    batch = 1000
    for start in range(0, n_lines, batch):
        view.handle(ev.LogLines(tuple(f"line {i}" for i in range(start, min(start + batch, n_lines))), source))
    view.handle(ev.StageChanged("run", "done", 1.5))
    view.handle(ev.Finished(ev.SUCCEEDED, "succeeded in 1.5 s (model)", 1.6))


def test_jobview_keeps_a_bounded_log_and_shows_the_final_state():
    view = JobView(title="linreg-abc123", backend="local", stages=("capture", "run"), log_lines=500)
    started = time.perf_counter()
    _feed(view, 100_000)
    assert time.perf_counter() - started < 5  # handling is cheap; rendering is batched
    text = view.log_output.outputs[0]["text"]
    lines = text.splitlines()
    assert len(lines) == 500 and lines[-1] == "line 99999" and lines[0] == "line 99500"
    assert "linreg-abc123" in view.header.value and "Succeeded" in view.header.value
    assert "capture" in view.stage_row.value and "run" in view.stage_row.value
    assert "push" not in view.stage_row.value  # a stage the backend does not have is not shown
    assert "succeeded in 1.5 s" in view.summary_box.value
    assert view.cancel_button.disabled


def test_jobview_gives_each_replica_a_tab():
    view = JobView(title="tf", backend="kubernetes", stages=("submit", "run"))
    view.handle(ev.LogLines(("chief says hi",), "chief-0"))
    view.handle(ev.LogLines(("worker says hi",), "worker-0"))
    view.handle(ev.Notice("Back-off pulling image", "warning", "worker-0"))
    view.handle(ev.Finished(ev.FAILED, "worker-0 failed", 3.0))
    assert view.tabs is not None
    titles = [view.tabs.get_title(i) for i in range(len(view.tabs.children))]
    assert titles == ["chief-0", "worker-0"]
    assert view.tab_outputs["worker-0"].outputs[0]["text"] == "worker says hi\n"
    assert "Back-off pulling image" in view.notice_box.value


def test_cancel_button_calls_back():
    called = []
    view = JobView(title="x", backend="local", stages=("run",), on_cancel=lambda: called.append(1))
    view.cancel_button.click()
    assert called == [1] and view.cancel_button.disabled
    view.close()


def test_textview_prints_the_same_events():
    out = io.StringIO()
    view = TextView(title="linreg-abc123", stream=out)
    _feed(view, 3)
    view.handle(ev.LogLines(("from worker",), "worker-1"))
    text = out.getvalue()
    assert "[fairing] ✓ capture 20 ms (4 files)" in text
    assert "line 0\nline 1\nline 2\n" in text
    assert "[worker-1] from worker" in text
    assert "[fairing] linreg-abc123 Succeeded: succeeded in 1.5 s (model)" in text
