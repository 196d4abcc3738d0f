"""What a trial reported, read the way Katib's StdOut metrics collector reads a trial's log.

Katib's collector (``pkg/metricscollector/v1beta1/file-metricscollector``) matches each line
against its default filter ``([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)``
(:data:`fairing_magics.metrics.KATIB_FILTER`) and keeps, for each metric it was told about, the
minimum, maximum and latest value; a trial's objective is then its minimum when minimizing and its
maximum when maximizing (Katib's default ``metricStrategies``). The local backend reads its trials'
logs here, with the same rule, so a cell tuned on the laptop reports the same objective on Katib:
``print(f"val_loss={v}")`` or ``fairing_magics.log_metric("val_loss", v)``; Keras' ``val_loss:
0.3`` or a JSON line is charted by the run panel but is no objective for Katib, nor here.

The objective's values in order are also its intermediate values (the median early-stopping rule
compares them), at the ``step=``/``epoch=`` of the same line or else at their count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from fairing_magics.metrics import KATIB_FILTER, STEP_KEYS


@dataclass
class MetricSummary:
    """Katib's ``Metric``: ``min``, ``max``, ``latest`` of one metric, and how many values."""

    min: float
    max: float
    latest: float
    count: int = 1

    def add(self, value: float) -> None:
        self.min, self.max, self.latest = min(self.min, value), max(self.max, value), value
        self.count += 1

    def best(self, goal: str) -> float:
        return self.min if goal == "minimize" else self.max


@dataclass
class Observation:
    """The named metrics a trial printed, in Katib's form; ``steps`` are the objective's
    intermediate values ``(step, value)``."""

    objective: str
    names: tuple[str, ...]
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    steps: list[tuple[float, float]] = field(default_factory=list)

    def read(self, lines: Iterable[str]) -> list[tuple[float, float]]:
        """Take in finished log lines; return the objective's new intermediate values."""
        new = []
        wanted = self.names
        for line in lines:
            if "=" not in line:
                continue
            pairs = [(m.group(1), m.group(2)) for m in KATIB_FILTER.finditer(line)]
            step = None
            found = []
            for name, text in pairs:
                try:
                    value = float(text)
                except ValueError:
                    continue
                if not math.isfinite(value):
                    continue
                if name in STEP_KEYS and step is None:
                    step = value
                if name in wanted:
                    found.append((name, value))
            for name, value in found:
                summary = self.metrics.get(name)
                if summary is None:
                    self.metrics[name] = MetricSummary(value, value, value)
                else:
                    summary.add(value)
                if name == self.objective:
                    point = (step if step is not None else float(len(self.steps)), value)
                    self.steps.append(point)
                    new.append(point)
        return new

    def value(self, goal: str) -> float | None:
        """The trial's objective (Katib's default strategy), None when it never printed one."""
        summary = self.metrics.get(self.objective)
        return None if summary is None else summary.best(goal)

    def values(self) -> dict[str, float]:
        """The latest value of each metric printed (the table's columns)."""
        return {name: s.latest for name, s in self.metrics.items()}
