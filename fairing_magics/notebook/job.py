"""A whole notebook as a job, or on a schedule: ``%fairing_notebook`` and ``fairing-magics submit``.

:func:`submit_notebook` reads the notebook (:mod:`.source`), captures it (:mod:`.capture`) and
starts it through the pipeline every cell takes (:func:`fairing_magics.pipeline.train`: the same
build, push, submit, follow, panel, cache and post-mortem). When the run ends, successful or not,
the executed notebook (outputs, errors and all) comes back from the run folder or run storage
next to the source as ``NAME.<run>.ipynb`` (``run.notebook``); a failing cell fails the run with
a message naming the cell and that file.

:func:`schedule_notebook` builds and pushes the same image and creates a CronJob of it
(:mod:`fairing_magics.backends.kubernetes.schedules`); each scheduled run writes its executed
notebook to ``<storage>/runs/<its Job's name>/NAME.ipynb``. Schedules are remembered under the
runs root (``schedules/NAME.json``: namespace and context) so ``%fairing_jobs`` and
``%fairing_cancel`` find them from any backend setting.

:func:`plan_notebook` is ``--dry-run``: what would be shipped and sent, touching nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.errors import ConfigError, JobFailed
from fairing_magics.kube.naming import sanitize_name, unique_name
from fairing_magics.notebook.capture import capture_notebook
from fairing_magics.notebook.source import NotebookSource, read_notebook

SCHEDULES = "schedules"
_CELL_FAILURE = re.compile(r" raised ([A-Za-z_][\w.]*): ")


@dataclass(frozen=True)
class Prepared:
    """A notebook read and captured, ready to run."""

    source: NotebookSource
    bundle: object
    notices: tuple[str, ...]
    seconds: float
    options: object  # TrainOptions, named after the notebook unless --name was given


def default_name(source: NotebookSource) -> str:
    """A run name from the notebook's file name (``Train Model.ipynb`` -> ``train-model``)."""
    return sanitize_name(source.name.replace("_", "-"), fallback="notebook")


def check_notebook_options(options, settings, *, schedule: str = "") -> str:
    """Refuse what a notebook job cannot do before anything is read or built; the backend."""
    backend = options.backend or settings.backend
    if schedule:
        from fairing_magics.kube.cronjob import validate_schedule

        validate_schedule(schedule)
        if backend != "kubernetes":
            raise ConfigError(f"--schedule makes a Kubernetes CronJob; the backend is {backend}: "
                              "add --backend kubernetes (or %fairing_config --backend kubernetes)")
        if (options.kind or "job") != "job":
            raise ConfigError(f"--schedule runs the notebook as a Job; --kind {options.kind} cannot "
                              "be scheduled")
        if options.outputs:
            raise ConfigError("--outputs come back into a waiting kernel; scheduled runs have none: "
                              "write what you need into the notebook or $FAIRING_OUTPUT_DIR")
    if backend == "kubernetes" and not settings.storage:
        raise ConfigError("a notebook job on Kubernetes brings its executed notebook back through "
                          "run storage: %fairing_config --storage s3://BUCKET/PREFIX (or a folder the "
                          "cluster's nodes share with this notebook)")
    return backend


def prepare(path: str, parameters: Mapping, options, settings, *, cwd: Path | None = None,
            schedule: str = "") -> Prepared:
    """Check the flags, read and capture the notebook."""
    check_notebook_options(options, settings, schedule=schedule)
    source = read_notebook(path, cwd=cwd)
    if options.name in ("", "train"):
        options = replace(options, name=default_name(source))
    started = time.perf_counter()
    bundle, notices = capture_notebook(source, parameters, includes=options.includes,
                                       requirements=options.requirements, outputs=options.outputs)
    return Prepared(source, bundle, tuple(notices), time.perf_counter() - started, options)


