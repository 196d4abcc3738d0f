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
        view.handle(ev.LogLines(tuple(f"line {i}"
                                      for i in range(start, min(start + batch, n_lines))), source))
    view.handle(ev.StageChanged("run", "done", 1.5))
    view.handle(ev.Finished(ev.SUCCEEDED, "succeeded in 1.5 s (model)", 1.6))


def test_jobview_keeps_a_bounded_log_and_shows_the_final_state():
    view = JobView(title="linreg-abc123", backend="local", stages=("capture", "run"), log_lines=500)
    started = time.perf_counter()
    _feed(view, 100_000)
    assert time.perf_counter() - started < 5  # handling is cheap; rendering is batched
    lines = view.log_boxes[""].text().splitlines()
    # bounded: the last lines kept (at most twice log_lines on screen, chunks are dropped in halves)
    assert 500 <= len(lines) <= 1000 and lines[-1] == "line 99999" and "line 0" not in lines
    assert lines == [f"line {i}" for i in range(100_000 - len(lines), 100_000)]
    assert ("99" in view.log_boxes[""].earlier.value
            and "earlier lines" in view.log_boxes[""].earlier.value)
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
    assert view.log_boxes["worker-0"].text() == "worker says hi"
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


def test_both_panels_end_on_the_final_state_when_events_race_the_flusher():
    """Events from several threads while the flusher renders: the last render is the final state
    (the flusher and the Finished thread render one at a time, through the shared Panel)."""
    import threading

    from fairing_magics.ui.endpointview import EndpointView
    from fairing_magics.ui.panel import Panel

    for attempt in range(20):
        job = JobView(title=f"race-{attempt}", backend="local", stages=("run",), log_lines=50)
        endpoint = EndpointView(title=f"ep-{attempt}", backend="local", stages=("start", "ready"),
                                log_lines=50)
        assert isinstance(job, Panel) and isinstance(endpoint, Panel)

        def chatter(view, worker, phase):
            for i in range(200):
                view.handle(ev.LogLines((f"w{worker} line {i}",), ""))
                view.handle(ev.PhaseChanged(phase, f"step {i}"))

        threads = [threading.Thread(target=chatter, args=(view, w, phase))
                   for view, phase in ((job, ev.RUNNING), (endpoint, "Starting")) for w in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        job.handle(ev.Finished(ev.SUCCEEDED, "done", 1.0))
        endpoint.handle(ev.PhaseChanged("Ready", "http://127.0.0.1:1"))
        endpoint.handle(ev.Finished(ev.SUCCEEDED,
                                    "ep ready at http://127.0.0.1:1/v1/models/ep:predict", 1.0))
        time.sleep(0.3)  # a flusher render in flight when Finished came must not win afterwards
        assert "Succeeded" in job.header.value and "step" not in job.header.value
        assert "done" in job.summary_box.value
        assert "Ready" in endpoint.header.value and "step" not in endpoint.header.value
        assert "http://127.0.0.1:1/v1/models/ep:predict" in endpoint.url_box.value
        for view in (job, endpoint):
            view._flusher.join(2)
            assert not view._flusher.is_alive()


def test_endpointview_stages_agree_with_the_header_probes_are_a_stage_and_deleted_shows():
    from fairing_magics.ui.endpointview import EndpointView

    view = EndpointView(title="linreg", backend="local", stages=("package", "start", "ready"))
    view.handle(ev.StageChanged("package", "done", 0.1))
    view.handle(ev.StageChanged("start", "done", 0.2, "pid 7"))
    view.handle(ev.StageChanged("ready", "running"))
    probes = tuple(f'2024-01-01T00:00:0{i}Z 127.0.0.1 "GET /v1/models/linreg HTTP/1.1" 503 40 0.1ms'
                   for i in range(6))
    view.handle(ev.LogLines(("serving linreg on port 1",) + probes, "linreg"))
    for attempt in range(1, 7):
        view.handle(ev.StageChanged("ready", "running", 0.0, f"attempt {attempt}: 503"))
    view._render()
    assert "attempt 6: 503" in view.stage_row.value and "… ready" in view.stage_row.value
    assert "503" not in view.log_box.text() and "serving linreg" in view.log_box.text()
    view.handle(ev.PhaseChanged("Ready", "http://127.0.0.1:1"))
    # a user's, after
    view.handle(ev.LogLines(('x "GET /v1/models/linreg HTTP/1.1" 200 40 0.1ms',), "linreg"))
    view.handle(ev.Finished(ev.SUCCEEDED,
                            "linreg ready at http://127.0.0.1:1/v1/models/linreg:predict", 1.0))
    # no "○ ready" under Ready
    assert "Ready" in view.header.value and "✓ ready" in view.stage_row.value
    assert "200" in view.log_box.text()
    assert "linreg · endpoint · local · Ready" in view._repr_mimebundle_()["text/plain"]
    view.handle(ev.PhaseChanged("Deleted", "removed 12:00:00"))
    assert "Deleted" in view.header.value and "Deleted" in view.url_box.value
    assert "· local · Deleted" in view.text() and view.text().endswith("Deleted: removed 12:00:00")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_textview_on_a_terminal_redraws_the_live_row_in_place_and_elsewhere_prints_quarters():
    tty = _Terminal()
    view = TextView(title="bar", stream=tty)
    view.handle(ev.LogLines(("first",)))
    view.handle(ev.LiveLines((" 50%|#####     | 5/10",)))
    view.handle(ev.LogLines(("second",)))
    view.handle(ev.LiveLines((" 60%|######    | 6/10",)))
    view.handle(ev.Finished(ev.SUCCEEDED, "ok", 1.0))
    text = tty.getvalue()
    assert text.startswith("first\n\r\x1b[K 50%|#####     | 5/10\r\x1b[Ksecond\n 50%|")
    assert "\r\x1b[K 60%|######    | 6/10\r\x1b[K[fairing] bar Succeeded" in text
    plain = io.StringIO()
    view = TextView(title="bar", stream=plain)
    view.handle(ev.LiveLines((" 50%|#####     | 5/10",)))
    for done in (1, 3, 5, 6, 10):
        view.handle(ev.RunProgress(done, 10, eta=10 - done))
    view.handle(ev.LogLines(("\x1b[31mred\x1b[0m",)))
    text = plain.getvalue()
    assert "\r" not in text and "\x1b" not in text and "red\n" in text
    assert [line.split("progress ")[1].split(" ")[0]
            for line in text.splitlines() if "progress" in line] == ["30%", "50%", "100%"]
