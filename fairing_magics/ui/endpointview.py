"""EndpointView: the ipywidgets panel of a deployment, and its text fallback.

Top to bottom: a header (endpoint name, backend, state in colour, elapsed time); the stages with
their durations (package, build, push, apply, rollout, ready: those the deployer has); one line
per pod with its phase (a rollout's progress); the pod events and warnings; the server's last log
lines; and, once ready, the URL to POST to, or why it failed.

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
from fairing_magics.ui.format import (
    PHASE_COLOURS,
    header_html,
    notices_html,
    stages_html,
)
from fairing_magics.ui.panel import MAX_NOTICES, Panel

READY = "Ready"
_COLOURS = {**PHASE_COLOURS, READY: "#1a7f37", "RollingOut": "#1f6feb", "Starting": "#1f6feb"}


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
    hold what it shows."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...], log_lines: int = 200):
        import ipywidgets as widgets

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
        self.pods: dict[str, tuple[str, str]] = {}
        self.notices: deque[tuple[str, str]] = deque(maxlen=MAX_NOTICES)
        self.logs: deque[str] = deque(maxlen=log_lines)
        self.progress = ""

        self.header = widgets.HTML()
        self.stage_row = widgets.HTML()
        self.pod_box = widgets.HTML()
        self.notice_box = widgets.HTML()
        self.log_output = widgets.Output(layout=widgets.Layout(max_height="240px", overflow="auto",
                                                               border="1px solid #ddd"))
        self.url_box = widgets.HTML()
        self.widget = widgets.VBox([self.header, self.stage_row, self.pod_box, self.notice_box,
                                    self.log_output, self.url_box],
                                   layout=widgets.Layout(border="1px solid #ccc", padding="6px"))
        self.widget.add_class("fairing-endpointview")
        self._start(f"fairing-endpoint-{title}")

    # -- events (any thread, under the lock) ---------------------------------------------
    def _record(self, event) -> None:
        if isinstance(event, ev.LogLines):
            prefix = f"[{event.source}] " if event.source and event.source != self.title else ""
            self.logs.extend(prefix + line for line in event.lines)
        elif isinstance(event, ev.StageChanged):
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
            self.state = READY if event.phase == ev.SUCCEEDED else event.phase
            self.summary = event.summary
            self.ended = time.time()

    # -- rendering (flusher thread, one at a time) ---------------------------------------
    def _render_state(self) -> None:
        with self._lock:
            header = self._header_html()
            stages = self._stages_html()
            pods = self._pods_html()
            notices = self._notices_html()
            text = "\n".join(self.logs) + ("\n" if self.logs else "")
            url_html = self._url_html()
        self.header.value = header
        self.stage_row.value = stages
        self.pod_box.value = pods
        self.notice_box.value = notices
        current = self.log_output.outputs[0]["text"] if self.log_output.outputs else ""
        if text != current:
            # Replace the value; append_stdout + clear_output misbehave from threads.
            self.log_output.outputs = ({"output_type": "stream", "name": "stdout", "text": text},) if text else ()
        self.url_box.value = url_html

    def _header_html(self) -> str:
        detail = self.state_detail if self.state != READY else ""
        return header_html(self.title, f"endpoint · {self.backend}", self.state, _COLOURS.get(self.state, "#444"),
                           detail, (self.ended or time.time()) - self.started)

    def _stages_html(self) -> str:
        return stages_html(self.stage_names, self.stage_states, self.progress)

    def _pods_html(self) -> str:
        if not self.pods:
            return ""
        ready = sum(1 for phase, _ in self.pods.values() if phase == READY)
        rows = [f"<div><code>{html.escape(pod)}</code> "
                f'<span style="color:{_COLOURS.get(phase, "#555")}">{html.escape(phase)}</span>'
                + (f" <small>{html.escape(detail)}</small>" if detail else "") + "</div>"
                for pod, (phase, detail) in sorted(self.pods.items())]
        return (f'<div class="fairing-pods" style="font-size:90%"><b>pods {ready}/{len(self.pods)} ready</b>'
                + "".join(rows) + "</div>")

    def _notices_html(self) -> str:
        return notices_html(self.notices)

    def _url_html(self) -> str:
        if self.ended is None:
            return ""
        if self.state == READY:
            return (f'<div class="fairing-url" style="color:#1a7f37"><b>Ready</b>: '
                    f"<code>{html.escape(self.summary.split(' ready at ')[-1])}</code></div>")
        return (f'<div class="fairing-summary" style="color:#cf222e"><b>{html.escape(self.state)}</b>: '
                f"{html.escape(self.summary)}</div>")
