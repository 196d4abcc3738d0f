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

STAGES = ("capture", "build", "push", "submit", "run")

# Run phases, in the order a run normally goes through them.
PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELLED = "Cancelled"
TIMED_OUT = "TimedOut"
DETACHED = "Detached"
FINAL_PHASES = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)


@dataclass(frozen=True)
class StageChanged:
    """A pipeline stage started (``state='running'``), ended (``'done'``) or failed."""

    stage: str
    state: str
    seconds: float = 0.0
    detail: str = ""


@dataclass
class StageTimer:
    """The stage being run inside :func:`stage`: set ``detail`` to say how it went (``3 layers``)."""

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
class Notice:
    """Something the user should see that is not a log line: a Kubernetes event, a warning."""

    text: str
    level: str = "info"  # info | warning | error
    source: str = ""


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
