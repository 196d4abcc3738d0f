"""The Sweep: what a ``%%fairing_sweep`` cell returns, and the durable record of a sweep.

A sweep is a run (:class:`~fairing_magics.run.Run`): it has a name, a backend, phases, a folder
``<home>/runs/<name>/`` with ``run.json`` and ``logs.txt`` (one line per trial that starts or
ends), it is listed by ``%fairing_jobs``, followed by ``%fairing_logs`` and stopped by
``%fairing_cancel`` and the panel's Cancel button. Its trials are runs of their own, kept under
``<folder>/trials/<trial>/`` (their logs, metrics and outputs), and the table of them is written
to ``trials.json`` as they change.

What a user reads:

- ``sweep.best_params``: the parameters of the best succeeded trial (a dict);
- ``sweep.best_value``: its objective (its best reported value, as Katib takes it);
- ``sweep.trials``: every trial as a pandas DataFrame (``trial``, ``status``, one column per
  parameter, the objective and each ``--metric``, ``duration``, ``name``, ``message``);
- ``sweep.best_run``: the best trial's run; its ``.outputs`` hold the cell's ``--outputs``
  (e.g. the fitted model), which also come back into the notebook when the sweep succeeds;
- ``sweep.trial_runs``: every trial's run by name (``.logs()``, ``.metrics``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.run import Run
from fairing_magics.sweep.trial import FINAL, SUCCEEDED, Trial, TrialChanged, best_trial
from fairing_magics.ui.format import format_seconds

TRIALS_FILE = "trials.json"


class Sweep(Run):
    """A hyperparameter sweep (see the module docstring). Made by
    :func:`fairing_magics.sweep.launch.start_sweep`; its driver (local or Katib) feeds it."""

    def __init__(self, name: str, backend: str, folder: Path, *, options, stages: tuple[str, ...],
                 started_at: float | None = None, where: dict | None = None):
        self.options = options
        self.objective = options.objective
        self.goal = options.goal
        self._trials: dict[str, Trial] = {}
        self.trial_runs: dict[str, Run] = {}
        self._trial_lock = threading.RLock()
        self._load_outputs: Callable[[Run], dict] | None = None
        super().__init__(name, backend, folder, outputs=options.train.outputs, stages=stages,
                         started_at=started_at, where=where)

    # -- what drivers call ------------------------------------------------------------------
    def set_output_loader(self, load: Callable[[Run], dict]) -> None:
        """How the best trial's ``--outputs`` are read back (its folder, or the run storage)."""
        self._load_outputs = load

    def add_trial(self, trial: Trial, run: Run | None = None) -> None:
        if run is not None:
            with self._trial_lock:
                self.trial_runs[trial.name] = run
        self.update_trial(trial)

    def update_trial(self, trial: Trial) -> None:
        """Record ``trial`` as it is now and tell the panel; a start and an end also become a
        line of the sweep's log."""
        with self._trial_lock:
            before = self._trials.get(trial.name)
            self._trials[trial.name] = trial
            table = [self._trial_record(t) for t in self._trials.values()]
        self.emit(TrialChanged(trial))
        started = trial.status != "Pending" and (before is None or before.status == "Pending")
        ended = trial.done and (before is None or not before.done)
        if started or ended:
            self.emit(ev.Notice(self.describe_trial(trial), "warning" if ended and
                                trial.status != SUCCEEDED and trial.status != "EarlyStopped"
                                else "info"))
            _write_json(self.folder / TRIALS_FILE, table)

    def describe_trial(self, trial: Trial) -> str:
        """``trial 3 (tune-ab12cd-3) Succeeded: val_loss=0.123 · lr=0.001, depth=4 · 2.1 s``."""
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        parts = [f"trial {trial.number} ({trial.name}) {trial.status}"]
        if trial.value is not None:
            parts[0] += f": {self.objective}={_short(trial.value)}"
        parts.append(params)
        if trial.done and trial.duration is not None:
            parts.append(format_seconds(trial.duration))
        if trial.message and trial.done:
            parts.append(trial.message)
        return " · ".join(p for p in parts if p)

    # -- what users call --------------------------------------------------------------------
    def trial_list(self) -> list[Trial]:
        """Every trial so far, by number."""
        with self._trial_lock:
            return sorted(self._trials.values(), key=lambda t: t.number)

    @property
    def best_trial(self) -> Trial | None:
        return best_trial(self.trial_list(), self.goal)

    @property
    def best_params(self) -> dict:
        best = self.best_trial
        return dict(best.params) if best else {}

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return best.value if best else None

    @property
    def best_run(self) -> Run | None:
        """The best trial's run, its ``--outputs`` read back (once) into ``.outputs``."""
        best = self.best_trial
        if best is None:
            return None
        run = self.trial_runs.get(best.name)
        if run is not None and self.requested_outputs and not run.outputs and self._load_outputs:
            run.outputs = self._load_outputs(run)
        return run

    @property
    def trials(self):
        """Every trial as a pandas DataFrame (a list of dicts when pandas is missing)."""
        rows = [self._trial_record(t) for t in self.trial_list()]
        try:
            import pandas as pd
        except ImportError:
            return rows
        columns = ["trial", "status", *self.options.space.names, *self.options.names,
                   "duration", "name", "message"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        return frame.set_index("trial")

    def _trial_record(self, trial: Trial) -> dict:
        row = {"trial": trial.number, "status": trial.status, **dict(trial.params)}
        for name in self.options.names:
            row[name] = trial.value if name == self.objective else trial.metrics.get(name)
        duration = trial.duration
        row.update(duration=None if duration is None else round(duration, 3), name=trial.name,
                   message=trial.message)
        return row

    def counts(self) -> dict[str, int]:
        """How many trials are in each status."""
        out: dict[str, int] = {}
        for trial in self.trial_list():
            out[trial.status] = out.get(trial.status, 0) + 1
        return out

    def summary_text(self) -> str:
        """``best val_loss=0.123 at trial 7 (lr=0.001, depth=4); 20 trials: 18 Succeeded, ...``."""
        best = self.best_trial
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        total = len(self.trial_list())
        head = (f"best {self.objective}={_short(best.value)} at trial {best.number} ("
                + ", ".join(f"{k}={_short(v)}" for k, v in best.params.items()) + ")"
                if best else f"no trial reported {self.objective}")
        return f"{head}; {total} trial{'s' if total != 1 else ''}: {counts or 'none'}"

    # -- records ----------------------------------------------------------------------------
    def record(self) -> dict:
        record = super().record()
        if not hasattr(self, "_trials"):
            return record
        best = self.best_trial
        record["sweep"] = {
            "objective": self.objective, "goal": self.goal,
            "trials": len(self._trials), "planned": self.options.planned_trials(),
            "counts": self.counts(),
            "best": None if best is None else {"trial": best.name, "value": best.value,
                                               "params": dict(best.params)},
        }
        return record

    def __repr__(self) -> str:
        done = sum(1 for t in self.trial_list() if t.status in FINAL)
        best = self.best_trial
        text = f"<Sweep {self.name} backend={self.backend} status={self.phase} trials={done}/" \
               f"{self.options.planned_trials()}"
        if best is not None:
            text += f" best {self.objective}={_short(best.value)} {self.best_params}"
        return text + ">"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a full disk: the sweep itself goes on


__all__ = ["SUCCEEDED", "Sweep"]
