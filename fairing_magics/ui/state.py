"""RunState: what a view knows of a run, recorded from its events (any view keeps one).

:class:`StagedState` is what every panel knows of something that runs (a run, a sweep): its
phase, its stages and their times, its end; :class:`RunState` adds the log, metrics and displays.

The widget panel renders it as HTML; :func:`~fairing_magics.ui.textview.render_text` renders it
as the text a headless notebook keeps (the panel's ``text/plain``). Bounded: the last
``log_lines`` finished lines per replica, the live rows, a thinned copy of each metric, the
run's displays (bounded by the run's cap on them).
"""

from __future__ import annotations

import time
from collections import deque

from fairing_magics import events as ev
from fairing_magics.metrics import MetricSeries

MAX_NOTICES = 12


class StagedState:
    """The phase, stages and end of something that runs, from its events; subclasses record the
    rest in ``record`` and call :meth:`_stage` and :meth:`_finish` for these."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...],
                 started: float | None = None):
        self.title = title
        self.backend = backend
        self.stage_names = tuple(stages)
        self.phase = ev.PENDING
        self.phase_detail = ""
        self.started = started or time.time()
        self.ended: float | None = None
        self.seconds: float | None = None  # the duration, once it ended (Finished)
        self.stage_states: dict[str, tuple[str, float, str]] = {}
        self.stage_started: dict[str, float] = {}
        self.summary = ""
        self.version = 0  # bumped by every event: renderers skip work when nothing changed

    def _stage(self, event: ev.StageChanged) -> None:
        if event.state == "running":
            self.stage_started[event.stage] = time.time()
        self.stage_states[event.stage] = (event.state, event.seconds, event.detail)

    def _finish(self, event: ev.Finished) -> None:
        self.phase, self.phase_detail = event.phase, ""  # a running phase's detail is stale now
        self.summary = event.summary
        self.ended = time.time()
        self.seconds = event.seconds or None
        for stage, (state, _seconds, detail) in list(self.stage_states.items()):
            if state == "running":  # it never said how it ended: the end ends it
                self.stage_states[stage] = (
                    "failed" if event.phase != ev.SUCCEEDED else "done",
                    self.ended - self.stage_started.get(stage, self.ended), detail)

    @property
    def elapsed(self) -> float:
        """The duration: the same number as the summary and ``%fairing_jobs``."""
        if self.seconds is not None:
            return self.seconds
        return (self.ended or time.time()) - self.started

    def stage_seconds(self, stage: str) -> float:
        state, seconds, _ = self.stage_states.get(stage, ("", 0.0, ""))
        if state == "running":
            return time.time() - self.stage_started.get(stage, time.time())
        return seconds


class RunState(StagedState):
    """Recorded events of one run. Not thread-safe by itself: views record under their lock."""

    def __init__(self, *, title: str, backend: str, stages: tuple[str, ...], log_lines: int = 1000,
                 started: float | None = None):
        super().__init__(title=title, backend=backend, stages=stages, started=started)
        self.log_lines = log_lines
        self.logs: dict[str, deque[str]] = {"": deque(maxlen=log_lines)}
        self.line_counts: dict[str, int] = {"": 0}
        self.live: dict[str, tuple[str, ...]] = {}
        self.notices: deque[tuple[str, str]] = deque(maxlen=MAX_NOTICES)
        self.transfer = ""  # push progress: "layer 3: 45%"
        self.progress: dict[str, ev.RunProgress] = {}
        self.series = MetricSeries()
        self.displays: list = []  # the run's Display values, in order (an update replaces one)

    def record(self, event) -> None:
        self.version += 1
        if isinstance(event, ev.LogLines):
            source = event.source
            if source not in self.logs:
                self.logs[source] = deque(maxlen=self.log_lines)
                self.line_counts[source] = 0
            self.logs[source].extend(event.lines)
            self.line_counts[source] += len(event.lines)
        elif isinstance(event, ev.LiveLines):
            if event.source not in self.logs:
                self.logs[event.source] = deque(maxlen=self.log_lines)
                self.line_counts[event.source] = 0
            self.live[event.source] = tuple(event.lines)
        elif isinstance(event, ev.StageChanged):
            self._stage(event)
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
            self.transfer = f"{event.done * 100 // max(event.total, 1)}%"
        elif isinstance(event, ev.RunProgress):
            self.progress[event.source] = event
        elif isinstance(event, ev.MetricPoints):
            self.series.add(event.points)
        elif isinstance(event, ev.DisplayShown):
            shown = event.display
            key = (shown.index, shown.source)
            at = next((i for i, d in enumerate(self.displays)
                       if event.replaces and (d.index, d.source) == key), None)
            if at is None:
                self.displays.append(shown)
            else:
                self.displays[at] = shown
        elif isinstance(event, ev.Finished):
            self._finish(event)
            self.live = {}

    def sources(self) -> list[str]:
        """The replicas with output, or ``[""]`` for a run with one."""
        named = [s for s in self.logs if s]
        return named if named else [""]
