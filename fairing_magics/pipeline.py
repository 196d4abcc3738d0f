"""The pipeline: cell -> Bundle -> (image) -> run. Magics and tests drive this same code.

:func:`train` captures a cell and starts it on a backend, returning the :class:`Run` at once;
:func:`follow` waits for it in the calling thread and decides what a kernel interrupt does.
:func:`plan_train` is ``--dry-run``: it captures and describes, and touches nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairing_magics import events as ev
from fairing_magics.backends import Launch, get_backend, run_env
from fairing_magics.cache import check_cache, reuse_or_record
from fairing_magics.capture import capture_cell
from fairing_magics.capture.bundle import Bundle, write_bundle
from fairing_magics.config import BACKENDS, Settings
from fairing_magics.displays import display_limits, runtime_env
from fairing_magics.errors import ConfigError, FairingError, RunCancelled
from fairing_magics.image.publish import (
    ImageService,
    check_builder,
    describe_index,
    describe_registry_plan,
    target_repository,
)
from fairing_magics.kube.naming import unique_name, validate_name
from fairing_magics.oci.reference import parse_reference
from fairing_magics.postmortem import attach_frames
from fairing_magics.run import Run, RunBook
from fairing_magics.ui import make_view

IMAGE_BACKENDS = ("docker", "kubernetes")


@dataclass(frozen=True)
class TrainOptions:
    """The flags of one ``%%fairing_train`` cell (see ``%%fairing_train?``)."""

    name: str = "train"
    backend: str = ""  # empty: the configured backend
    env: Mapping[str, str] = field(default_factory=dict)
    includes: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    requirements: str = "auto"
    timeout: float | None = None
    wait: bool = True
    dry_run: bool = False
    image_only: bool = False
    # Rich outputs: which replicas send displays and --outputs (chief | all); figure format
    # (png | svg | png,svg; empty: the configured one).
    outputs_from: str = "chief"
    figure_format: str = ""
    # Image (docker and kubernetes backends, --image-only); empty: the configured value.
    registry: str = ""
    base_image: str = ""
    platform: str | None = None
    python: str | None = None
    builder: str = ""  # append | docker; empty: the image service's (append)
    # Cluster (kubernetes backend).
    kind: str = "job"
    workers: int = 0
    runtime_ref: str = ""  # --kind trainjob: NAME (ClusterTrainingRuntime) or NAMESPACE/NAME
    cpu: str = ""
    memory: str = ""
    gpus: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[str, ...] = ()
    service_account: str = ""
    aws_secret: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    namespace: str = ""
    context: str = ""
    # --cache: off | on (reuse an earlier successful run with the same inputs) | refresh
    cache: str = "off"


def options_from_args(args, settings: Settings | None = None) -> TrainOptions:
    """The :class:`TrainOptions` of parsed ``%%fairing_train`` flags (also the train flags of
    ``%fairing_notebook`` and ``fairing-magics submit``); ``--cache`` falls back on the
    setting."""
    from fairing_magics.cache import cache_mode

    return TrainOptions(
        name=args.name, backend=args.backend, env=parse_env(args.env),
        includes=tuple(args.include), outputs=parse_outputs(args.outputs),
        requirements=args.requirements, timeout=args.timeout, wait=not args.no_wait,
        outputs_from=args.outputs_from, figure_format=args.figure_format,
        dry_run=args.dry_run, image_only=args.image_only, registry=args.registry,
        base_image=args.base_image, platform=args.platform, python=args.python, builder=args.builder,
        kind=args.kind, runtime_ref=args.runtime_ref,
        workers=args.workers, cpu=args.cpu, memory=args.memory, gpus=args.gpus,
        node_selector=parse_pairs(args.node_selector, "--node-selector"),
        tolerations=tuple(args.toleration), service_account=args.service_account,
        aws_secret=args.aws_secret, image_pull_secrets=tuple(args.image_pull_secret),
        volumes=tuple(args.volume), namespace=args.namespace, context=args.context,
        cache=cache_mode(getattr(args, "cache", None), settings),
    )


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """``["K=V", ...]`` to a dict; a pair without ``=`` or with a bad key is a ConfigError."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise ConfigError(f"--env {pair!r} is not KEY=VALUE with KEY made of letters, digits "
                              "and '_'")
        env[key] = value
    return env


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``["k=v", ...]`` (label-like keys allowed) to a dict, for --node-selector and the like."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def parse_outputs(text: str) -> tuple[str, ...]:
    """``"a,b"`` to ``("a", "b")``; each must be a Python identifier."""
    names = tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()
    for name in names:
        if not name.isidentifier():
            raise ConfigError(f"--outputs {text!r}: {name!r} is not a Python variable name")
    return names


