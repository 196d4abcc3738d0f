"""Starting a sweep, and its dry run: cell -> Bundle (once) -> (image, once) -> trials.

:func:`start_sweep` is to a sweep what :func:`fairing_magics.pipeline.train` is to a run, and
uses the same stages: every refusal first (:func:`~.options.check_sweep`,
:func:`~.options.check_parameters`, Optuna installed, the cluster's Katib), then one capture with
the parameters injected (the cell reads them as plain names), then on Kubernetes one image,
built and pushed once for every trial, then the driver: :class:`~.local.LocalSweeper` (Optuna,
subprocesses) or :class:`~.cluster.KatibSweeper` (an Experiment). It returns the
:class:`~.sweep.Sweep` at once; :func:`fairing_magics.pipeline.follow` waits for it.

:func:`plan_sweep` is ``--dry-run``: the search space, the command every trial runs, and on
Kubernetes the Experiment's YAML. Nothing is built, pushed or started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends import run_env
from fairing_magics.capture.bundle import BOOTSTRAP_NAME, write_bundle
from fairing_magics.errors import FairingError, RunCancelled
from fairing_magics.image.publish import ImageService, target_repository
from fairing_magics.kube.naming import unique_name
from fairing_magics.run import RunBook
from fairing_magics.sweep.options import SweepOptions, check_parameters, check_sweep
from fairing_magics.sweep.sweep import Sweep

#: Longest sweep name: Katib names trials ``<experiment>-<8 characters>`` and the Job
#: controller its pods ``<trial>-<5 characters>``, which must fit 63.
MAX_SWEEP_NAME = 41
LOCAL_STAGES = ("capture", "run")
CLUSTER_STAGES = ("capture", "build", "push", "submit", "run")


def check_all(cell: str, namespace: Mapping[str, Any], options: SweepOptions, settings) -> str:
    """Every refusal that needs no cluster, in the order a user fixes them; the backend name."""
    backend = check_sweep(options, settings)
    check_parameters(options.space, cell, namespace)
    if backend == "local":
        from fairing_magics.sweep.local import make_pruner, make_sampler

        make_sampler(options)  # Optuna (and GPSampler's needs) installed
        make_pruner(options)
    return backend


def start_sweep(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
                options: SweepOptions, settings, runs: RunBook, *, cwd: Path | None = None,
                show: Callable[[object], None] | None = None,
                images: ImageService | None = None) -> Sweep:
    """Capture ``cell`` once and start its trials; return the sweep at once."""
    backend = check_all(cell, namespace, options, settings)
    train = options.train
    sweeper_class = None
    if backend == "kubernetes":
        from fairing_magics.sweep.cluster import KatibSweeper

        sweeper_class = KatibSweeper
        target_repository(train.registry or settings.registry)  # fail before the capture if unset
        KatibSweeper.check(options, settings)
        pipeline.check_base(train, settings)
    pipeline.check_storage(settings)
    started_at = time.time()
    bundle, seconds = pipeline.capture(cell, namespace, history, train, settings, cwd,
                                       injected=options.space.types)
    name = unique_name(train.name, max_length=MAX_SWEEP_NAME)
    where = {**pipeline.run_location(backend, train, settings), "sweep": True}
    sweep = Sweep(name, backend, settings.runs_root / "runs" / name, options=options,
                  stages=LOCAL_STAGES if backend == "local" else CLUSTER_STAGES,
                  started_at=started_at, where=where)
    from fairing_magics.ui.sweepview import make_sweep_view

    view = make_sweep_view(settings.ui, sweep, on_cancel=lambda: pipeline.cancel_from_panel(sweep))
    sweep.view = view
    sweep.subscribe(view.handle)
    runs.add(sweep)
    if show is not None:
        show(view)
    sweep.emit(ev.StageChanged("capture", "done", seconds, f"{len(bundle.members())} files"))
    pipeline.announce(sweep.emit, train, backend, settings)
    trials = _with_run_env(options, bundle)
    try:
        bundle_dir = write_bundle(bundle, sweep.folder / "bundle")
        if sweeper_class is None:
            from fairing_magics.sweep.local import LocalSweeper

            LocalSweeper(sweep, bundle_dir, trials, settings).start()
        else:
            image = pipeline.build_image(bundle, train, settings, images or ImageService(settings),
                                         sweep.emit, tag=name)
            sweep.image = image
            sweep.save_record()
            sweeper_class(sweep, trials, settings).start(image, bundle.digest)
    except FairingError as exc:
        sweep.finish(ev.CANCELLED if isinstance(exc, RunCancelled) else ev.FAILED, str(exc),
                     error=exc)
        raise
    except KeyboardInterrupt:
        sweep.cancel()
        message = pipeline.interrupted_message(sweep)
        error = RunCancelled(message, phase=ev.CANCELLED)
        sweep.finish(ev.CANCELLED, message, error=error)
        raise error from None
    return sweep


def plan_sweep(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
               options: SweepOptions, settings, *, cwd: Path | None = None) -> str:
    """``--dry-run``: the search, the trial command, the capture and (Kubernetes) the Experiment."""
    backend = check_all(cell, namespace, options, settings)
    train = options.train
    bundle, seconds = pipeline.capture(cell, namespace, history, train, settings, cwd,
                                       injected=options.space.types)
    total = options.planned_trials()
    stopping = f"; early stopping: {options.early_stopping}" if options.early_stopping else ""
    extra = f"; also recorded: {', '.join(options.metrics)}" if options.metrics else ""
    lines = [
        f"Dry run of sweep {train.name!r} on the {backend} backend (capture took "
        f"{seconds * 1000:.0f} ms); nothing was built, pushed or started.", "",
        f"Search space ({options.algorithm}, {total} trials, {options.parallel} at a time, "
        f"{options.goal} {options.objective}{extra}{stopping}):",
        options.space.describe(), "",
        f"Objective: each trial prints {options.objective}=<number> (Katib's StdOut format) or "
        f"calls fairing_magics.log_metric({options.objective!r}, value); its "
        f"{'lowest' if options.goal == 'minimize' else 'highest'} value counts.",
    ]
    env = " ".join(f"FAIRING_PARAM_{p.name}=<{p.value_type}>" for p in options.space.params)
    if backend == "local":
        lines.append(f"Trial command: {env} {Path(sys.executable).name} -u {BOOTSTRAP_NAME} "
                     "<bundle> (a fresh subprocess per trial, the bundle written once)")
    else:
        from fairing_magics.image.layout import CMD

        lines.append(f"Trial command: {' '.join(CMD)} with env {env} (the parameters from "
                     "${trialParameters.NAME}; one image for every trial)")
    lines += ["", bundle.report.render_text(), "",
              f"Bundle digest: {bundle.digest} ({len(bundle.members())} files, {bundle.size} bytes)"]
    ignored = pipeline.ignored_notice(train, backend)
    if ignored:
        lines.append(f"Ignored flags: {ignored}")
    if train.outputs:
        lines.append("Outputs brought back: " + ", ".join(train.outputs) + " (of the best trial)")
    if backend == "kubernetes":
        from fairing_magics.image.publish import describe_registry_plan
        from fairing_magics.sweep.cluster import describe_experiment_plan

        lines.append("")
        lines.extend(describe_registry_plan(train.registry or settings.registry))
        lines.append(f"Base image: {train.base_image or settings.base_image} (resolved to a "
                     "digest at build time)")
        lines.append("")
        lines.append(describe_experiment_plan(_with_run_env(options, bundle), settings, bundle))
    return "\n".join(lines)


def _with_run_env(options: SweepOptions, bundle) -> SweepOptions:
    """``options`` whose trials get what a run gets in its environment
    (:func:`~fairing_magics.backends.run_env`: the kernel's cell names, the notebook folder's
    path hints; ``--env`` wins)."""
    return replace(options, train=replace(options.train, env=run_env(bundle, options.train)))