def submit_notebook(path: str, parameters: Mapping, options, settings, runs, *,
                    cwd: Path | None = None, show: Callable[[object], None] | None = None,
                    images=None):
    """Start the notebook at ``path`` as a run (see the module docstring); returns the run."""
    from fairing_magics import pipeline

    prepared = prepare(path, parameters, options, settings, cwd=cwd)
    return pipeline.train("", {}, [], prepared.options, settings, runs, cwd=prepared.source.folder,
                          show=show, images=images, bundle=prepared.bundle,
                          captured_in=prepared.seconds, notices=prepared.notices,
                          on_run=lambda run: follow_notebook(run, prepared.source, settings))


def follow_notebook(run, source: NotebookSource, settings) -> None:
    """When ``run`` ends: bring the executed notebook next to the source (``run.notebook``) and,
    for a failing cell, make the run's error say which cell and where the notebook is."""
    run.notebook = None

    def on_event(event) -> None:
        if not isinstance(event, ev.Finished) or event.phase not in (ev.SUCCEEDED, ev.FAILED):
            return
        target = source.executed_path(run.name)
        data = _run_file(run, settings, source.path.name)
        if data is None:
            run.emit(ev.Notice(f"the executed notebook did not come back (no {source.path.name} in "
                               f"run {run.name}'s folder or storage)", level="warning"))
        else:
            target.write_bytes(data)
            run.notebook = target
        if event.phase == ev.FAILED and isinstance(run.error, JobFailed):
            run.error = _cell_failure(run, settings, source, run.error, target if data else None)

    run.subscribe(on_event)


def _run_file(run, settings, name: str) -> bytes | None:
    """File ``name`` of the run's folder or storage (of the earlier run a cached run reused)."""
    path = Path(run.folder) / name
    if path.is_file():
        return path.read_bytes()
    if settings.storage:
        from fairing_magics.storage import MissingRunFile, storage_for

        storage = storage_for(settings.storage)
        for owner in (run.name, getattr(run, "cached_from", None)):
            if not owner:
                continue
            try:
                return storage.read_bytes(owner, name)
            except MissingRunFile:
                continue
    return None


def _cell_failure(run, settings, source: NotebookSource, error: JobFailed,
                  executed: Path | None) -> JobFailed:
    """The error of a run whose notebook cell raised, naming the cell and the executed notebook
    (the runtime's NotebookCellError says which cell); any other failure as it was."""
    if error.reason != "NotebookCellError":
        return error
    data = _run_file(run, settings, "error.json")
    try:
        remote = json.loads(data or b"{}").get("message", "")
    except ValueError:
        remote = ""
    found = _CELL_FAILURE.search(remote)
    where = (f"; the executed notebook, with the error in it, is {executed}" if executed else "")
    better = JobFailed(f"notebook {source.path.name} failed: {remote or error} (run {run.name}"
                       f"{where}; the full log in run.logs())",
                       phase=error.phase, reason=found.group(1) if found else error.reason,
                       last_lines=error.last_lines, remote_traceback=error.remote_traceback)
    if hasattr(error, "frames"):
        better.frames = error.frames
    return better


# -- --dry-run ---------------------------------------------------------------------------------


def plan_notebook(path: str, parameters: Mapping, options, settings, *, cwd: Path | None = None,
                  schedule: str = "") -> str:
    """What ``%fairing_notebook`` would do, as text; nothing is built, pushed or started."""
    from fairing_magics import pipeline

    prepared = prepare(path, parameters, options, settings, cwd=cwd, schedule=schedule)
    options = prepared.options
    backend = pipeline.check_options(options, settings)
    bundle = prepared.bundle
    lines = [f"Dry run of notebook {prepared.source.path} as {options.name!r} on the {backend} "
             "backend; nothing was built, pushed or started.", ""]
    lines += [f"Notice: {notice}" for notice in prepared.notices]
    lines += [bundle.report.render_text(), "",
              f"Bundle digest: {bundle.digest} ({len(bundle.members())} files, {bundle.size} bytes)",
              f"Executed notebook: next to the source as {prepared.source.name}.<run>.ipynb"]
    if backend in pipeline.IMAGE_BACKENDS:
        lines += ["", *pipeline.describe_registry_plan(options.registry or settings.registry),
                  f"Base image: {options.base_image or settings.base_image}"]
    if schedule:
        from fairing_magics.backends.kubernetes.schedules import schedule_spec
        from fairing_magics.kube.manifests import to_yaml

        registry = (options.registry or settings.registry or "REGISTRY").rstrip("/")
        spec = schedule_spec(options, settings, name=unique_name(options.name, suffix="dryrun"),
                             image=f"{registry}@sha256:<digest-of-the-built-image>",
                             schedule=schedule, capture_digest=bundle.digest,
                             namespace=options.namespace or settings.namespace)
        lines += ["", f"Kubernetes: would create CronJob {spec['metadata']['name']} "
                      f"(schedule {schedule!r}):", "", to_yaml(spec).rstrip("\n")]
    elif backend == "kubernetes":
        from fairing_magics.backends.kubernetes.plan import describe_cluster_plan

        lines += ["", describe_cluster_plan(options, settings, bundle, name=options.name)]
    return "\n".join(lines)