#: Flags only some runs use: (TrainOptions field, flag). Image flags matter to the docker and
#: kubernetes backends and to --image-only; cluster flags to the kubernetes backend; run flags
#: to every run that runs (not --image-only, which builds and pushes only).
IMAGE_FLAGS = (("registry", "--registry"), ("base_image", "--base-image"), ("builder", "--builder"),
               ("platform", "--platform"), ("python", "--python"))
CLUSTER_FLAGS = (("kind", "--kind"), ("workers", "--workers"), ("runtime_ref", "--runtime-ref"),
                 ("cpu", "--cpu"), ("memory", "--memory"), ("gpus", "--gpus"),
                 ("node_selector", "--node-selector"), ("tolerations", "--toleration"),
                 ("service_account", "--service-account"), ("aws_secret", "--aws-secret"),
                 ("image_pull_secrets", "--image-pull-secret"), ("volumes", "--volume"),
                 ("namespace", "--namespace"), ("context", "--context"))
RUN_FLAGS = (("env", "--env"), ("outputs", "--outputs"), ("timeout", "--timeout"),
             ("wait", "--no-wait"), ("outputs_from", "--outputs-from"),
             ("figure_format", "--figure-format"))


def check_options(options: TrainOptions, settings: Settings) -> str:
    """Refuse, before any work and without touching the network, what the run would refuse;
    return the backend name. The dry run, ``--image-only`` and the real run all call this, so a
    dry run reports every refusal with the run's own message.

    The resource and placement flags (``--cpu``, ``--memory``, ``--gpus``, ``--node-selector``,
    ``--toleration``, ``--volume``, ``--workers``, ...) go through the Kubernetes spec rendering
    on every backend, so ``--gpus -1`` is refused on the local backend as on a cluster (a flag
    the backend then ignores is named by :func:`ignored_notice`).
    """
    from fairing_magics.backends.kubernetes.plan import check_flags

    backend = options.backend or settings.backend
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is unknown; use one of {', '.join(BACKENDS)}"
                          + _did_you_mean(backend, BACKENDS))
    validate_name(options.name)
    if options.builder:
        check_builder(options.builder)
    if options.timeout is not None and options.timeout <= 0:
        raise ConfigError(f"--timeout {options.timeout:g} must be a positive number of seconds")
    check_output_flags(options, backend)
    check_flags(options, settings)
    if backend in IMAGE_BACKENDS or options.image_only:
        check_image_settings(options, settings)
    validate = getattr(get_backend(backend), "validate", None)
    if validate is not None and not options.image_only:
        validate(options, settings)
    if settings.storage:
        from fairing_magics.storage import storage_for

        storage_for(settings.storage).check_settings()
    check_cache(options, settings)
    return backend


