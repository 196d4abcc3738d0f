"""The text views: terminal IPython, ``FAIRING_UI=text``, headless runs (papermill), and the
``text/plain`` of the widget panel.

:class:`TextView` prints a run's events as they arrive: finished log lines as they are (colours
stripped unless the stream is a terminal; ``[replica] `` in front when a run has several),
everything else behind ``[fairing]``. On a terminal the newest frame of a progress bar is redrawn
in place below the log; elsewhere (a notebook's stream, a CI log) a progress line is printed at
every quarter, so the output stays readable. The run's displays print as their text, a figure
(any image) as one line naming the file it is saved in (:func:`display_text`).

:func:`render_text` is the panel as text (header, stages, progress, log tail, metrics, result):
what a notebook executed headless keeps in its saved outputs instead of a widget placeholder.
"""

from __future__ import annotations

import threading

from fairing_magics import events as ev
from fairing_magics.ansi import strip_ansi
from fairing_magics.ui.format import (
    STATE_MARKS,
    describe_stage,
    format_seconds,
    progress_bar_text,
    progress_text,
)

TEXT_TAIL_LINES = 20
PROGRESS_STEPS = 4  # a text stream that is no terminal gets a progress line at each quarter


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def metrics_text(series) -> str:
    """``loss 0.2482 (step 1000, min 0.2482, 6 values) · acc ...``: one item per metric and
    replica."""
    items = []
    for (name, source), (step, value) in series.last.items():
        low, high = series.best.get((name, source), (value, value))
        where = f"[{source}] " if source else ""
        count = series.count((name, source))
        items.append(f"{where}{name} {_number(value)} (step {step:g}, min {_number(low)}, "
                     f"max {_number(high)}, {count} value{'s' if count != 1 else ''})")
    return " · ".join(items)


def render_text(state, tail: int = TEXT_TAIL_LINES) -> str:
    """The panel of ``state`` (a :class:`~fairing_magics.ui.state.RunState`) as plain text."""
    out = [f"{state.title} · {state.backend} · {state.phase}"
           + (f" ({state.phase_detail})" if state.phase_detail else "")
           + f" · {format_seconds(state.elapsed)}"]
    stages = []
    for stage in state.stage_names:
        st, seconds, detail = state.stage_states.get(stage, ("waiting", 0.0, ""))
        mark = STATE_MARKS.get(st, "○")
        timing = (f" {format_seconds(state.stage_seconds(stage))}"
                  if st in ("done", "failed", "running") else "")
        stages.append(f"{mark} {stage}{timing}"
                      + (f" ({detail})" if detail and st == "running" else ""))
    out.append("stages: " + "  ".join(stages))
    for source, p in sorted(state.progress.items()):
        label = " ".join(x for x in (source, p.label) if x)
        out.append("progress: " + (f"{label} " if label else "") + " ".join(
            x for x in (progress_bar_text(p), progress_text(p)) if x))
    for level, text in state.notices:
        if level != "info":
            out.append(f"{level}: {text}")
    sources = state.sources()
    for source in sources:
        lines = list(state.logs.get(source, ()))
        live = [strip_ansi(row) for row in state.live.get(source, ())]
        total = state.line_counts.get(source, 0)
        shown = [strip_ansi(line) for line in lines[-tail:]] + live
        name = f" of {source}" if source else ""
        if total > len(shown) - len(live):
            out.append(f"log{name} (last {len(shown) - len(live)} of {total} lines; "
                       "run.logs() has all):")
        elif shown:
            out.append(f"log{name}:")
        out.extend("  " + line for line in shown)
    metrics = metrics_text(state.series)
    if metrics:
        out.append("metrics: " + metrics)
    if state.displays:
        out.append("displays (run.displays):")
        out.extend("  " + shown.placeholder() for shown in state.displays)
    if state.ended is not None:
        out.append(f"{state.phase}: {state.summary}")
    return "\n".join(out)


def display_text(shown, replaced: bool = False) -> str:
    """A display as a text view prints it: an image as one line naming its saved file, anything
    else as its text (the final value after ``Out:``), as a terminal IPython would."""
    prefix = f"[{shown.source}] " if shown.source else ""
    if shown.image is not None:
        return f"[fairing] {shown.placeholder()}{' (updated)' if replaced else ''}\n"
    text = shown.text
    if shown.kind == "result":
        text = "Out: " + text if "\n" not in text else "Out:\n" + text
    return "".join(prefix + line + "\n" for line in text.splitlines() or [""])


class TextView:
    """Writes a run's events to ``stream``. ``handle`` may be called from any thread."""

    def __init__(self, *, title: str, stream, live: bool | None = None):
        self.title = title
        self.stream = stream
        self._lock = threading.Lock()
        try:
            self._tty = bool(stream.isatty()) if live is None else live
        except (AttributeError, ValueError):
            self._tty = False
        self._drawn = ""  # the live row drawn below the log (a terminal only)
        self._quarter: dict[str, int] = {}
        from fairing_magics.metrics import MetricSeries

        self._series = MetricSeries(max_points=2)

    def _write(self, text: str) -> None:
        with self._lock:
            if self._drawn and text:
                text = "\r\x1b[K" + text + self._drawn
            self.stream.write(text)
            if hasattr(self.stream, "flush"):
                self.stream.flush()

    def handle(self, event) -> None:
        if isinstance(event, ev.LogLines):
            prefix = f"[{event.source}] " if event.source else ""
            lines = event.lines if self._tty else [strip_ansi(line) for line in event.lines]
            self._write("".join(prefix + line + "\n" for line in lines))
        elif isinstance(event, ev.LiveLines):
            if self._tty:
                prefix = f"[{event.source}] " if event.source else ""
                row = prefix + event.lines[0] if event.lines else ""
                with self._lock:
                    self._drawn = row
                    self.stream.write("\r\x1b[K" + row)
                    self.stream.flush()
        elif isinstance(event, ev.RunProgress):
            fraction = event.fraction
            if not self._tty and fraction is not None:
                quarter = int(fraction * PROGRESS_STEPS)
                if quarter > self._quarter.get(event.source, 0):
                    self._quarter[event.source] = quarter
                    where = f" {event.source}" if event.source else ""
                    self._write(f"[fairing] {self.title}{where} progress {progress_text(event)}\n")
        elif isinstance(event, ev.MetricPoints):
            self._series.add(event.points)
        elif isinstance(event, ev.StageChanged):
            if event.state != "running":
                self._write(f"[fairing] {describe_stage(event)}\n")
        elif isinstance(event, ev.PhaseChanged):
            where = f" {event.source}" if event.source else ""
            detail = f" ({event.detail})" if event.detail else ""
            self._write(f"[fairing] {self.title}{where}: {event.phase}{detail}\n")
        elif isinstance(event, ev.Notice):
            where = f" {event.source}" if event.source else ""
            self._write(f"[fairing] {event.level}{where}: {event.text}\n")
        elif isinstance(event, ev.Progress):
            pass  # byte progress is for the panel; text shows the stage result
        elif isinstance(event, ev.DisplayShown):
            self._write(display_text(event.display, event.replaces))
        elif isinstance(event, ev.Finished):
            with self._lock:
                if self._drawn:
                    self.stream.write("\r\x1b[K")
                    self._drawn = ""
            metrics = metrics_text(self._series)
            if metrics:
                self._write(f"[fairing] metrics: {metrics}\n")
            self._write(f"[fairing] {self.title} {event.phase}: {event.summary} "
                        f"[{format_seconds(event.seconds)}]\n")

    def close(self) -> None:
        pass