# -- --schedule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """A notebook put on a schedule: the CronJob's name and where it lives."""

    name: str
    namespace: str
    schedule: str
    image: str
    next_runs: tuple[str, ...]
    notebook: str

    def describe(self) -> str:
        return (f"scheduled {self.notebook} as CronJob {self.name} in namespace {self.namespace}: "
                f"{self.schedule!r} (next: {', '.join(self.next_runs)} UTC); image {self.image}. "
                f"Each run's executed notebook lands in run storage under runs/{self.name}-<n>/. "
                f"%fairing_jobs lists it; %fairing_cancel {self.name} removes it")


def schedule_notebook(path: str, parameters: Mapping, options, settings, *, schedule: str,
                      cwd: Path | None = None, images=None,
                      emit: Callable[[object], None] = lambda event: None) -> Scheduled:
    """Build and push the notebook's image and create its CronJob (see the module docstring)."""
    import datetime as dt

    from fairing_magics import pipeline
    from fairing_magics.backends import get_backend
    from fairing_magics.backends.kubernetes.schedules import create_schedule, schedule_spec
    from fairing_magics.image.publish import ImageService, target_repository
    from fairing_magics.kube.cronjob import next_times

    prepared = prepare(path, parameters, options, settings, cwd=cwd, schedule=schedule)
    options = prepared.options
    pipeline.check_options(options, settings)
    target_repository(options.registry or settings.registry)
    backend = get_backend("kubernetes")
    backend.check(options, settings)
    pipeline.check_storage(settings)
    for notice in prepared.notices:
        emit(ev.Notice(notice, level="warning"))
    name = unique_name(options.name, max_length=52 - 11)  # the Jobs add "-<8 digits>"
    image = pipeline.build_image(prepared.bundle, options, settings,
                                 images or ImageService(settings), emit, tag=name)
    access = backend.access_for(options, settings)
    namespace = options.namespace or settings.namespace or access.namespace
    spec = schedule_spec(options, settings, name=name, image=image, schedule=schedule,
                         capture_digest=prepared.bundle.digest, namespace=namespace)
    with ev.stage(emit, "submit") as step:
        info = create_schedule(access, spec, namespace)
        step.detail = f"CronJob {namespace}/{info.name}"
    remember_schedule(settings, info.name, namespace, options.context or settings.context)
    now = dt.datetime.now(dt.timezone.utc)
    upcoming = tuple(t.strftime("%Y-%m-%d %H:%M") for t in next_times(schedule, now, 2))
    return Scheduled(info.name, namespace, info.schedule, image, upcoming,
                     str(prepared.source.path))


def remember_schedule(settings, name: str, namespace: str, context: str) -> None:
    folder = Path(settings.runs_root) / SCHEDULES
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(
        {"name": name, "namespace": namespace, "context": context, "created_at": time.time()}))


def remembered_schedules(settings) -> list[dict]:
    """The schedules made from this machine (``schedules/*.json`` under the runs root)."""
    found = []
    for path in sorted((Path(settings.runs_root) / SCHEDULES).glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def forget_schedule(settings, name: str) -> None:
    (Path(settings.runs_root) / SCHEDULES / f"{name}.json").unlink(missing_ok=True)