def check_output_flags(options: TrainOptions, backend: str) -> None:
    """``--outputs-from`` is ``chief`` or ``all``, and ``all`` needs a run of several replicas
    (``--backend kubernetes`` with ``--kind tfjob|pytorchjob|trainjob``); ``--figure-format`` is
    ``png``, ``svg`` or ``png,svg``."""
    from fairing_magics.config import FIGURE_FORMATS
    from fairing_magics.displays import OUTPUTS_FROM

    if options.outputs_from not in OUTPUTS_FROM:
        raise ConfigError(f"--outputs-from {options.outputs_from!r} is not one of "
                          f"{', '.join(OUTPUTS_FROM)} (chief: the chief or rank 0 replica only; "
                          "all: one set per replica)")
    single = backend != "kubernetes" or (options.kind or "job").lower() == "job"
    if options.outputs_from == "all" and single:
        raise ConfigError("--outputs-from all brings back one set per replica: it needs a run of "
                          "several replicas (--backend kubernetes --kind tfjob, pytorchjob or "
                          "trainjob); this run has one process")
    if options.figure_format and options.figure_format not in FIGURE_FORMATS:
        raise ConfigError(f"--figure-format {options.figure_format!r} is not one of "
                          f"{', '.join(FIGURE_FORMATS)}")


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_image_settings(options: TrainOptions, settings: Settings) -> None:
    """What the build and push would refuse before their first request: no registry, a registry
    that is no repository, an ``ecr/NAME`` with no region to complete it, a base image that is no
    image reference, a ``--platform`` that is not OS/ARCH."""
    from fairing_magics.aws import (
        check_ecr_shorthand,
        is_ecr_host,
        is_ecr_shorthand,
        parse_ecr_host,
    )
    from fairing_magics.aws.ecr import check_repository_name
    from fairing_magics.registry.client import parse_platform

    registry = options.registry or settings.registry
    if is_ecr_shorthand(registry):
        check_ecr_shorthand(registry)  # completing it asks STS: not here
    else:
        ref = target_repository(registry)
        if is_ecr_host(ref.registry):  # what the push checks first (wrong DNS suffix, bad name)
            parse_ecr_host(ref.registry)
            check_repository_name(ref.repository)
    parse_reference(options.base_image or settings.base_image)
    if options.platform:
        parse_platform(options.platform)


def ignored_notice(options: TrainOptions, backend: str) -> str:
    """One sentence naming the flags this run ignores (``--gpus applies to kubernetes; this local
    run ignores it``), or ``""``."""
    defaults = TrainOptions()
    image_used = backend in IMAGE_BACKENDS or options.image_only
    cluster_used = backend == "kubernetes" and not options.image_only
    groups: dict[str, list[str]] = {}
    for flags, used, users in ((IMAGE_FLAGS, image_used, "docker, kubernetes and --image-only"),
                               (CLUSTER_FLAGS, cluster_used, "kubernetes"),
                               (RUN_FLAGS, not options.image_only, "runs (not --image-only)")):
        for field_name, flag in flags:
            if not used and getattr(options, field_name) != getattr(defaults, field_name):
                groups.setdefault(users, []).append(flag)
    if not groups:
        return ""
    parts = []
    for users, flags in groups.items():  # "--cpu and --gpus apply to kubernetes; --registry to ..."
        verb = "" if parts else (" applies" if len(flags) == 1 else " apply")
        parts.append(f"{_join(flags)}{verb} to {users}")
    count = sum(len(flags) for flags in groups.values())
    run = "this --image-only run" if options.image_only else f"this {backend} run"
    return "; ".join(parts) + f"; {run} ignores {'it' if count == 1 else 'them'}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_notices(options: TrainOptions, settings: Settings) -> list[str]:
    """Warnings about the image, said before anything is pushed (in the dry run and the build):
    a Docker Hub base for a registry in the China partition, PyPI as its package index."""
    from fairing_magics.base_image import image_notices

    return image_notices(options.base_image or settings.base_image,
                         options.registry or settings.registry,
                         settings.index_url, settings.extra_index_urls)


def check_storage(settings: Settings) -> None:
    """Refuse an ``s3://`` run storage whose bucket is missing before the run starts (not after
    it trained, when the outputs are uploaded); a local folder is created when needed."""
    if settings.storage.startswith("s3://"):
        from fairing_magics.storage import storage_for

        storage_for(settings.storage).ensure_bucket(create=False)


def capture(cell: str, namespace: Mapping[str, Any], history: Sequence[str], options: TrainOptions,
            settings: Settings, cwd: Path | None = None, *,
            injected: Mapping[str, str] | None = None) -> tuple[Bundle, float]:
    """Capture the cell; return the bundle and the seconds it took. ``injected``: names the run
    is given instead of capturing them (a sweep's parameters and their types)."""
    started = time.perf_counter()
    bundle = capture_cell(cell, namespace, history, cwd=cwd, includes=options.includes,
                          requirements=options.requirements, outputs=options.outputs,
                          value_limit=settings.value_limit_mb * 2**20,
                          file_limit=settings.file_limit_mb * 2**20, injected=injected)
    return bundle, time.perf_counter() - started


