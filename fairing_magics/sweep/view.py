"""The sweep panel: a live table of trials, the objective per trial, each trial's log on demand.

Layout, top to bottom: a header (sweep name, backend, phase, trials done of planned, how many
run, the best objective so far); the row of stages (capture, and build, push, submit on a
cluster, then run); the notices (each trial that ends with a problem, says why); the trial table
(one row per trial: number, status in colour, each parameter, the objective and each ``--metric``,
its duration; the best succeeded trial highlighted and starred); a chart of the objective of each
trial with the best so far as a second line; a trial picker that shows the chosen trial's log
(read when chosen, and again while it runs); a Cancel button; the summary. CSS classes for styles
and browser tests: ``fairing-sweepview``, ``fairing-header``, ``fairing-trials`` (the table),
``fairing-trial`` (each row, ``data-trial``, ``data-status``), ``fairing-best`` (the best row),
``fairing-chart``, ``fairing-trial-log``, ``fairing-summary``.

Displayed, its ``text/plain`` is :func:`render_sweep_text` (a headless notebook keeps the table).
Without widgets (a terminal, ``FAIRING_UI=text``) the sweep is shown by the plain text view:
one line per trial that starts or ends, then the summary.
"""

from __future__ import annotations

import html
import sys
import threading

from fairing_magics import events as ev
from fairing_magics.sweep.trial import (
    EARLY_STOPPED,
    FAILED,
    KILLED,
    METRICS_UNAVAILABLE,
    RUNNING,
    SUCCEEDED,
    Trial,
    TrialChanged,
    best_trial,
)
from fairing_magics.ui.chart import chart_svg
from fairing_magics.ui.format import (
    PHASE_COLOURS,
    format_seconds,
    header_html,
    notices_html,
    stages_html,
)
from fairing_magics.ui.panel import CancelButton, Panel
from fairing_magics.ui.state import MAX_NOTICES, StagedState

STATUS_COLOURS = {RUNNING: "#1f6feb", SUCCEEDED: "#1a7f37", FAILED: "#cf222e",
                  METRICS_UNAVAILABLE: "#cf222e", EARLY_STOPPED: "#9a6700", KILLED: "#9a6700"}
BEST_BACKGROUND = "#dafbe1"
LOG_LINES = 400


def make_sweep_view(mode: str, sweep, *, on_cancel=None, stream=None):
    """The panel of ``sweep``: the widget panel in Jupyter (``auto``/``widget``), else text."""
    from fairing_magics.ui import widgets_supported

    if mode == "widget" or (mode == "auto" and widgets_supported()):
        return SweepView(sweep, on_cancel=on_cancel)
    from fairing_magics.ui.textview import TextView

    return TextView(title=sweep.name, stream=stream or sys.stdout)


class SweepState(StagedState):
    """What the panel knows of a sweep, recorded from its events (under the panel's lock)."""

    def __init__(self, sweep):
        super().__init__(title=sweep.name, backend=sweep.backend, stages=sweep.stages_shown,
                         started=sweep.started_at)
        self.objective = sweep.objective
        self.goal = sweep.goal
        self.param_names = tuple(sweep.options.space.names)
        self.metric_names = tuple(sweep.options.metrics)
        self.planned = sweep.options.planned_trials()
        self.trials: dict[str, Trial] = {}
        self.notices: list[tuple[str, str]] = []

    def record(self, event) -> None:
        self.version += 1
        if isinstance(event, TrialChanged):
            self.trials[event.trial.name] = event.trial
        elif isinstance(event, ev.StageChanged):
            self._stage(event)
        elif isinstance(event, ev.PhaseChanged) and not event.source:
            self.phase, self.phase_detail = event.phase, event.detail
        elif isinstance(event, ev.Notice) and event.level != "info":
            self.notices = (self.notices + [(event.level, event.text)])[-MAX_NOTICES:]
        elif isinstance(event, ev.Finished):
            self._finish(event)

    def ordered(self) -> list[Trial]:
        return sorted(self.trials.values(), key=lambda t: t.number)

    def best(self) -> Trial | None:
        return best_trial(self.trials.values(), self.goal)

    def progress(self) -> str:
        """``7/20 trials done · 4 running · best val_loss=0.123 (trial 3)``."""
        trials = self.ordered()
        done = sum(t.done for t in trials)
        running = sum(t.status == RUNNING for t in trials)
        best = self.best()
        text = f"{done}/{self.planned} trials done"
        if running:
            text += f" · {running} running"
        if best is not None:
            text += f" · best {self.objective}={_value(best.value)} (trial {best.number})"
        return text


