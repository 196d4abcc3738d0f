"""Sweep benchmark (issue 17): the overhead per trial of a local sweep.

The same 20 trials of a cell that works for 0.2 s (``time.sleep(0.2)``, then prints its
objective), one at a time, measured two ways in the same run:

- **sweep**: ``start_sweep`` + ``follow`` (capture once, write the bundle, then per trial: Optuna
  ask, a fresh Python subprocess running the bundle's bootstrap with the parameters in its
  environment, its log read and parsed as Katib does, Optuna tell, the trial's records and the
  sweep's table written);
- **baseline**: a plain Optuna loop in this process (``study.optimize`` of a function that sleeps
  0.2 s and returns the objective): the floor any tuning of that cell pays.

Overhead per trial = (sweep - baseline) / 20; the ratio is sweep / baseline. ``--parallel 1``
on both sides so the figure is the per-trial cost, not a speed-up from parallel trials (which
a sweep adds with ``--parallel``). Run: ``python benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from fairing_magics.config import Settings
from fairing_magics.pipeline import TrainOptions, follow
from fairing_magics.run import RunBook
from fairing_magics.sweep.launch import start_sweep
from fairing_magics.sweep.options import SweepOptions
from fairing_magics.sweep.space import parse_space

TRIALS = 20
WORK_SECONDS = 0.2
REPEATS = 3
CELL = ("import time\ntime.sleep(0.2)\nprint(f\"loss={(x - 0.3) ** 2}\")\n")


def sweep_seconds(home: Path) -> float:
    options = SweepOptions(space=parse_space(["x=uniform:0:1"]), objective="loss",
                           trials=TRIALS, parallel=1, algorithm="tpe", seed=0,
                           train=TrainOptions(name="bench", backend="local"))
    settings = Settings(home=home, ui="text", backend="local")
    started = time.perf_counter()
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        sweep = start_sweep(CELL, {}, [], options, settings, RunBook())
        follow(sweep)
    seconds = time.perf_counter() - started
    assert sweep.status == "Succeeded" and len(sweep.trial_list()) == TRIALS
    return seconds


def optuna_seconds() -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        time.sleep(WORK_SECONDS)
        return (x - 0.3) ** 2

    started = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=TRIALS)
    return time.perf_counter() - started


def main() -> None:
    sweeps, loops = [], []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(REPEATS):
            loops.append(optuna_seconds())
            sweeps.append(sweep_seconds(Path(folder) / f"home{i}"))
    sweep, loop = statistics.median(sweeps), statistics.median(loops)
    print(f"{TRIALS} trials of a {WORK_SECONDS} s cell, one at a time (median of {REPEATS}):")
    print(f"  %%fairing_sweep (local backend): {sweep:.2f} s")
    print(f"  plain in-kernel Optuna loop:     {loop:.2f} s  (baseline)")
    print(f"  overhead per trial: {(sweep - loop) / TRIALS * 1000:.0f} ms; "
          f"ratio sweep / baseline: {sweep / loop:.2f}x")


if __name__ == "__main__":
    main()