def plan_train(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
               options: TrainOptions, settings: Settings, cwd: Path | None = None) -> str:
    """``--dry-run``: the capture report and what would be done, as text. Nothing is touched."""
    from fairing_magics.storage import describe_run_folder

    backend_name = check_options(options, settings)
    bundle, seconds = capture(cell, namespace, history, options, settings, cwd)
    lines = [f"Dry run of {options.name!r} on the {backend_name} backend (capture took "
             f"{seconds * 1000:.0f} ms); nothing was built, pushed or started.", "",
             bundle.report.render_text(), "",
             f"Bundle digest: {bundle.digest} ({len(bundle.members())} files, {bundle.size} bytes)"]
    ignored = ignored_notice(options, backend_name)
    if ignored:
        lines.append(f"Ignored flags: {ignored}")
    if options.outputs and not options.image_only:
        lines.append("Outputs brought back: " + ", ".join(options.outputs))
    storage = settings.storage or str(settings.runs_root)
    lines.append(f"Run storage: {describe_run_folder(storage, f'{options.name}-<suffix>')}")
    if backend_name == "local" and not options.image_only:
        lines.append("Would run: a fresh Python subprocess running fairing_bootstrap.py on "
                     "the bundle.")
    registry = options.registry or settings.registry
    if backend_name in IMAGE_BACKENDS or options.image_only or registry:
        base = options.base_image or settings.base_image
        lines.append("")
        lines.extend(describe_registry_plan(registry))
        lines.append(f"Base image: {base} (resolved to a digest at build time)")
        lines.append("Layers: base, dependencies (" + (", ".join(bundle.requirements) or "none")
                     + "), code (the bundle)")
        if bundle.requirements:
            lines.append(describe_index(settings))
        if options.builder == "docker":
            lines.append("Builder: docker (a Dockerfile built and pushed by the Docker Engine at "
                         "DOCKER_HOST; the requirements are installed with pip inside the image)")
        for notice in build_notices(options, settings):
            lines.extend(["", "Warning: " + notice])
    if backend_name == "kubernetes" and not options.image_only:
        from fairing_magics.backends.kubernetes.plan import describe_cluster_plan

        lines.append("")
        lines.append(describe_cluster_plan(options, settings, bundle, name=options.name))
    return "\n".join(lines)


def check_base(options: TrainOptions, settings: Settings) -> None:
    """Before a build: the base image's registry answers (a short timeout), else one error with
    the copy-image command that fixes it (:mod:`fairing_magics.base_image`)."""
    from fairing_magics.base_image import check_base_reachable

    check_base_reachable(options.base_image or settings.base_image,
                         options.registry or settings.registry,
                         insecure_registries=settings.insecure_registries)


def announce(emit: Callable[[object], None], options: TrainOptions, backend: str,
             settings: Settings) -> None:
    """The notices of a run before its build: flags it ignores, and :func:`build_notices`."""
    ignored = ignored_notice(options, backend)
    if ignored:
        emit(ev.Notice(ignored, level="warning"))
    if backend in IMAGE_BACKENDS or options.image_only:
        for notice in build_notices(options, settings):
            emit(ev.Notice(notice, level="warning"))


def build_image(bundle: Bundle, options: TrainOptions, settings: Settings, images: ImageService,
                emit: Callable[[object], None], *, tag: str = "") -> str:
    """The build and push stages; returns ``repository@sha256:...``."""
    repository = target_repository(options.registry or settings.registry)
    pushed = images.publish(bundle, repository=repository,
                            base_image=options.base_image or settings.base_image, tag=tag,
                            python=options.python, platform=options.platform, emit=emit,
                            builder=options.builder or None)
    return str(pushed)


