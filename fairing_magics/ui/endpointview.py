"""EndpointView: the ipywidgets panel of a deployment, and its text fallback.

Top to bottom: a header (endpoint name, backend, state in colour, elapsed time); the stages with
their durations (package, build, push, apply, rollout, ready: those the deployer has); one line
per pod with its phase (a rollout's progress); the pod events and warnings; the server's last log
lines (readiness probes are not lines: the ``ready`` stage counts its attempts); and, once ready,
the URL to POST to, or why it failed; ``Deleted`` once the endpoint is removed. The header and
the stages always agree: a stage still running when the deployment ends takes its outcome.

Like :class:`~fairing_magics.ui.jobview.JobView` it only consumes :mod:`fairing_magics.events`
(``StageChanged``, ``PhaseChanged`` with ``source`` = a pod, ``Notice``, ``LogLines``,
``Progress``, ``Finished``); :class:`~fairing_magics.ui.panel.Panel` records them and renders
a few times a second from a flusher thread, one render at a time.
"""

from __future__ import annotations

import html
import sys
import time
from collections import deque

from fairing_magics import events as ev
from fairing_magics.ansi import strip_ansi
from fairing_magics.ui.format import (
    PHASE_COLOURS,
    header_html,
    notices_html,
    stages_html,
)
from fairing_magics.ui.panel import MAX_NOTICES, Panel

READY = "Ready"
DELETED = "Deleted"
_COLOURS = {**PHASE_COLOURS, READY: "#1a7f37", "RollingOut": "#1f6feb", "Starting": "#1f6feb",
            DELETED: "#57606a"}


def make_endpoint_view(mode: str, *, title: str, backend: str, stages: tuple[str, ...],
                       log_lines: int = 200, stream=None):
    """An EndpointView (``widget``, or ``auto`` in Jupyter) or a text view (``text``, terminals)."""
    from fairing_magics.ui import widgets_supported

    if mode == "widget" or (mode == "auto" and widgets_supported()):
        return EndpointView(title=title, backend=backend, stages=stages, log_lines=log_lines)
    from fairing_magics.ui.textview import TextView

    return TextView(title=title, stream=stream or sys.stdout)


