"""EndpointView (real ipywidgets objects) and the text fallback render a deployment's events."""

from __future__ import annotations

import io

from fairing_magics import events as ev
from fairing_magics.ui.endpointview import EndpointView, make_endpoint_view
from fairing_magics.ui.textview import TextView

STAGES = ("package", "build", "push", "apply", "rollout", "ready")


def _rollout(view) -> None:
    view.handle(ev.StageChanged("package", "done", 0.05, "LinearRegression (sklearn)"))
    view.handle(ev.StageChanged("push", "running"))
    view.handle(ev.Progress("layer", 50, 100))
    view.handle(ev.StageChanged("push", "done", 1.2))
    view.handle(ev.PhaseChanged("RollingOut", "2 replica(s)"))
    view.handle(ev.PhaseChanged("ContainerCreating", "", "linreg-abc-1"))
    view.handle(ev.PhaseChanged("Ready", "", "linreg-abc-2"))
    view.handle(ev.Notice("Pulling: Pulling image \"r/x@sha256:1\"", "info", "linreg-abc-1"))
    view.handle(ev.Notice("Unhealthy: Readiness probe failed", "warning", "linreg-abc-1"))
    view.handle(ev.LogLines(tuple(f"access {i}" for i in range(500)), "linreg-abc-1"))


def test_endpointview_shows_rollout_pods_events_logs_and_the_url():
    view = EndpointView(title="linreg", backend="kubernetes", stages=STAGES, log_lines=100)
    _rollout(view)
    view._render()
    assert "RollingOut" in view.header.value and "linreg" in view.header.value
    assert "pods 1/2 ready" in view.pod_box.value and "ContainerCreating" in view.pod_box.value
    assert "Readiness probe failed" in view.notice_box.value
    assert "build" in view.stage_row.value and "rollout" in view.stage_row.value
    lines = view.log_box.text().splitlines()
    assert len(lines) == 100 and lines[-1] == "[linreg-abc-1] access 499"
    assert view.url_box.value == ""  # not ready yet
    view.handle(ev.PhaseChanged("Ready", "http://127.0.0.1:40000"))
    view.handle(ev.Finished(ev.SUCCEEDED,
                            "linreg ready at http://127.0.0.1:40000/v1/models/linreg:predict", 9.0))
    assert view.url == "http://127.0.0.1:40000" and view.state == "Ready"
    assert "http://127.0.0.1:40000/v1/models/linreg:predict" in view.url_box.value
    assert "Ready" in view.header.value


def test_endpointview_shows_why_a_deployment_failed():
    view = EndpointView(title="broken", backend="local", stages=("package", "start", "ready"))
    view.handle(ev.StageChanged("start", "failed", 2.0))
    view.handle(ev.Finished(ev.FAILED, "the model server of 'broken' exited with code 2", 2.1))
    assert "Failed" in view.url_box.value and "exited with code 2" in view.url_box.value
    assert "✗ start" in view.stage_row.value


def test_text_mode_prints_the_same_story():
    out = io.StringIO()
    view = make_endpoint_view("text", title="linreg", backend="kubernetes", stages=STAGES,
                              stream=out)
    assert isinstance(view, TextView)
    _rollout(view)
    view.handle(ev.Finished(ev.SUCCEEDED,
                            "linreg ready at http://127.0.0.1:40000/v1/models/linreg:predict", 9.0))
    text = out.getvalue()
    assert "linreg-abc-1: ContainerCreating" in text and "Readiness probe failed" in text
    assert "ready at http://127.0.0.1:40000" in text and "[linreg-abc-1] access 499" in text