def publish_only(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
                 options: TrainOptions,
                 settings: Settings, images: ImageService, *, cwd: Path | None = None,
                 show: Callable[[object], None] | None = None) -> str:
    """``--image-only``: capture, build and push; return the image reference by digest."""
    backend_name = check_options(options, settings)
    target_repository(options.registry or settings.registry)  # fail before the capture if unset
    check_base(options, settings)
    bundle, seconds = capture(cell, namespace, history, options, settings, cwd)
    view = make_view(settings.ui, title=f"{options.name} (image)", backend="registry",
                     stages=("capture", "build", "push"), log_lines=settings.log_lines)
    if show is not None:
        show(view)
    view.handle(ev.StageChanged("capture", "done", seconds))
    announce(view.handle, options, backend_name, settings)
    try:
        ref = build_image(bundle, options, settings, images, view.handle, tag=options.name)
    except FairingError as exc:
        view.handle(ev.Finished(ev.FAILED, str(exc)))
        raise
    view.handle(ev.Finished(ev.SUCCEEDED, ref))
    return ref


def train(cell: str, namespace: Mapping[str, Any], history: Sequence[str], options: TrainOptions,
          settings: Settings, runs: RunBook, *, cwd: Path | None = None,
          show: Callable[[object], None] | None = None, images: ImageService | None = None,
          bundle: Bundle | None = None, captured_in: float = 0.0, notices: Sequence[str] = (),
          on_run: Callable[[Run], None] | None = None) -> Run:
    """Capture ``cell`` and start it; return the run at once (use :func:`follow` to wait).

    Bad input raises before anything is made; ``show(view)`` is called with the panel as soon as
    the run exists. A caller that captured already (a notebook job) passes its ``bundle`` (the
    cell is then unused), the seconds it took and the ``notices`` of its capture; ``on_run(run)`` is called once the
    run exists, before it starts (to follow its end from the first event on).
    """
    backend_name = check_options(options, settings)
    backend = get_backend(backend_name)
    needs_image = backend_name in IMAGE_BACKENDS
    if needs_image:
        target_repository(options.registry or settings.registry)  # fail before the capture if unset
        backend.check(options, settings)
        check_base(options, settings)
    check_storage(settings)
    started_at = time.time()
    if bundle is None:
        bundle, capture_seconds = capture(cell, namespace, history, options, settings, cwd)
    else:
        capture_seconds = captured_in

    name = unique_name(options.name)
    stages = backend.stages + (("upload",) if settings.storage.startswith("s3://") else ())
    run = Run(name, backend.name, settings.runs_root / "runs" / name, outputs=options.outputs,
              stages=stages, started_at=started_at,
              where=run_location(backend_name, options, settings),
              display_limits=display_limits(settings), outputs_from=options.outputs_from)
    view = make_view(settings.ui, title=name, backend=backend.name, stages=stages,
                     log_lines=settings.log_lines, on_cancel=lambda: cancel_from_panel(run),
                     started=started_at)
    run.view = view
    run.subscribe(view.handle)
    attach_frames(run, settings)  # run.error.frames, for %fairing_debug
    runs.add(run)
    if show is not None:
        show(view)
    if on_run is not None:
        on_run(run)
    run.emit(ev.StageChanged("capture", "done", capture_seconds, f"{len(bundle.members())} files"))
    for notice in notices:
        run.emit(ev.Notice(notice, level="warning"))
    announce(run.emit, options, backend_name, settings)
    try:
        image = ""
        if needs_image:
            image = build_image(bundle, options, settings, images or ImageService(settings),
                                run.emit, tag=name)
            run.image = image
            run.save_record()
        if reuse_or_record(run, bundle, image, options, settings):  # --cache: same inputs ran
            return run  # (its bundle is in the folder of the run it reused)
        bundle_dir = write_bundle(bundle, run.folder / "bundle")
        # the bundle's runtime env, then --env (backends.run_env); then how the runtime sends
        # its displays and outputs back (ours, whatever --env says)
        env = {**run_env(bundle, options), **runtime_env(options, settings)}
        backend.start(Launch(bundle_dir=bundle_dir, env=env, timeout=options.timeout,
                             image=image, options=options, settings=settings,
                             capture_digest=bundle.digest), run)
    except FairingError as exc:
        phase = ev.CANCELLED if isinstance(exc, RunCancelled) else ev.FAILED
        run.finish(phase, str(exc), error=exc)
        raise
    except KeyboardInterrupt:
        # Interrupted while building, pushing or submitting: end the run (what was started is
        # cancelled: a job being submitted is deleted, even one created as the interrupt came)
        # instead of leaving it Pending, and fail the cell with one line saying what was undone.
        run.cancel()
        message = interrupted_message(run)
        error = RunCancelled(message, phase=ev.CANCELLED)
        run.finish(ev.CANCELLED, message, error=error)
        raise error from None
    return run