class EndpointView(Panel):
    """The panel of one deployment. ``widget`` is what gets displayed; ``url`` and ``state``
    hold what it shows. Displayed, its ``text/plain`` is the same story as text."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...], log_lines: int = 200):
        import ipywidgets as widgets

        from fairing_magics.ui.logbox import LogBox

        super().__init__()
        self.title = title
        self.backend = backend
        self.stage_names = tuple(stages)
        self.state = ev.PENDING
        self.state_detail = ""
        self.url = ""
        self.summary = ""
        self.started = time.time()
        self.ended: float | None = None
        self.stage_states: dict[str, tuple[str, float, str]] = {}
        self.stage_started: dict[str, float] = {}
        self.pods: dict[str, tuple[str, str]] = {}
        self.notices: deque[tuple[str, str]] = deque(maxlen=MAX_NOTICES)
        self.logs: deque[str] = deque(maxlen=log_lines)
        self.line_count = 0
        self.progress = ""
        self.display_handle = None

        self.header = widgets.HTML()
        self.stage_row = widgets.HTML()
        self.pod_box = widgets.HTML()
        self.notice_box = widgets.HTML()
        self.log_box = LogBox(log_lines, height="240px")
        self.url_box = widgets.HTML()
        self.widget = widgets.VBox([self.header, self.stage_row, self.pod_box, self.notice_box,
                                    self.log_box.widget, self.url_box],
                                   layout=widgets.Layout(border="1px solid #ccc", padding="6px"))
        self.widget.add_class("fairing-endpointview")
        self._start(f"fairing-endpoint-{title}")

    # -- events (any thread, under the lock) ---------------------------------------------
    def _record(self, event) -> None:
        if isinstance(event, ev.LogLines):
            prefix = f"[{event.source}] " if event.source and event.source != self.title else ""
            lines = [prefix + line for line in event.lines
                     if self.state == READY or not _is_readiness_probe(line, self.title)]
            self.logs.extend(lines)
            self.line_count += len(lines)
        elif isinstance(event, ev.StageChanged):
            if (event.state == "running"
                    and self.stage_states.get(event.stage, ("",))[0] != "running"):
                self.stage_started[event.stage] = time.time()
            self.stage_states[event.stage] = (event.state, event.seconds, event.detail)
        elif isinstance(event, ev.PhaseChanged):
            if event.source:
                self.pods[event.source] = (event.phase, event.detail)
            else:
                self.state, self.state_detail = event.phase, event.detail
                if event.phase == READY:
                    self.url = event.detail
        elif isinstance(event, ev.Notice):
            where = f"{event.source}: " if event.source else ""
            self.notices.append((event.level, where + event.text))
        elif isinstance(event, ev.Progress):
            self.progress = f"{event.what}: {event.done * 100 // max(event.total, 1)}%"
        elif isinstance(event, ev.Finished):
            if self.state != DELETED:
                self.state = READY if event.phase == ev.SUCCEEDED else event.phase
            self.summary = event.summary
            self.ended = time.time()
            for stage, (state, _, detail) in list(self.stage_states.items()):
                if state == "running":  # the header and the stages tell the same story
                    seconds = self.ended - self.stage_started.get(stage, self.ended)
                    self.stage_states[stage] = (
                        "done" if event.phase == ev.SUCCEEDED else "failed", seconds, detail)

    def _stage_seconds(self, stage: str) -> float:
        return time.time() - self.stage_started.get(stage, time.time())

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        with self._lock:
            bundle["text/plain"] = self.text()
        return bundle

    def text(self) -> str:
        """The panel as plain text (header, stages, pods, notices, log tail, URL or failure)."""
        from fairing_magics.ui.format import STATE_MARKS, format_seconds

        out = [f"{self.title} · endpoint · {self.backend} · {self.state}"
               + (f" ({self.state_detail})" if self.state_detail and self.state != READY else "")
               + f" · {format_seconds((self.ended or time.time()) - self.started)}"]
        stages = []
        for stage in self.stage_names:
            state, seconds, detail = self.stage_states.get(stage, ("waiting", 0.0, ""))
            timing = f" {format_seconds(seconds)}" if state in ("done", "failed") else ""
            stages.append(f"{STATE_MARKS.get(state, '○')} {stage}{timing}"
                          + (f" ({detail})" if state == "running" and detail else ""))
        out.append("stages: " + "  ".join(stages))
        out.extend(f"pod {pod}: {phase}" + (f" ({detail})" if detail else "")
                   for pod, (phase, detail) in sorted(self.pods.items()))
        out.extend(f"{level}: {text}" for level, text in self.notices if level != "info")
        tail = list(self.logs)[-20:]
        if tail:
            out.append(f"log (last {len(tail)} of {self.line_count} lines; .logs() has all):")
            out.extend("  " + strip_ansi(line) for line in tail)
        if self.state == DELETED:
            out.append(f"{DELETED}: {self.state_detail or 'the endpoint was removed'}")
        elif self.ended is not None:
            out.append(f"{self.state}: {self.summary}")
        return "\n".join(out)

    def refresh_display(self) -> None:
        """Put the current text into the displayed output (what a headless notebook saves)."""
        if self.ended is not None:
            self.close()
        if self.display_handle is not None:
            try:
                self.display_handle.update(self)
            except Exception:  # noqa: BLE001 - no kernel to send to: nothing to refresh
                pass

    # -- rendering (flusher thread, one at a time) ---------------------------------------
    def _render_state(self) -> None:
        with self._lock:
            header = self._header_html()
            stages = self._stages_html()
            pods = self._pods_html()
            notices = self._notices_html()
            url_html = self._url_html()
            logs, count = list(self.logs), self.line_count
        self.log_box.update(logs, count)
        self.header.value = header
        self.stage_row.value = stages
        self.pod_box.value = pods
        self.notice_box.value = notices
        self.url_box.value = url_html

    def _header_html(self) -> str:
        detail = self.state_detail if self.state != READY else ""
        return header_html(self.title, f"endpoint · {self.backend}", self.state,
                           _COLOURS.get(self.state, "#444"), detail,
                           (self.ended or time.time()) - self.started)

    def _stages_html(self) -> str:
        return stages_html(self.stage_names, self.stage_states, self.progress,
                           running_seconds=self._stage_seconds)

    def _pods_html(self) -> str:
        if not self.pods:
            return ""
        ready = sum(1 for phase, _ in self.pods.values() if phase == READY)
        rows = [f"<div><code>{html.escape(pod)}</code> "
                f'<span style="color:{_COLOURS.get(phase, "#555")}">{html.escape(phase)}</span>'
                + (f" <small>{html.escape(detail)}</small>" if detail else "") + "</div>"
                for pod, (phase, detail) in sorted(self.pods.items())]
        return ('<div class="fairing-pods" style="font-size:90%">'
                f"<b>pods {ready}/{len(self.pods)} ready</b>" + "".join(rows) + "</div>")

    def _notices_html(self) -> str:
        return notices_html(self.notices)

    def _url_html(self) -> str:
        if self.ended is None:
            return ""
        if self.state == READY:
            return (f'<div class="fairing-url" style="color:#1a7f37"><b>Ready</b>: '
                    f"<code>{html.escape(self.summary.split(' ready at ')[-1])}</code></div>")
        if self.state == DELETED:
            return (f'<div class="fairing-summary" style="color:#57606a"><b>Deleted</b>: '
                    f"{html.escape(self.state_detail or 'the endpoint was removed')}</div>")
        return ('<div class="fairing-summary" style="color:#cf222e">'
                f"<b>{html.escape(self.state)}</b>: {html.escape(self.summary)}</div>")


def _is_readiness_probe(line: str, name: str) -> bool:
    """An access-log line of a readiness probe (``GET /v1/models/NAME``) before the endpoint is
    ready: the ``ready`` stage counts the attempts instead of showing each as a line."""
    return f'"GET /v1/models/{name} HTTP/1.' in line or '"GET /v2/health/ready HTTP/1.' in line