def _value(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def trials_html(state: SweepState) -> str:
    """The trial table (pure): one row per trial, the best one highlighted."""
    best = state.best()
    columns = ["#", "status", *state.param_names, state.objective, *state.metric_names, "duration"]
    head = "".join(f'<th style="text-align:left;padding:2px 8px">{html.escape(c)}</th>'
                   for c in columns)
    rows = []
    for trial in state.ordered():
        is_best = best is not None and trial.name == best.name
        colour = STATUS_COLOURS.get(trial.status, "#8a8a8a")
        cells = [f"{'★ ' if is_best else ''}{trial.number}",
                 f'<span style="color:{colour}">{html.escape(trial.status)}</span>']
        cells += [html.escape(_value(trial.params.get(name))) for name in state.param_names]
        objective = html.escape(_value(trial.value))
        cells.append(f"<b>{objective}</b>" if is_best else objective)
        cells += [html.escape(_value(trial.metrics.get(name))) for name in state.metric_names]
        cells.append(format_seconds(trial.duration) if trial.duration is not None else "")
        style = f"background:{BEST_BACKGROUND};" if is_best else ""
        title = f' title="{html.escape(trial.message)}"' if trial.message else ""
        classes = "fairing-trial fairing-best" if is_best else "fairing-trial"
        rows.append(f'<tr class="{classes}" data-trial="{trial.number}" '
                    f'data-status="{html.escape(trial.status)}" style="{style}"{title}>'
                    + "".join(f'<td style="padding:2px 8px">{c}</td>' for c in cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(columns)}" style="color:#888;padding:2px 8px">'
                    "no trial yet</td></tr>")
    return ('<table class="fairing-trials" style="border-collapse:collapse;font-size:12px;'
            'font-variant-numeric:tabular-nums"><thead><tr style="border-bottom:1px solid #ccc">'
            + head + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def objective_chart(state: SweepState) -> str:
    """The objective of each trial that reported one, and the best so far (pure)."""
    points = [(float(t.number), t.value) for t in state.ordered() if t.value is not None]
    if not points:
        return ""
    best_line, best = [], None
    for x, y in points:
        best = y if best is None else (min(best, y) if state.goal == "minimize" else max(best, y))
        best_line.append((x, best))
    svg = chart_svg(f"{state.objective} per trial", [("trial", points), ("best so far", best_line)],
                    width=360, height=140)
    legend = ('<div style="font-size:85%"><span style="color:#1f6feb">■ each trial</span> '
              '<span style="color:#cf222e">■ best so far</span></div>')
    return f'<div class="fairing-chart">{svg}{legend}</div>'


def render_sweep_text(state: SweepState) -> str:
    """The panel as plain text: header, table, problems, result."""
    out = [f"{state.title} · {state.backend} · sweep {state.phase} · "
           f"{format_seconds(state.elapsed)} · {state.progress()}"]
    columns = ["#", "status", *state.param_names, state.objective, *state.metric_names, "duration"]
    best = state.best()
    rows = [columns]
    for t in state.ordered():
        mark = "*" if best is not None and t.name == best.name else ""
        rows.append([f"{mark}{t.number}", t.status,
                     *[_value(t.params.get(n)) for n in state.param_names], _value(t.value),
                     *[_value(t.metrics.get(n)) for n in state.metric_names],
                     format_seconds(t.duration) if t.duration is not None else ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]
    for level, text in state.notices:
        out.append(f"{level}: {text}")
    if state.ended is not None:
        out.append(f"{state.phase}: {state.summary}")
    return "\n".join(out)


class SweepView(CancelButton, Panel):
    """The widget panel of one sweep (see the module docstring)."""

    def __init__(self, sweep, *, on_cancel=None):
        import ipywidgets as widgets

        from fairing_magics.ui.logbox import LogBox

        super().__init__()
        self.sweep = sweep
        self.state = SweepState(sweep)
        self.title = sweep.name
        self.header = widgets.HTML()
        self.stage_row = widgets.HTML()
        self.notice_box = widgets.HTML()
        self.table = widgets.HTML()
        self.chart = widgets.HTML()
        self.picker = widgets.Dropdown(options=[("(choose a trial to see its log)", "")], value="",
                                       layout=widgets.Layout(width="auto"))
        self.picker.observe(self._picked, names="value")
        self._log_box_class = LogBox
        self.log_box: LogBox | None = None
        self.log_area = widgets.VBox()
        self.log_area.add_class("fairing-trial-log")
        self._shown_log = ("", -1)
        self._make_cancel_button(on_cancel)
        self.summary_box = widgets.HTML()
        self.widget = widgets.VBox(
            [self.header, self.stage_row, self.notice_box, self.table, self.chart,
             self.picker, self.log_area, widgets.HBox([self.cancel_button]), self.summary_box],
            layout=widgets.Layout(border="1px solid #ccc", padding="6px"))
        self.widget.add_class("fairing-sweepview")
        self.display_handle = None
        self._picker_version = -1
        self._start(f"fairing-sweepview-{sweep.name}")

    # -- events ----------------------------------------------------------------------------
    def _record(self, event) -> None:
        self.state.record(event)

    def _picked(self, _change) -> None:
        """A trial was picked (the kernel's comm thread), or the options changed under the
        render itself (the flusher, holding the render lock): never render here, or the second
        would wait forever for the first. The flusher shows it; after the end, a thread does."""
        self._shown_log = ("", -1)
        self._dirty.set()
        if self._closed.is_set():
            threading.Thread(target=self._render, name="fairing-sweepview-log", daemon=True).start()

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        with self._lock:
            bundle["text/plain"] = render_sweep_text(self.state)
        return bundle

    def refresh_display(self) -> None:
        if self.state.ended is not None:
            self.close()
        else:
            self._render()
        if self.display_handle is not None:
            try:
                self.display_handle.update(self)
            except Exception:  # noqa: BLE001 - no kernel to send to: nothing to refresh
                pass

    def text(self) -> str:
        with self._lock:
            return render_sweep_text(self.state)

    # -- rendering (one at a time) ------------------------------------------------------------
    def _render_state(self) -> None:
        state = self.state
        with self._lock:
            header = header_html(state.title, f"{state.backend} sweep", state.phase,
                                 PHASE_COLOURS.get(state.phase, "#444"), state.phase_detail,
                                 state.elapsed)
            header += (f'<div class="fairing-sweep-progress" style="font-size:90%">'
                       f"{html.escape(state.progress())}</div>")
            stages = stages_html(state.stage_names, state.stage_states,
                                 running_seconds=state.stage_seconds)
            notices = notices_html(state.notices)
            table = trials_html(state)
            chart = objective_chart(state)
            choices = [(f"trial {t.number}: " + ", ".join(f"{k}={_value(v)}" for k, v in
                                                         t.params.items()), t.name)
                       for t in state.ordered()]  # labels that never change: the choice stays
            finished, phase, summary = state.ended is not None, state.phase, state.summary
        self.header.value = header
        self.stage_row.value = stages
        if self.notice_box.value != notices:
            self.notice_box.value = notices
        if self.table.value != table:
            self.table.value = table
        if self.chart.value != chart:
            self.chart.value = chart
        options = [("(choose a trial to see its log)", ""), *choices]
        if list(self.picker.options) != options:
            self.picker.options = options  # keeps the chosen value (a trial's name stays)
        self._render_log()
        if finished:
            colour = PHASE_COLOURS.get(phase, "#444")
            self.summary_box.value = (f'<div class="fairing-summary" style="color:{colour}">'
                                      f"<b>{html.escape(phase)}</b>: {html.escape(summary)}</div>")
            self._hide_cancel()

    def _render_log(self) -> None:
        name = self.picker.value or ""
        run = self.sweep.trial_runs.get(name) if name else None
        if run is None:
            if self.log_box is not None:
                self.log_box.widget.close()
                self.log_box = None
                self.log_area.children = ()
            self._shown_log = ("", -1)
            return
        count = run.line_count + (0 if run.done else len(run.live_rows()))
        if self._shown_log == (name, count) and self.log_box is not None:
            return
        if self._shown_log[0] != name or self.log_box is None:
            if self.log_box is not None:
                self.log_box.widget.close()
            self.log_box = self._log_box_class(LOG_LINES, height="220px")
            self.log_area.children = (self.log_box.widget,)
        lines = run.logs().splitlines()[-LOG_LINES:]
        self.log_box.update(lines, len(lines))
        self._shown_log = (name, count)
