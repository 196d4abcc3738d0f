"""JobView: the ipywidgets panel of a run.

Layout, top to bottom: a header (run name, backend, phase in colour, the run's duration) with a
progress bar per replica (percent, rate, ETA) while the program draws one; a row of stages with
their durations (only the stages the backend has: capture, build, push, submit, schedule, pull,
run, upload); the notices that matter (pod events, warnings); the log (one tab per replica when a
run has several), which follows the newest line unless the user scrolled up and shows a
progress bar's newest frame live; the metrics chart (one small chart per metric, one line per
replica); a Cancel button; the final summary; and the program's rich outputs in the order it made
them (``display()``, figures, the final value), each rendered by the front end as an ordinary
output (an ``ipywidgets.Output`` holding it) as soon as it arrives. Its parts carry CSS classes
for styles and browser tests: ``fairing-jobview`` (the panel), ``fairing-header`` with
``fairing-phase``, ``fairing-progress`` (one per replica, ``data-fraction``), ``fairing-stages``
with one ``fairing-stage`` each, ``fairing-notices``, ``fairing-log`` (each log area; the live
rows are ``fairing-live``), ``fairing-chart``, ``fairing-summary``, ``fairing-displays`` with one
``fairing-display`` each (``fairing-display-source`` names the replica of one).

When the cell that waited for the run ends, the magic moves the displays out of the panel into
the cell's ordinary outputs (:meth:`JobView.release_displays`), where a saved notebook keeps them.

Displayed, the panel's ``text/plain`` is what the text view prints
(:func:`~fairing_magics.ui.textview.render_text`): a notebook run headless (nbclient,
papermill) keeps a readable log in its saved outputs; :meth:`refresh_display` updates it when the
run ends. Events arrive from background threads; :class:`~fairing_magics.ui.panel.Panel` records
them and renders a few times a second from a flusher thread, one render at a time.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from fairing_magics import events as ev
from fairing_magics.ui.chart import charts_html
from fairing_magics.ui.format import (
    PHASE_COLOURS,
    header_html,
    notices_html,
    progress_html,
    stages_html,
)
from fairing_magics.ui.logbox import LogBox
from fairing_magics.ui.panel import CancelButton, Panel
from fairing_magics.ui.state import RunState


class JobView(CancelButton, Panel):
    """The panel of one run. ``widget`` is what gets displayed (``display(view)`` shows it with
    the text of :func:`~fairing_magics.ui.textview.render_text` as its ``text/plain``)."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...], log_lines: int = 1000,
                 on_cancel=None, started: float | None = None):
        super().__init__()
        self.state = RunState(title=title, backend=backend, stages=stages, log_lines=log_lines,
                              started=started)
        self.title = title
        self.backend = backend
        self.log_lines = log_lines
        self.header = widgets.HTML()
        self.stage_row = widgets.HTML()
        self.notice_box = widgets.HTML()
        self.log_boxes: dict[str, LogBox] = {"": LogBox(log_lines)}
        self.tabs: widgets.Tab | None = None
        self.log_box = widgets.VBox([self.log_boxes[""].widget])
        self.chart = widgets.HTML()
        self._make_cancel_button(on_cancel)
        self.summary_box = widgets.HTML()
        self.display_box = widgets.VBox()
        self.display_box.add_class("fairing-displays")
        self._display_widgets: dict[tuple[int, str], tuple[object, widgets.Output]] = {}
        self._released = False
        self.widget = widgets.VBox(
            [self.header, self.stage_row, self.notice_box, self.log_box, self.chart,
             widgets.HBox([self.cancel_button]), self.summary_box, self.display_box],
            layout=widgets.Layout(border="1px solid #ccc", padding="6px"),
        )
        self.widget.add_class("fairing-jobview")
        self.display_handle = None
        self._start(f"fairing-view-{title}")

    # -- what older callers read ----------------------------------------------------------
    @property
    def phase(self) -> str:
        return self.state.phase

    @property
    def summary(self) -> str:
        return self.state.summary

    @property
    def logs(self):
        return self.state.logs

    # -- events (any thread, under the lock) ---------------------------------------------
    def _record(self, event) -> None:
        self.state.record(event)

    def _render_now(self, event) -> None:
        if isinstance(event, ev.DisplayShown):
            self._render()  # the log above it too: the lines printed before it show with it

    def release_displays(self) -> list:
        """The run ended: take its displays out of the panel and return them (to become the
        cell's ordinary outputs); none while the run goes on (a ``--no-wait`` run keeps showing
        them here)."""
        with self._lock:
            if self.state.ended is None or self._released:
                return []
            self._released = True
            shown = list(self.state.displays)
        with self._render_lock:
            children, self.display_box.children = self.display_box.children, ()
            for child in children:
                for inner in getattr(child, "children", ()):
                    inner.close()  # a replica's label and its output
                child.close()  # else ipywidgets keeps every widget ever made
            self._display_widgets.clear()
        return shown

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        from fairing_magics.ui.textview import render_text

        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        with self._lock:
            bundle["text/plain"] = render_text(self.state)
        return bundle

    def refresh_display(self) -> None:
        """Put the panel's text, as it is now, into the displayed output (what a headless notebook
        saves): at the end of the cell, and when a ``--no-wait`` run is waited for. A panel whose
        run goes on keeps updating."""
        if self.state.ended is not None:
            self.close()  # the final render first
        else:
            self._render()
        if self.display_handle is not None:
            try:
                self.display_handle.update(self)
            except Exception:  # noqa: BLE001 - no kernel to send to: nothing to refresh
                pass

    # -- rendering (flusher thread, one at a time) ---------------------------------------
    def _render_state(self) -> None:
        state = self.state
        with self._lock:
            header = header_html(state.title, state.backend, state.phase,
                                 PHASE_COLOURS.get(state.phase, "#444"), state.phase_detail,
                                 state.elapsed)
            header += progress_html(state.progress) if state.ended is None or state.progress else ""
            stages = stages_html(state.stage_names, state.stage_states, state.transfer,
                                 running_seconds=state.stage_seconds)
            notices = notices_html(state.notices)
            logs = {source: (list(state.logs[source]), state.line_counts.get(source, 0),
                             state.live.get(source, ()))
                    for source in state.sources()}  # a copy: widgets are made outside the lock
            chart = charts_html(state.series)
            summary = state.summary
            finished = state.ended is not None
            phase = state.phase
        self._render_logs(logs)
        self._render_displays()
        self.header.value = header
        self.stage_row.value = stages
        self.notice_box.value = notices
        if self.chart.value != chart:
            self.chart.value = chart
        if finished:
            colour = PHASE_COLOURS.get(phase, "#444")
            self.summary_box.value = (f'<div class="fairing-summary" style="color:{colour}">'
                                      f"<b>{html.escape(phase)}</b>: {html.escape(summary)}</div>")
            self._hide_cancel()

    def _render_displays(self) -> None:
        """New displays become Output widgets at the bottom; an updated one is replaced in place.
        (Called with the render lock held.)"""
        with self._lock:
            if self._released:
                return
            shown = list(self.state.displays)
        added = []
        for item in shown:
            key = (item.index, item.source)
            known = self._display_widgets.get(key)
            if known is not None:
                if known[0] is not item:  # updated in place (display_id)
                    known[1].outputs = (_widget_output(item),)
                    self._display_widgets[key] = (item, known[1])
                continue
            out = widgets.Output()
            out.add_class("fairing-display")
            out.outputs = (_widget_output(item),)
            self._display_widgets[key] = (item, out)
            if item.source:
                label = widgets.HTML(f'<div class="fairing-display-source" style="color:#666;'
                                     f'font-size:85%">{html.escape(item.source)}</div>')
                added.append(widgets.VBox([label, out]))
            else:
                added.append(out)
        if added:
            self.display_box.children = tuple(self.display_box.children) + tuple(added)

    def _render_logs(self, logs: dict) -> None:
        sources = list(logs)
        if sources != [""]:
            if self.tabs is None:
                self.tabs = widgets.Tab()
                self.log_box.children = [self.tabs]
                self.log_boxes.pop("", None)
            if any(source not in self.log_boxes for source in sources):
                for source in sources:
                    self.log_boxes.setdefault(source, LogBox(self.log_lines))
                self.tabs.children = tuple(box.widget for box in self.log_boxes.values())
                for index, name in enumerate(self.log_boxes):
                    self.tabs.set_title(index, name)
        for source, (lines, total, live) in logs.items():
            self.log_boxes[source].update(lines, total, live)


def _widget_output(shown) -> dict:
    """A display as an ``Output`` widget's output (a display_data: an Output keeps no prompts)."""
    return {"output_type": "display_data", "data": dict(shown.data),
            "metadata": dict(shown.metadata)}