def run_location(backend: str, options: TrainOptions, settings: Settings) -> dict:
    """Where a run can be found again from another kernel (kept in its ``run.json``)."""
    where = {"storage": settings.storage} if settings.storage else {}
    if backend == "kubernetes":
        where.update(namespace=options.namespace or settings.namespace, kind=options.kind,
                     context=options.context or settings.context)
    return where


_UNDONE = {
    "capture": "nothing was built, pushed or started",
    "build": "nothing was pushed or started",
    "push": "its image was not pushed (no manifest) and nothing was started",
    "submit": "its job was deleted from the cluster (or never created); nothing is left running",
}


def interrupted_message(run: Run) -> str:
    """The one line for a run interrupted before it ran: the stage it was in and what is left."""
    stage = next((s for s in reversed(run.stages_shown)
                  if run.stages.get(s, ("",))[0] in ("running", "failed")), "")
    if stage in _UNDONE:
        return f"interrupted during {stage}: run {run.name} was stopped; {_UNDONE[stage]}"
    return f"interrupted: run {run.name} was stopped before it started; nothing is left running"


def interrupt_action(run: Run, on_interrupt: str = "auto") -> str:
    """What a kernel interrupt does to a run being waited for: ``cancel`` or ``detach``
    (``auto``: cancel local runs, detach from cluster runs)."""
    if on_interrupt != "auto":
        return on_interrupt
    return "cancel" if run.backend == "local" else "detach"


def cancel_from_panel(run: Run) -> None:
    """The panel's Cancel button: stop the run (the waiting cell then fails with "cancelled from
    the panel: ..."); if it cannot be stopped, the panel says why."""
    try:
        run.cancel(by="the panel")
    except FairingError as exc:
        run.cancelled_by = ""  # not stopped by the panel after all
        run.emit(ev.Notice(f"Cancel failed: {exc}", level="error"))


def follow(run: Run, *, on_interrupt: str = "auto",
           poll: Callable[[], object] | None = None) -> Run:
    """Wait for ``run`` in this thread; raise its error if it failed.

    ``poll`` is called a few times a second while waiting: the magics pass the comm pump that
    lets the panel's Cancel button work while the cell blocks (:mod:`fairing_magics.ui.comm_pump`).
    A kernel interrupt (KeyboardInterrupt) cancels or detaches as ``on_interrupt`` says
    (``auto``: cancel local runs, detach from cluster runs) and always ends in a clear error, so
    the cell fails.
    """
    try:
        return run.wait(poll=poll)
    except RunCancelled as exc:
        if not run.cancelled_by or str(exc).startswith("cancelled from"):
            raise
        raise RunCancelled(f"cancelled from {run.cancelled_by}: {exc}", phase=exc.phase,
                           last_lines=exc.last_lines) from None
    except KeyboardInterrupt:
        if interrupt_action(run, on_interrupt) == "cancel":
            run.cancel()
            stopped = False
            try:
                stopped = run.wait_done(10)
            except KeyboardInterrupt:
                pass
            outcome = ("was stopped and nothing is left running" if stopped else
                       "is being stopped (%fairing_jobs shows when it has)")
            raise RunCancelled(f"interrupted during run: run {run.name} {outcome}",
                               phase=ev.CANCELLED, last_lines=tuple(run.tail())) from None
        run.emit(ev.PhaseChanged(ev.DETACHED, "the run goes on"))
        raise RunCancelled(f"interrupted: detached from run {run.name}, which goes on. "
                           f"Reattach with %fairing_logs {run.name}; stop it with %fairing_cancel "
                           f"{run.name}",
                           phase=ev.DETACHED) from None
