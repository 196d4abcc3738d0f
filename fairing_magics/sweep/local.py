"""The local sweep: trials as parallel subprocesses, driven by Optuna's ask-and-tell interface.

One thread drives the sweep: it asks Optuna's study for a trial (its sampler picks the
parameters: ``random``, ``tpe``, or ``bayesian`` with Optuna's Gaussian-process sampler; ``grid``
enqueues every point of the grid once, in an order shuffled by ``--seed``),
starts it on the local backend (the exact bundle a container would run, in a fresh Python, with
``FAIRING_PARAM_<name>`` for each parameter) while fewer than ``--parallel`` run, and reads the
trial's log lines as they come (:mod:`.observe`: Katib's ``name=value`` rule). Each objective
value is reported to the study as an intermediate value; with ``--early-stopping median``
Optuna's ``MedianPruner`` stops a trial whose value is worse than the median of earlier trials at
the same step (its process is ended; the trial is ``EarlyStopped``). When a trial ends its
objective (its best value) is told to the study, or that it failed.

``--max-failed N`` failed trials end the sweep (the running ones are stopped), as Katib's
``maxFailedTrialCount`` does; a trial that ran to the end without printing its objective counts as
failed (``MetricsUnavailable``) and says which line it should have printed.

Optuna is an extra (``pip install 'fairing-magics[sweep]'``); without it the sweep is refused
before anything is captured, with that command.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.backends import Launch
from fairing_magics.errors import ConfigError, JobFailed, RunCancelled
from fairing_magics.run import CHILD_RUNS, Run
from fairing_magics.sweep import trial as tr
from fairing_magics.sweep.observe import Observation
from fairing_magics.sweep.options import SweepOptions
from fairing_magics.sweep.space import SearchSpace
from fairing_magics.sweep.sweep import Sweep

PARAM_ENV_PREFIX = "FAIRING_PARAM_"
#: Katib's medianstop defaults: compare once 3 trials have values, from the 4th reported value.
MEDIAN_MIN_TRIALS = 3
MEDIAN_START_STEP = 4
INSTALL_HINT = "pip install 'fairing-magics[sweep]' (or pip install optuna)"


def require_optuna():
    """The ``optuna`` module, or a ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"a local sweep needs Optuna, which is not installed: {INSTALL_HINT}; "
                          "--backend kubernetes needs only Katib on the cluster") from None
    return optuna


def make_sampler(options: SweepOptions):
    """The Optuna sampler of ``--algorithm`` (seeded with ``--seed``)."""
    optuna = require_optuna()
    samplers = optuna.samplers
    if options.algorithm == "random":
        return samplers.RandomSampler(seed=options.seed)
    if options.algorithm == "grid":
        # Each grid point is enqueued (enqueue_grid); GridSampler itself calls Study.stop() when
        # the grid is done, which only works inside study.optimize, not with ask and tell.
        return samplers.RandomSampler(seed=options.seed)
    if options.algorithm == "bayesian":
        try:
            import scipy  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("--algorithm bayesian on the local backend uses Optuna's "
                              "GPSampler, which needs PyTorch and SciPy (pip install torch "
                              "scipy); or use --algorithm tpe") from None
        return samplers.GPSampler(seed=options.seed)
    return samplers.TPESampler(seed=options.seed)


def enqueue_grid(study, options: SweepOptions) -> None:
    """Every point of the grid, in an order shuffled by ``--seed``, as fixed trials."""
    import itertools
    import random

    grid = options.space.grid()
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    random.Random(options.seed).shuffle(points)
    for point in points:
        study.enqueue_trial(point)


def make_pruner(options: SweepOptions):
    optuna = require_optuna()
    if options.early_stopping == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_MIN_TRIALS,
                                           n_warmup_steps=MEDIAN_START_STEP - 1)
    return optuna.pruners.NopPruner()


def suggest(otrial, space: SearchSpace) -> dict:
    """The parameters of one Optuna trial, each by its distribution."""
    values = {}
    for p in space.params:
        if p.kind == "choice":
            values[p.name] = otrial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            values[p.name] = otrial.suggest_int(p.name, int(p.low), int(p.high),
                                                step=int(p.step or 1))
        else:
            values[p.name] = otrial.suggest_float(p.name, p.low, p.high, step=p.step,
                                                  log=p.kind == "loguniform")
    return values


