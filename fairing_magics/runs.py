"""Runs by name, wherever they are: what ``%fairing_jobs``, ``%fairing_logs`` and
``%fairing_cancel`` do.

A run is looked for where it can be, in this order:

1. this kernel's :class:`~fairing_magics.run.RunBook`;
2. the run folders under the runs root (``FAIRING_HOME``, or a ``--storage`` folder): runs of
   other kernels and of kernels that are gone, each settled
   (:func:`~fairing_magics.run.settle_record`: a gone kernel's local run is Lost);
3. an ``s3://`` ``--storage``, where runs leave their record and log;
4. its backend, which may keep runs that outlive any kernel: a cluster finds its runs by their
   labels, to list, reattach to and cancel them (:class:`~fairing_magics.backends.Backend`).

A name is a run's full name (``linreg-a1b2c3``) or the ``--name`` it was started with: then the
newest such run is meant. A sweep's trial is found by its full name (``tune-ab12cd-03``) in its
sweep's folder, so another kernel can follow or cancel one trial.

Schedules (a notebook on a timetable, ``%fairing_notebook --schedule``) are listed and removed
by the backend that keeps them: the configured one, and the backend of each schedule this
machine remembers (:func:`~fairing_magics.run.read_schedules`), whatever is configured now.
``%fairing_cancel NAME`` takes a schedule's name before a run's, unless this kernel holds a run
of that name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends import get_backend
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError
from fairing_magics.run import (
    CHILD_RUNS,
    Run,
    RunBook,
    load_record,
    read_records,
    read_schedules,
    settle_record,
)
from fairing_magics.ui.format import format_seconds, format_table

SUMMARY_WIDTH = 70


@dataclass(frozen=True)
class PastRun:
    """A run this kernel does not hold, as its record says: from its run folder on this machine
    (``folder``), or from the storage (``folder`` None, its ``stored_log`` read with it)."""

    record: Mapping[str, Any]
    folder: Path | None = None
    stored_log: str = ""

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def backend(self) -> str:
        return self.record.get("backend") or "local"

    @property
    def phase(self) -> str:
        return self.record.get("phase") or ""

    @property
    def ended(self) -> bool:
        return self.phase in ev.FINAL_PHASES

    @property
    def namespace(self) -> str | None:
        return (self.record.get("where") or {}).get("namespace") or None

    def log(self) -> str:
        """Its log, a line per display it made (from its run folder), and one line saying how
        it ended."""
        text = self.stored_log
        if self.folder is not None:
            log = self.folder / "logs.txt"
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            text += display_lines(self.folder)
        seconds = self.record.get("duration") or 0.0
        if not self.ended and self.record.get("started_at"):  # the record's is its last save's
            seconds = time.time() - self.record["started_at"]
        return (f"{text}[fairing] {self.name} {self.phase}: {self.record.get('summary') or '-'} "
                f"[{format_seconds(seconds)}]\n")


def display_lines(folder: Path) -> str:
    """One line per display a run made, naming its saved file (``run.displays`` shows them)."""
    from fairing_magics.displays import read_displays

    return "".join(f"[fairing] {shown.placeholder()}\n" for shown in read_displays(folder))


def find_past_run(name: str, settings: Settings) -> PastRun | None:
    """Run ``name`` from the run folders, else from an ``s3://`` storage; None when neither has
    it."""
    return _recorded_run(name, settings) or _stored_run(name, settings)


def _recorded_run(name: str, settings: Settings) -> PastRun | None:
    runs = settings.runs_root / "runs"
    folder = runs / name
    if not (folder / "run.json").exists():
        matches = sorted(runs.glob(f"{name}-*/run.json"), key=lambda p: p.stat().st_mtime)
        # a sweep's trial, by its full name (``tune-ab12cd-03``), in its sweep's folder
        matches = matches or sorted(runs.glob(f"*/{CHILD_RUNS}/{name}/run.json"))
        if not matches:
            return None
        folder = matches[-1].parent
    record = load_record(folder)
    if record is None:
        return None
    return PastRun(settle_record(folder, record), folder)


def _stored_run(name: str, settings: Settings) -> PastRun | None:
    if not settings.storage.startswith("s3://"):
        return None
    from fairing_magics.storage import MissingRunFile, check_run_name, storage_for

    try:
        storage = storage_for(settings.storage)
        record = json.loads(storage.read_bytes(check_run_name(name), "run.json"))
    except (MissingRunFile, ConfigError, ValueError):
        return None
    try:
        text = storage.read_bytes(name, "logs.txt").decode("utf-8", "replace")
    except MissingRunFile:
        text = ""
    return PastRun(record, None, text)


def no_run(name: str, settings: Settings) -> ConfigError:
    return ConfigError(f"no run {name!r} in this kernel, under {settings.runs_root} or in the "
                       "storage; %fairing_jobs --all lists the recorded runs")


def reattach_or_log(name: str, settings: Settings, book: RunBook, *,
                    show: Callable[[object], None] | None = None) -> Run | str:
    """``%fairing_logs`` of a run this kernel does not hold: the run reattached to, when it goes
    on where its backend can follow it (wait for it with :func:`fairing_magics.pipeline.follow`),
    else its log and how it ended, as text."""
    past = find_past_run(name, settings)
    if past is None or not past.ended:
        run = pipeline.reattach(past.name if past else name, settings, book,
                                backend=past.backend if past else settings.backend,
                                namespace=past.namespace if past else None, show=show)
        if run is not None:
            return run
    if past is None:
        raise no_run(name, settings)
    return past.log()


def cancel(name: str, book: RunBook, settings: Settings) -> str:
    """``%fairing_cancel``: remove the schedule ``name`` (see the module docstring), or stop run
    ``name``, this kernel's or one its backend can reach (a local run of another kernel of this
    machine, a container, a cluster's job); one line saying what was done."""
    run = book.get(name)
    remembered = next((r for r in read_schedules(settings.runs_root) if r["name"] == name), None)
    if remembered is not None or run is None:
        keeper = get_backend(remembered["backend"] if remembered else settings.backend)
        said = keeper.cancel_schedule(name, settings, remembered)
        if said is not None:
            return said
    if run is not None:
        if run.done:
            return f"{run.name} already ended: {run.phase}"
        run.cancel()
        run.wait_done(15)
        return f"{run.name}: {run.phase}"
    past = find_past_run(name, settings)
    if past is not None and past.ended:
        return f"{past.name} already ended: {past.phase} ({past.record.get('summary') or '-'})"
    backend = get_backend(past.backend if past else settings.backend)
    said = backend.cancel(past.name if past else name, settings,
                          record=past.record if past else None,
                          folder=past.folder if past else None)
    if said is None:
        raise no_run(name, settings)
    return said


