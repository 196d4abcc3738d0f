"""What a run reports while it goes: the values that backends emit and views render.

Backends know nothing of widgets and views know nothing of backends; both speak these events.
Log lines travel in batches (:class:`LogLines`), because a run may print 100,000 lines and one
event per line would cost more than the lines themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

STAGES = ("capture", "build", "push", "submit", "run")
#: Every stage a run can show, in order; each backend shows those it has (``Backend.stages``).
TIMELINE = ("capture", "build", "push", "submit", "schedule", "pull", "run", "upload")

# Run phases, in the order a run normally goes through them.
PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELLED = "Cancelled"
TIMED_OUT = "TimedOut"
DETACHED = "Detached"
LOST = "Lost"  # its kernel is gone: nobody follows it, and a local run's process was ended
FINAL_PHASES = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, LOST)


@dataclass(frozen=True)
class StageChanged:
    """A pipeline stage started (``state='running'``), ended (``'done'``) or failed."""

    stage: str
    state: str
    seconds: float = 0.0
    detail: str = ""


@dataclass
class StageTimer:
    """The stage being run inside :func:`stage`: set ``detail`` to say how it went
    (``3 layers``)."""

    name: str
    started: float
    detail: str = ""

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@contextmanager
def stage(emit: Callable[[object], None], name: str) -> Iterator[StageTimer]:
    """Bracket one synchronous pipeline stage: ``running`` on entry, then ``done`` with its
    seconds and ``detail``, or ``failed`` when the body raises anything at all, a kernel interrupt
    included (a panel must never keep showing a stage as running after a Ctrl-C)::

        with stage(emit, "build") as step:
            image = builder.build(...)
            step.detail = f"{len(image.layers)} layers"
    """
    emit(StageChanged(name, "running"))
    step = StageTimer(name, time.perf_counter())
    try:
        yield step
    except BaseException:
        emit(StageChanged(name, "failed", step.elapsed(), step.detail))
        raise
    emit(StageChanged(name, "done", step.elapsed(), step.detail))


@dataclass(frozen=True)
class PhaseChanged:
    """The run (or one replica of it, when ``source`` is set) entered a new phase."""

    phase: str
    detail: str = ""
    source: str = ""


@dataclass(frozen=True)
class LogLines:
    """Complete lines (no trailing newline) written by the program, from one source (replica)."""

    lines: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class LiveLines:
    """The rows still being redrawn below the finished lines of ``source`` (a progress bar's
    newest frame, nested bars): each replaces the previous ``LiveLines`` of that source; empty
    when nothing is being redrawn. Colours are kept as ``ESC[...m`` runs."""

    lines: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class RunProgress:
    """Where a progress bar of the program is (tqdm, Keras, Lightning), per replica (``source``).
    ``total`` is 0 when unknown; ``eta`` is seconds left (None when unknown)."""

    done: float
    total: float
    source: str = ""
    eta: float | None = None
    rate: str = ""
    label: str = ""

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


class MetricPoint(NamedTuple):
    """One value of a metric: ``step`` is the x (a step or epoch), ``source`` the replica.
    (An immutable NamedTuple rather than a frozen dataclass: a run may make 100,000 a second,
    and a frozen dataclass costs five times as much to make.)"""

    name: str
    value: float
    step: float
    source: str = ""
    time: float = 0.0


@dataclass(frozen=True)
class MetricPoints:
    """New metric values, found in log lines or logged with ``fairing_magics.log_metric``."""

    points: tuple[MetricPoint, ...]


@dataclass(frozen=True)
class Notice:
    """Something the user should see that is not a log line: a Kubernetes event, a warning."""

    text: str
    level: str = "info"  # info | warning | error
    source: str = ""


@dataclass(frozen=True)
class DisplayPart:
    """One part of a display message of the runtime (``ESC]fairing;display=ID;part=I;of=N;...``):
    the run puts the parts of ``display_id`` together and emits a :class:`DisplayShown`."""

    display_id: str
    part: int
    count: int
    data: str
    source: str = ""


@dataclass(frozen=True)
class DisplayShown:
    """A rich output of the program, whole: a ``display()``, a figure or the cell's final value
    (a :class:`~fairing_magics.displays.Display`); ``replaces`` when it updates an earlier one
    shown with the same ``display_id``."""

    display: object
    replaces: bool = False


@dataclass(frozen=True)
class Progress:
    """Byte progress of a transfer (image push)."""

    what: str
    done: int
    total: int


@dataclass(frozen=True)
class Finished:
    """The run ended. ``phase`` is one of FINAL_PHASES; ``summary`` is one line for people."""

    phase: str
    summary: str
    seconds: float = 0.0
