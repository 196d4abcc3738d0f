"""One trial of a sweep, as a value, and the event that says it changed.

The statuses are Katib's Trial conditions, so a local sweep and a Katib Experiment read alike:
``Pending``, ``Running``, ``Succeeded``, ``Failed``, ``EarlyStopped`` (the median rule stopped
it), ``MetricsUnavailable`` (it ran but never printed its objective), ``Killed`` (the sweep was
cancelled or ended while it ran).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
EARLY_STOPPED = "EarlyStopped"
METRICS_UNAVAILABLE = "MetricsUnavailable"
KILLED = "Killed"
FINAL = (SUCCEEDED, FAILED, EARLY_STOPPED, METRICS_UNAVAILABLE, KILLED)
#: Trials that count against ``--max-failed`` (Katib counts the same two).
FAILURES = (FAILED, METRICS_UNAVAILABLE)


@dataclass(frozen=True)
class Trial:
    """A trial: its number (from 1), its run's name, the parameters it was given, where it is,
    its objective (its best value, as Katib takes it) and the latest value of each metric."""

    number: int
    name: str
    params: Mapping[str, object]
    status: str = PENDING
    value: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None
    message: str = ""
    steps: int = 0  # intermediate values of the objective seen so far

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def with_(self, **changes) -> Trial:
        return replace(self, **changes)


@dataclass(frozen=True)
class TrialChanged:
    """A trial started, reported a value or ended (the sweep panel's event)."""

    trial: Trial


def best_trial(trials, goal: str) -> Trial | None:
    """The succeeded trial with the best objective (the first such on a tie), or None."""
    done = [t for t in trials if t.status == SUCCEEDED and t.value is not None]
    if not done:
        return None
    if goal == "minimize":
        return min(done, key=lambda t: (t.value, t.number))
    return max(done, key=lambda t: (t.value, -t.number))


def missing_objective_message(trial_label: str, objective: str) -> str:
    """Why a trial that ran to the end is no result."""
    return (f"{trial_label} ran to the end but never printed its objective: its log has no line "
            f"{objective}=<number>. Print it (print(f\"{objective}={{value}}\")) or call "
            f"fairing_magics.log_metric(\"{objective}\", value) in the cell")