def jobs_table(book: RunBook, settings: Settings, *, every: bool = False, limit: int = 20) -> str:
    """``%fairing_jobs``: the configured backend's own runs (a cluster's), this kernel's runs
    (``every``: also every run recorded under the runs root), the newest ``limit`` of them, and
    this kernel's endpoints."""
    from fairing_magics.deploy import ENDPOINTS

    parts = []
    listing = get_backend(settings.backend).list_runs(settings)
    if listing:
        parts.append(listing + "\n")
    schedules = schedules_table(settings)
    if schedules:
        parts.append(schedules + "\n")
    recorded = read_records(settings.runs_root)
    rows = {record["name"]: record for record in recorded} if every else {}
    for run in book.all():
        rows[run.name] = run.record()
    if not rows:
        others = (f" %fairing_jobs --all lists the {len(recorded)} recorded runs."
                  if recorded else "")
        parts.append("No runs in this kernel yet: start one with %%fairing_train." + others)
    else:
        chosen = sorted(rows.values(), key=lambda r: r.get("started_at") or 0)[-limit:]
        parts.append(format_table([("NAME", "BACKEND", "STATUS", "START", "DURATION", "SUMMARY"),
                                   *(_job_row(record) for record in chosen)]))
        if len(rows) > len(chosen):
            parts.append(f"({len(rows) - len(chosen)} older runs not shown: --limit {len(rows)})")
    endpoints = ENDPOINTS.all()
    if endpoints:
        parts.append("\n" + format_table(
            [("ENDPOINT", "BACKEND", "STATUS", "REVISION", "URL"),
             *((e.name, e.backend, e.status, str(e.revision), e.predict_url) for e in endpoints)]))
    return "\n".join(parts)


def schedules_table(settings: Settings) -> str:
    """The schedules of the configured backend and of every backend this machine made
    schedules with, each backend's table asked of it."""
    remembered: dict[str, list[dict]] = {settings.backend: []}
    for record in read_schedules(settings.runs_root):
        remembered.setdefault(record["backend"], []).append(record)
    tables = (get_backend(name).list_schedules(settings, records)
              for name, records in remembered.items())
    return "\n".join(table for table in tables if table)


def _job_row(record: Mapping[str, Any]) -> tuple[str, ...]:
    """One run's row: one duration everywhere, from the start of its capture to its end."""
    now = time.time()
    start = record.get("started_at") or now
    seconds = record.get("duration") if record.get("finished_at") else now - start
    summary = record.get("summary") or ""
    if len(summary) > SUMMARY_WIDTH:
        summary = summary[:SUMMARY_WIDTH - 1] + "…"
    return (record["name"], record.get("backend", ""), record.get("phase", ""),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)),
            format_seconds(max(0.0, seconds or 0.0)), summary)
