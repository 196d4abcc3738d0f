"""JobView: the ipywidgets panel of a run.

Layout, top to bottom: a header (run name, backend, phase in colour, elapsed time); a row of
stages with their durations (only the stages the backend has); the notices that matter (pod
events, warnings); the log (one tab per replica when a run has several) keeping the last
``log_lines`` lines; a Cancel button; and the final summary. Its parts carry CSS classes for
styles and browser tests: ``fairing-jobview`` (the panel), ``fairing-header`` with
``fairing-phase``, ``fairing-stages`` with one ``fairing-stage`` each, ``fairing-notices``,
``fairing-log`` (each log area) and ``fairing-summary``.

Events arrive from background threads; :class:`~fairing_magics.ui.panel.Panel` records them and
renders a few times a second from a flusher thread, one render at a time.
"""

from __future__ import annotations

import html
import time
from collections import deque

import ipywidgets as widgets

from fairing_magics import events as ev
from fairing_magics.ui.format import PHASE_COLOURS, header_html, notices_html, stages_html
from fairing_magics.ui.panel import MAX_NOTICES, Panel


class JobView(Panel):
    """The panel of one run. ``widget`` is what gets displayed."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...], log_lines: int = 1000,
                 on_cancel=None):
        super().__init__()
        self.title = title
        self.backend = backend
        self.stage_names = tuple(stages)
        self.log_lines = log_lines
        self.phase = ev.PENDING
        self.phase_detail = ""
        self.started = time.time()
        self.ended: float | None = None
        self.stage_states: dict[str, tuple[str, float, str]] = {}
        self.logs: dict[str, deque[str]] = {"": deque(maxlen=log_lines)}
        self.line_counts: dict[str, int] = {"": 0}
        self.notices: deque[tuple[str, str]] = deque(maxlen=MAX_NOTICES)
        self.progress = ""
        self.summary = ""

        self.header = widgets.HTML()
        self.stage_row = widgets.HTML()
        self.notice_box = widgets.HTML()
        self.log_output = widgets.Output(layout=widgets.Layout(max_height="320px", overflow="auto",
                                                               border="1px solid #ddd"))
        self.log_output.add_class("fairing-log")
        self.tabs: widgets.Tab | None = None
        self.tab_outputs: dict[str, widgets.Output] = {}
        self.log_box = widgets.VBox([self.log_output])
        self.cancel_button = widgets.Button(description="Cancel", button_style="warning",
                                            icon="stop", layout=widgets.Layout(width="110px"))
        self.summary_box = widgets.HTML()
        self._on_cancel = on_cancel
        self.cancel_button.on_click(self._cancel_clicked)
        self.widget = widgets.VBox(
            [self.header, self.stage_row, self.notice_box, self.log_box,
             widgets.HBox([self.cancel_button]), self.summary_box],
            layout=widgets.Layout(border="1px solid #ccc", padding="6px"),
        )
        self.widget.add_class("fairing-jobview")
        self._start(f"fairing-view-{title}")

    # -- events (any thread, under the lock) ---------------------------------------------
    def _record(self, event) -> None:
        if isinstance(event, ev.LogLines):
            source = event.source
            if source not in self.logs:
                self.logs[source] = deque(maxlen=self.log_lines)
                self.line_counts[source] = 0
            self.logs[source].extend(event.lines)
            self.line_counts[source] += len(event.lines)
        elif isinstance(event, ev.StageChanged):
            self.stage_states[event.stage] = (event.state, event.seconds, event.detail)
        elif isinstance(event, ev.PhaseChanged):
            if event.source:
                self.notices.append(("info", f"{event.source}: {event.phase}"
                                     + (f" ({event.detail})" if event.detail else "")))
            else:
                self.phase, self.phase_detail = event.phase, event.detail
        elif isinstance(event, ev.Notice):
            where = f"{event.source}: " if event.source else ""
            self.notices.append((event.level, where + event.text))
        elif isinstance(event, ev.Progress):
            self.progress = f"{event.what}: {event.done * 100 // max(event.total, 1)}%"
        elif isinstance(event, ev.Finished):
            self.phase, self.phase_detail = event.phase, ""  # a running phase's detail is stale now
            self.summary = event.summary
            self.ended = time.time()

    def block_cancel(self, hint: str) -> None:
        """The cell blocks and widget events cannot reach the kernel until the run ends: show the
        button disabled, saying how to stop the run instead (``hint``), rather than a dead button."""
        self.cancel_button.disabled = True
        self.cancel_button.description = hint
        self.cancel_button.tooltip = ("The kernel is busy waiting for this run, so this button "
                                      f"cannot reach it: {hint}")
        self.cancel_button.layout.width = "auto"

    def _cancel_clicked(self, _button) -> None:
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling"
        if self._on_cancel is not None:
            self._on_cancel()

    # -- rendering (flusher thread, one at a time) ---------------------------------------
    def _render_state(self) -> None:
        with self._lock:
            header = self._header_html()
            stages = self._stages_html()
            notices = self._notices_html()
            logs = {source: "\n".join(lines) + ("\n" if lines else "") for source, lines in self.logs.items()}
            summary = self.summary
            finished = self.ended is not None
            phase = self.phase
        self.header.value = header
        self.stage_row.value = stages
        self.notice_box.value = notices
        self._render_logs(logs)
        if finished:
            colour = PHASE_COLOURS.get(phase, "#444")
            self.summary_box.value = (f'<div class="fairing-summary" style="color:{colour}">'
                                      f"<b>{html.escape(phase)}</b>: {html.escape(summary)}</div>")
            self.cancel_button.disabled = True
            self.cancel_button.layout.display = "none"

    def _render_logs(self, logs: dict[str, str]) -> None:
        sources = [s for s in logs if s] if len(logs) > 1 else [""]
        if len(sources) > 1 or sources[0] != "":
            if self.tabs is None:
                self.tabs = widgets.Tab()
                self.log_box.children = [self.tabs]
            for source in sources:
                if source not in self.tab_outputs:
                    self.tab_outputs[source] = widgets.Output(layout=widgets.Layout(
                        max_height="320px", overflow="auto"))
                    self.tab_outputs[source].add_class("fairing-log")
                    self.tabs.children = tuple(self.tab_outputs.values())
                    for index, name in enumerate(self.tab_outputs):
                        self.tabs.set_title(index, name)
            targets = {source: self.tab_outputs[source] for source in sources}
        else:
            targets = {"": self.log_output}
        for source, output in targets.items():
            text = logs.get(source, "")
            current = output.outputs[0]["text"] if output.outputs else ""
            if text != current:
                # Replace the value; append_stdout + clear_output misbehave from threads.
                output.outputs = ({"output_type": "stream", "name": "stdout", "text": text},) if text else ()

    def _header_html(self) -> str:
        return header_html(self.title, self.backend, self.phase, PHASE_COLOURS.get(self.phase, "#444"),
                           self.phase_detail, (self.ended or time.time()) - self.started)

    def _stages_html(self) -> str:
        return stages_html(self.stage_names, self.stage_states, self.progress)

    def _notices_html(self) -> str:
        return notices_html(self.notices)
