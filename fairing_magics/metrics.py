"""Metrics of a run: found in its log lines, kept in ``metrics.jsonl``, charted by the panel.

What counts as a metric (:class:`MetricParser`), in each finished line:

- ``name=value`` pairs: the convention Katib's StdOut metrics collector parses (its default
  filter ``([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)``), so the same cell works
  under a sweep; ``fairing_magics.log_metric`` prints these too. A tqdm bar's final frame
  carries its postfix (``loss=0.3``) this way;
- ``name: value`` pairs of Keras and Lightning epoch summaries (``10/10 [====] - 1s - loss:
  0.31 - val_loss: 0.35``, Keras 3's ``━━━`` bars alike);
- JSON lines (``{"epoch": 3, "loss": 0.41}``): every number in them;
- XGBoost/LightGBM evaluation lines (``[3]\ttrain-rmse:0.51\tvalid-rmse:0.62``).

The x of a point (its ``step``) is a ``step``/``epoch``/``iteration``/``iter``/``global_step`` value
of the same line (which is then not a metric itself), else the epoch of the last ``Epoch N/M``
line (Keras), else the count of earlier values of that metric and replica.

:class:`MetricSeries` keeps a bounded copy for charts (every point up to a limit, then every
second, fourth, ... point: the shape stays, memory does not grow); the file keeps them all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

from fairing_magics.ansi import strip_ansi
from fairing_magics.events import MetricPoint

METRICS_FILE = "metrics.jsonl"
STEP_KEYS = ("step", "epoch", "iteration", "iter", "global_step")
MAX_CHART_POINTS = 400

KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
# The same matches with two groups only (findall then gives pairs: much faster on every line).
_KATIB_PAIRS = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(?:\.\d+)?(?:[Ee][+-]?\d+)?)")
_STEP_RANK = {key: rank for rank, key in enumerate(STEP_KEYS)}
_KERAS_PAIR = re.compile(r"(?:^|\s-\s)([A-Za-z_][\w/.]*):"
                         r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[Ee][+-]?\d+)?)")
_KERAS_LINE = re.compile(r"^\s*\d+/\d+\s")
_EPOCH_LINE = re.compile(r"^\s*Epoch\s+(\d+)(?:/(\d+))?\s*$")
# XGBoost / LightGBM evaluation lines: "[3]\ttrain-rmse:0.51\tvalid-rmse:0.62"
_BOOSTING_LINE = re.compile(r"^\[(\d+)\]\s")
_BOOSTING_PAIR = re.compile(r"\s([\w.-]+):([+-]?(?:\d+\.?\d*|\.\d+)(?:[Ee][+-]?\d+)?)(?=\s|$)")


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class MetricParser:
    """Turns finished log lines of one run into :class:`MetricPoint` values."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._epoch: dict[str, float] = {}

    def parse(self, lines: Iterable[str], source: str = "", now: float = 0.0) -> list[MetricPoint]:
        points: list[MetricPoint] = []
        for line in lines:
            if "=" not in line and ":" not in line and "{" not in line and "Epoch" not in line:
                continue
            if "\x1b" in line:
                line = strip_ansi(line)
            pairs = self._pairs(line, source)
            if pairs:
                points.extend(self._points(pairs, source, now))
        return points

    def _pairs(self, line: str, source: str) -> list[tuple[str, float]]:
        text = line.strip()
        if text.startswith("{") and text.endswith("}"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return [(str(k), float(v)) for k, v in data.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v)]
        if "Epoch" in text:
            epoch = _EPOCH_LINE.match(text)
            if epoch:
                self._epoch[source] = float(epoch.group(1))
                return []
        pairs: list[tuple[str, float]] = []
        if text.startswith("["):
            boosting = _BOOSTING_LINE.match(text)
            if boosting:
                found = [(n, _float(v)) for n, v in _BOOSTING_PAIR.findall(text)]
                found = [(n, v) for n, v in found if v is not None]
                if found:
                    return [("iteration", float(boosting.group(1))), *found]
        if "=" in text:
            for name, value in _KATIB_PAIRS.findall(text):
                if value:
                    try:
                        pairs.append((name, float(value)))  # digits only: always finite
                    except ValueError:
                        continue
        if not pairs and ": " in text and " - " in text and _KERAS_LINE.match(text):
            for name, value in _KERAS_PAIR.findall(text):
                number = _float(value)
                if number is not None and name != "ETA":
                    pairs.append((name, number))
        return pairs

    def _points(self, pairs: list[tuple[str, float]], source: str, now: float) -> list[MetricPoint]:
        step = None
        best = len(STEP_KEYS)
        for name, value in pairs:
            rank = _STEP_RANK.get(name, best)
            if rank < best:
                step, best = value, rank
        if step is None:
            step = self._epoch.get(source)
        points = []
        counts = self._counts
        for name, value in pairs:
            if name in _STEP_RANK:
                continue
            key = (name, source)
            count = counts.get(key, 0)
            counts[key] = count + 1
            points.append(MetricPoint(name, value, float(count) if step is None else step,
                                      source, now))
        return points