class LocalSweeper:
    """Drives ``sweep`` on the local backend from ``bundle_dir`` (see the module docstring)."""

    def __init__(self, sweep: Sweep, bundle_dir: Path, options: SweepOptions, settings):
        (self.sweep, self.bundle_dir,
         self.options, self.settings) = sweep, bundle_dir, options, settings
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.sweep.set_canceller(self.cancel)
        self.sweep.set_output_loader(load_local_outputs)
        threading.Thread(target=self._drive_safely, name=f"fairing-sweep-{self.sweep.name}",
                         daemon=True).start()

    def cancel(self) -> None:
        """Stop launching trials, stop those running; the sweep ends Cancelled. (Its Cancel
        button, an interrupt, and ``%fairing_cancel`` in any kernel: the sweep's run heartbeat
        reads the word another kernel leaves in its folder and calls this.)"""
        with self._lock:  # a trial being launched now is either in ``running`` or sees the flag
            self.cancelled.set()
            running = list(self.running.values())
        self.events.put(("", None))
        for item in running:
            item.run.cancel()

    # -- the driver thread -----------------------------------------------------------------
    def _drive_safely(self) -> None:
        try:
            self._drive()
        except Exception as exc:  # noqa: BLE001 - the sweep must end, whatever broke
            self._stop_all()
            self.sweep.finish(ev.FAILED, f"the sweep's driver failed: {type(exc).__name__}: {exc}",
                              error=JobFailed(f"sweep {self.sweep.name} stopped: "
                                              f"{type(exc).__name__}: {exc}"))

    def _drive(self) -> None:
        optuna = require_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        options, sweep = self.options, self.sweep
        study = optuna.create_study(direction=options.goal, sampler=make_sampler(options),
                                    pruner=make_pruner(options), study_name=sweep.name)
        if options.algorithm == "grid":
            enqueue_grid(study, options)
        total = options.planned_trials()
        if total < options.trials:
            sweep.emit(ev.Notice(f"the grid has {total} points: {total} trials instead of "
                                 f"--trials {options.trials}"))
        sweep.emit(ev.StageChanged("run", "running"))
        sweep.emit(ev.PhaseChanged(ev.RUNNING, f"{total} trials, {options.parallel} at a time"))
        started = time.perf_counter()
        asked, failures, stop_reason = 0, [], ""
        while True:
            if not self.cancelled.is_set() and not stop_reason:
                while len(self.running) < options.parallel and asked < total:
                    if not self._launch(study, asked + 1, total):
                        break  # cancelled meanwhile
                    asked += 1
            if not self.running:
                break
            name, event = self.events.get()
            item = self.running.get(name)
            if item is None:
                continue
            if isinstance(event, ev.LogLines):
                self._observe(item, event.lines)
            elif isinstance(event, ev.Finished):
                trial = self._end(study, item, event)
                with self._lock:
                    del self.running[name]
                if trial.status in tr.FAILURES:
                    failures.append(trial)
                    if len(failures) >= options.max_failed and not stop_reason:
                        stop_reason = (f"{len(failures)} trials failed (--max-failed "
                                       f"{options.max_failed}); the first: {failures[0].message}")
                        self._stop_all()
        self._finish(stop_reason, time.perf_counter() - started)

    def _launch(self, study, number: int, total: int) -> bool:
        """Start trial ``number``; False when the sweep was cancelled before it could."""
        from fairing_magics.backends.local import LocalBackend

        if self.cancelled.is_set():
            return False
        otrial = study.ask()
        params = suggest(otrial, self.options.space)
        width = len(str(total))
        name = f"{self.sweep.name}-{number:0{width}d}"
        now = time.time()
        run = Run(name, "local", self.sweep.folder / CHILD_RUNS / name, stages=("run",),
                  started_at=now)
        item = _Running(otrial, run, Observation(self.options.objective, self.options.names),
                        tr.Trial(number, name, params, tr.RUNNING, started=now))
        with self._lock:  # cancel() stops it, or it sees the flag below, once it has a process
            self.running[name] = item
        run.subscribe(lambda event, name=name: self.events.put((name, event))
                      if isinstance(event, (ev.LogLines, ev.Finished)) else None)
        self.sweep.add_trial(item.trial, run)
        env = dict(self.options.train.env)
        env.update({PARAM_ENV_PREFIX + k: v for k, v in self.options.space.texts(params).items()})
        LocalBackend().start(Launch(bundle_dir=self.bundle_dir, request=self.options.train,
                                    env=env, timeout=self.options.train.timeout), run)
        if self.cancelled.is_set():  # cancel() may have found it before it had a process
            item.run.cancel()
        return True

    def _observe(self, item: _Running, lines) -> None:
        new = item.observation.read(lines)
        if not item.observation.metrics:
            return
        for step, value in new:
            step = int(step)
            if step in item.reported:
                continue
            item.reported.add(step)
            item.otrial.report(value, step)
            if not item.pruned and self.options.early_stopping and item.otrial.should_prune():
                item.pruned = True
                item.run.cancel()
        obs = item.observation
        item.trial = item.trial.with_(value=obs.value(self.options.goal), metrics=obs.values(),
                                      steps=len(obs.steps))
        self.sweep.update_trial(item.trial)

    def _end(self, study, item: _Running, event: ev.Finished) -> tr.Trial:
        optuna = require_optuna()
        states = optuna.trial.TrialState
        obs = item.observation
        value = obs.value(self.options.goal)
        label = f"trial {item.trial.number} ({item.run.name})"
        message = ""
        if item.pruned:
            status = tr.EARLY_STOPPED
            message = (f"stopped early at step {int(obs.steps[-1][0]) if obs.steps else 0}: worse "
                       "than the median of earlier trials")
            study.tell(item.otrial, state=states.PRUNED)
        elif event.phase == ev.SUCCEEDED and value is not None:
            status = tr.SUCCEEDED
            study.tell(item.otrial, value)
        elif event.phase == ev.SUCCEEDED:
            status = tr.METRICS_UNAVAILABLE
            message = tr.missing_objective_message(label, self.options.objective)
            study.tell(item.otrial, state=states.FAIL)
        elif self.cancelled.is_set() or item.stopped:
            status = tr.KILLED
            message = "stopped: the sweep was cancelled or ended" if not item.stopped else \
                "stopped: the sweep ended"
            study.tell(item.otrial, state=states.FAIL)
        elif event.phase == ev.CANCELLED:  # this trial alone (%fairing_cancel TRIAL, .cancel())
            status = tr.KILLED  # as Katib counts a killed trial: not against --max-failed
            message = f"cancelled by {item.run.cancelled_by or 'its run'}; the sweep goes on"
            study.tell(item.otrial, state=states.FAIL)
        else:
            status = tr.FAILED
            error = item.run.error
            first = str(error).splitlines()[0] if error is not None else event.summary
            first = first.split(f" (run {item.run.name}")[0]  # where its log is: the panel says
            message = f"{label} failed: {first}"
            study.tell(item.otrial, state=states.FAIL)
        item.trial = item.trial.with_(status=status, value=value, metrics=obs.values(),
                                      finished=time.time(), message=message, steps=len(obs.steps))
        self.sweep.update_trial(item.trial)
        return item.trial

    def _stop_all(self) -> None:
        with self._lock:
            running = list(self.running.values())
        for item in running:
            item.stopped = True
            item.run.cancel()

    def _finish(self, stop_reason: str, seconds: float) -> None:
        sweep = self.sweep
        summary = sweep.summary_text()
        if self.cancelled.is_set():
            by = f" by {sweep.cancelled_by}" if sweep.cancelled_by else ""
            sweep.emit(ev.StageChanged("run", "failed", seconds))
            sweep.finish(ev.CANCELLED, f"cancelled{by}; {summary}",
                         error=RunCancelled(f"sweep {sweep.name} was cancelled; its running "
                                            f"trials were stopped ({summary})",
                                            phase=ev.CANCELLED))  # who: the waiting cell says
            return
        best = sweep.best_trial
        if stop_reason or best is None:
            why = stop_reason or f"no trial succeeded with a value of {self.options.objective}"
            first = next((t.message for t in sweep.trial_list() if t.message), "")
            if not stop_reason and first:
                why += f" (the first problem: {first})"
            sweep.emit(ev.StageChanged("run", "failed", seconds))
            sweep.finish(ev.FAILED, f"failed: {why}",
                         error=JobFailed(f"sweep {sweep.name} failed: {why}", reason="SweepFailed",
                                         last_lines=tuple(sweep.tail())))
            return
        outputs = {}
        if sweep.requested_outputs:
            run = sweep.best_run
            outputs = dict(run.outputs) if run is not None else {}
        sweep.emit(ev.StageChanged("run", "done", seconds))
        brought = f"; outputs of trial {best.number}: {', '.join(outputs)}" if outputs else ""
        sweep.finish(ev.SUCCEEDED, f"{summary}{brought}", outputs=outputs)


class _Running:
    """A trial being run: its Optuna trial, its run, what it printed, what was done to it."""

    def __init__(self, otrial, run: Run, observation: Observation, trial: tr.Trial):
        self.otrial, self.run, self.observation, self.trial = otrial, run, observation, trial
        self.reported: set[int] = set()
        self.pruned = False
        self.stopped = False


def load_local_outputs(run: Run) -> dict:
    """A local trial's ``--outputs``: the ``outputs.pkl`` its program wrote into its folder."""
    path = run.folder / "outputs.pkl"
    if not path.exists():
        return {}
    import cloudpickle

    return cloudpickle.loads(path.read_bytes())