class MetricSeries:
    """The chart's copy of each metric of each replica: bounded, evenly thinned, newest kept."""

    def __init__(self, max_points: int = MAX_CHART_POINTS) -> None:
        self.max_points = max_points
        self.series: dict[tuple[str, str], list[tuple[float, float]]] = {}
        self._stride: dict[tuple[str, str], int] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self.last: dict[tuple[str, str], tuple[float, float]] = {}
        self.best: dict[tuple[str, str], tuple[float, float]] = {}  # (min, max)

    def add(self, points: Iterable[MetricPoint]) -> None:
        seen_of, last, best, strides, series = (self._seen, self.last, self.best, self._stride,
                                                self.series)
        for p in points:
            key = (p.name, p.source)
            value = p.value
            seen = seen_of.get(key, 0)
            seen_of[key] = seen + 1
            last[key] = (p.step, value)
            low, high = best.get(key, (value, value))
            if value < low or value > high:
                best[key] = (min(low, value), max(high, value))
            elif seen == 0:
                best[key] = (low, high)
            stride = strides.get(key, 1)
            if seen % stride:
                continue
            points_of = series.get(key)
            if points_of is None:
                points_of = series[key] = []
            points_of.append((p.step, value))
            if len(points_of) > self.max_points:
                points_of[:] = points_of[::2]
                strides[key] = stride * 2

    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.series))

    def points(self, key: tuple[str, str]) -> list[tuple[float, float]]:
        """The kept points of ``key``, with the newest value last even when thinned out."""
        kept = self.series.get(key, [])
        last = self.last.get(key)
        return kept + [last] if last is not None and (not kept or kept[-1] != last) else list(kept)

    def count(self, key: tuple[str, str]) -> int:
        return self._seen.get(key, 0)


def point_record(point: MetricPoint) -> dict:
    record = {"name": point.name, "value": point.value, "step": point.step,
              "time": round(point.time, 3)}
    if point.source:
        record["source"] = point.source
    return record


def point_lines(points: Iterable[MetricPoint]) -> str:
    """``points`` as ``metrics.jsonl`` lines (what :func:`point_record` gives, written by hand:
    json.dumps per point cost more than the rest of the metric path)."""
    names: dict[str, str] = {}
    ends: dict[tuple[float, str], str] = {}  # the points of one batch share their time
    out = []
    for p in points:
        name = names.get(p.name)
        if name is None:
            name = names[p.name] = json.dumps(p.name)
        end = ends.get((p.time, p.source))
        if end is None:
            source = f', "source": {json.dumps(p.source)}' if p.source else ""
            end = ends[(p.time, p.source)] = f'"time": {round(p.time, 3)!r}{source}}}\n'
        out.append(f'{{"name": {name}, "value": {p.value!r}, "step": {p.step!r}, {end}')
    return "".join(out)


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (a torn last line, from a kill, is skipped)."""
    records = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                record.setdefault("source", "")
                records.append(record)
    except FileNotFoundError:
        pass
    return records


def metrics_table(records: list[dict]):
    """``records`` as a pandas DataFrame (columns step, name, value, source, time) when pandas
    imports, else the list of dicts itself."""
    try:
        import pandas as pd
    except ImportError:
        return records
    return pd.DataFrame.from_records(records, columns=["step", "name", "value", "source", "time"])
