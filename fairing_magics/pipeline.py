"""The pipeline: cell -> Bundle -> (image) -> run. Magics and tests drive this same code.

Every stage reads one :class:`~fairing_magics.train_request.TrainRequest`: the cell's flags
merged with the settings once (:func:`~fairing_magics.train_request.merge_request`).
:func:`train` captures a cell and starts it on a backend, returning the :class:`Run` at once;
:func:`follow` waits for it in the calling thread and decides what a kernel interrupt does.
:func:`plan_train` is ``--dry-run``: it captures and describes, and touches nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fairing_magics import events as ev
from fairing_magics.backends import Launch, get_backend, run_env
from fairing_magics.cache import check_cache, reuse_or_record
from fairing_magics.capture import capture_cell
from fairing_magics.capture.bundle import Bundle, write_bundle
from fairing_magics.config import BACKENDS, Settings
from fairing_magics.displays import display_limits
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
from fairing_magics.train_request import TRAIN_FLAGS, TrainOptions, TrainRequest
from fairing_magics.ui import make_view


def builds_image(request: TrainRequest) -> bool:
    """Is an image built for this run: its backend runs one, or ``--image-only``."""
    return request.image_only or "image" in get_backend(request.backend).flag_groups


def check_request(request: TrainRequest) -> None:
    """Refuse, before any work and without touching the network, what the run would refuse.
    The dry run, ``--image-only`` and the real run all call this, so a dry run reports every
    refusal with the run's own message.

    The resource and placement flags (``--cpu``, ``--memory``, ``--gpus``, ``--node-selector``,
    ``--toleration``, ``--volume``, ``--workers``, ...) go through the Kubernetes spec rendering
    on every backend, so ``--gpus -1`` is refused on the local backend as on a cluster (a flag
    the backend then ignores is named by :func:`ignored_notice`).
    """
    from fairing_magics.backends.kubernetes.plan import check_flags

    backend = request.backend
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is unknown; use one of {', '.join(BACKENDS)}"
                          + _did_you_mean(backend, BACKENDS))
    validate_name(request.name)
    if request.builder:
        check_builder(request.builder)
    if request.timeout is not None and request.timeout <= 0:
        raise ConfigError(f"--timeout {request.timeout:g} must be a positive number of seconds")
    check_output_flags(request)
    check_flags(request)
    if builds_image(request):
        check_image_settings(request)
    if not request.image_only:
        get_backend(backend).validate(request)
    if request.settings.storage:
        from fairing_magics.storage import storage_for

        storage_for(request.settings.storage).check_settings()
    check_cache(request)


def check_output_flags(request: TrainRequest) -> None:
    """``--outputs-from`` is ``chief`` or ``all``, and ``all`` needs a run of several replicas
    (``--backend kubernetes`` with ``--kind tfjob|pytorchjob|trainjob``); ``--figure-format`` is
    ``png``, ``svg`` or ``png,svg``."""
    from fairing_magics.config import FIGURE_FORMATS
    from fairing_magics.displays import OUTPUTS_FROM

    if request.outputs_from not in OUTPUTS_FROM:
        raise ConfigError(f"--outputs-from {request.outputs_from!r} is not one of "
                          f"{', '.join(OUTPUTS_FROM)} (chief: the chief or rank 0 replica only; "
                          "all: one set per replica)")
    single = request.backend != "kubernetes" or request.kind == "job"
    if request.outputs_from == "all" and single:
        raise ConfigError("--outputs-from all brings back one set per replica: it needs a run of "
                          "several replicas (--backend kubernetes --kind tfjob, pytorchjob or "
                          "trainjob); this run has one process")
    if request.figure_format not in FIGURE_FORMATS:
        raise ConfigError(f"--figure-format {request.figure_format!r} is not one of "
                          f"{', '.join(FIGURE_FORMATS)}")


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_image_settings(request: TrainRequest) -> None:
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

    if is_ecr_shorthand(request.registry):
        check_ecr_shorthand(request.registry)  # completing it asks STS: not here
    else:
        ref = target_repository(request.registry)
        if is_ecr_host(ref.registry):  # what the push checks first (wrong DNS suffix, bad name)
            parse_ecr_host(ref.registry)
            check_repository_name(ref.repository)
    parse_reference(request.base_image)
    if request.platform:
        parse_platform(request.platform)


def ignored_notice(request: TrainRequest) -> str:
    """One sentence naming the flags this run ignores (``--gpus applies to kubernetes; this local
    run ignores it``), or ``""``. Image flags matter to the backends that run an image and to
    ``--image-only``; cluster flags to the kubernetes backend; the run flags a ``--image-only``
    build ignores to every run that runs (the groups of
    :data:`~fairing_magics.train_request.TRAIN_FLAGS`, and each backend's ``flag_groups``)."""
    given, defaults = request.given, TrainOptions()
    groups_of = {name: get_backend(name).flag_groups for name in BACKENDS}
    image_users = [name for name in BACKENDS if "image" in groups_of[name]] + ["--image-only"]
    uses = {"image": (builds_image(request), _join(image_users)),
            "cluster": ("cluster" in groups_of[request.backend] and not request.image_only,
                        _join([name for name in BACKENDS if "cluster" in groups_of[name]])),
            "run": (not request.image_only, "runs (not --image-only)")}
    groups: dict[str, list[str]] = {}
    for group, (used, users) in uses.items():
        for flag in TRAIN_FLAGS:
            if flag.group != group or (group == "run" and not flag.image_only_ignores):
                continue
            if not used and getattr(given, flag.target) != getattr(defaults, flag.target):
                groups.setdefault(users, []).append(flag.name)
    if not groups:
        return ""
    parts = []
    for users, flags in groups.items():  # "--cpu and --gpus apply to kubernetes; --registry to ..."
        verb = "" if parts else (" applies" if len(flags) == 1 else " apply")
        parts.append(f"{_join(flags)}{verb} to {users}")
    count = sum(len(flags) for flags in groups.values())
    run = "this --image-only run" if request.image_only else f"this {request.backend} run"
    return "; ".join(parts) + f"; {run} ignores {'it' if count == 1 else 'them'}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_notices(request: TrainRequest) -> list[str]:
    """Warnings about the image, said before anything is pushed (in the dry run and the build):
    a Docker Hub base for a registry in the China partition, PyPI as its package index."""
    from fairing_magics.base_image import image_notices

    settings = request.settings
    return image_notices(request.base_image, request.registry, settings.index_url,
                         settings.extra_index_urls)


def check_storage(settings: Settings) -> None:
    """Refuse an ``s3://`` run storage whose bucket is missing before the run starts (not after
    it trained, when the outputs are uploaded); a local folder is created when needed."""
    if settings.storage.startswith("s3://"):
        from fairing_magics.storage import storage_for

        storage_for(settings.storage).ensure_bucket(create=False)


def capture(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
            request: TrainRequest, cwd: Path | None = None, *,
            injected: Mapping[str, str] | None = None) -> tuple[Bundle, float]:
    """Capture the cell; return the bundle and the seconds it took. ``injected``: names the run
    is given instead of capturing them (a sweep's parameters and their types)."""
    started = time.perf_counter()
    bundle = capture_cell(cell, namespace, history, cwd=cwd, includes=request.includes,
                          requirements=request.requirements, outputs=request.outputs,
                          value_limit=request.settings.value_limit_mb * 2**20,
                          file_limit=request.settings.file_limit_mb * 2**20, injected=injected)
    return bundle, time.perf_counter() - started


def plan_train(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
               request: TrainRequest, cwd: Path | None = None) -> str:
    """``--dry-run``: the capture report and what would be done, as text. Nothing is touched."""
    from fairing_magics.storage import describe_run_folder

    settings = request.settings
    check_request(request)
    bundle, seconds = capture(cell, namespace, history, request, cwd)
    lines = [f"Dry run of {request.name!r} on the {request.backend} backend (capture took "
             f"{seconds * 1000:.0f} ms); nothing was built, pushed or started.", "",
             bundle.report.render_text(), "",
             f"Bundle digest: {bundle.digest} ({len(bundle.members())} files, {bundle.size} bytes)"]
    ignored = ignored_notice(request)
    if ignored:
        lines.append(f"Ignored flags: {ignored}")
    if request.outputs and not request.image_only:
        lines.append("Outputs brought back: " + ", ".join(request.outputs))
    storage = settings.storage or str(settings.runs_root)
    lines.append(f"Run storage: {describe_run_folder(storage, f'{request.name}-<suffix>')}")
    if builds_image(request) or request.registry:
        lines.append("")
        lines.extend(describe_registry_plan(request.registry))
        lines.append(f"Base image: {request.base_image} (resolved to a digest at build time)")
        lines.append("Layers: base, dependencies (" + (", ".join(bundle.requirements) or "none")
                     + "), code (the bundle)")
        if bundle.requirements:
            lines.append(describe_index(settings))
        if request.builder == "docker":
            lines.append("Builder: docker (a Dockerfile built and pushed by the Docker Engine at "
                         "DOCKER_HOST; the requirements are installed with pip inside the image)")
        for notice in build_notices(request):
            lines.extend(["", "Warning: " + notice])
    if not request.image_only:
        lines.extend(get_backend(request.backend).describe_plan(request, bundle))
    return "\n".join(lines)


def check_base(request: TrainRequest) -> None:
    """Before a build: the base image's registry answers (a short timeout), else one error with
    the copy-image command that fixes it (:mod:`fairing_magics.base_image`)."""
    from fairing_magics.base_image import check_base_reachable

    check_base_reachable(request.base_image, request.registry,
                         insecure_registries=request.settings.insecure_registries)


def announce(emit: Callable[[object], None], request: TrainRequest) -> None:
    """The notices of a run before its build: flags it ignores, and :func:`build_notices`."""
    ignored = ignored_notice(request)
    if ignored:
        emit(ev.Notice(ignored, level="warning"))
    if builds_image(request):
        for notice in build_notices(request):
            emit(ev.Notice(notice, level="warning"))


def build_image(bundle: Bundle, request: TrainRequest, images: ImageService,
                emit: Callable[[object], None], *, tag: str = "") -> str:
    """The build and push stages; returns ``repository@sha256:...``."""
    pushed = images.publish(bundle, repository=target_repository(request.registry),
                            base_image=request.base_image, tag=tag, python=request.python,
                            platform=request.platform, emit=emit,
                            builder=request.builder or None)
    return str(pushed)


def publish_only(cell: str, namespace: Mapping[str, Any], history: Sequence[str],
                 request: TrainRequest, images: ImageService, *, cwd: Path | None = None,
                 show: Callable[[object], None] | None = None) -> str:
    """``--image-only``: capture, build and push; return the image reference by digest."""
    check_request(request)
    target_repository(request.registry)  # fail before the capture if unset
    check_base(request)
    bundle, seconds = capture(cell, namespace, history, request, cwd)
    view = make_view(request.settings.ui, title=f"{request.name} (image)", backend="registry",
                     stages=("capture", "build", "push"), log_lines=request.settings.log_lines)
    if show is not None:
        show(view)
    view.handle(ev.StageChanged("capture", "done", seconds))
    announce(view.handle, request)
    try:
        ref = build_image(bundle, request, images, view.handle, tag=request.name)
    except FairingError as exc:
        view.handle(ev.Finished(ev.FAILED, str(exc)))
        raise
    view.handle(ev.Finished(ev.SUCCEEDED, ref))
    return ref


def train(cell: str, namespace: Mapping[str, Any], history: Sequence[str], request: TrainRequest,
          runs: RunBook, *, cwd: Path | None = None, show: Callable[[object], None] | None = None,
          images: ImageService | None = None, bundle: Bundle | None = None,
          captured_in: float = 0.0, notices: Sequence[str] = (),
          on_run: Callable[[Run], None] | None = None) -> Run:
    """Capture ``cell`` and start it; return the run at once (use :func:`follow` to wait).

    Bad input raises before anything is made; ``show(view)`` is called with the panel as soon as
    the run exists. A caller that captured already (a notebook job) passes its ``bundle`` (the
    cell is then unused), the seconds it took and the ``notices`` of its capture; ``on_run(run)``
    is called once the run exists, before it starts (to follow its end from the first event on).
    With ``--cache`` a run whose inputs equal an earlier successful run's ends at once as its
    replay (:mod:`fairing_magics.cache`).
    """
    settings = request.settings
    check_request(request)
    backend = get_backend(request.backend)
    needs_image = builds_image(request)
    if needs_image:
        target_repository(request.registry)  # fail before the capture if unset
        backend.check(request)
        check_base(request)
    check_storage(settings)
    started_at = time.time()
    if bundle is None:
        bundle, captured_in = capture(cell, namespace, history, request, cwd)

    name = unique_name(request.name)
    run = open_run(name, backend, settings, runs, folder=settings.runs_root / "runs" / name,
                   outputs=request.outputs, started_at=started_at, where=run_location(request),
                   outputs_from=request.outputs_from, show=show)
    if on_run is not None:
        on_run(run)
    run.emit(ev.StageChanged("capture", "done", captured_in, f"{len(bundle.members())} files"))
    for notice in notices:
        run.emit(ev.Notice(notice, level="warning"))
    announce(run.emit, request)
    try:
        image = ""
        if needs_image:
            image = build_image(bundle, request, images or ImageService(settings), run.emit,
                                tag=name)
            run.image = image
            run.save_record()
        if reuse_or_record(run, bundle, image, request):  # --cache: the same inputs ran
            return run  # (its bundle is in the folder of the run it reused)
        bundle_dir = write_bundle(bundle, run.folder / "bundle")
        backend.start(Launch(bundle_dir=bundle_dir, request=request, env=run_env(bundle, request),
                             timeout=request.timeout, image=image,
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


def open_run(name: str, backend, settings: Settings, runs: RunBook, *, folder: Path,
             outputs: tuple[str, ...] = (), started_at: float | None = None,
             where: dict | None = None, outputs_from: str = "chief",
             show: Callable[[object], None] | None = None) -> Run:
    """A new run of ``backend`` with its panel: the panel follows it (its Cancel button cancels
    it), ``runs`` keeps it and ``show(view)`` displays the panel; its displays are capped as the
    settings say; if it fails, its error holds the failing frames (``run.error.frames``). A run
    started here and one reattached to are opened alike."""
    stages = backend.stages + (("upload",) if settings.storage.startswith("s3://") else ())
    run = Run(name, backend.name, folder, outputs=outputs, stages=stages, started_at=started_at,
              where=where, display_limits=display_limits(settings), outputs_from=outputs_from)
    view = make_view(settings.ui, title=name, backend=backend.name, stages=stages,
                     log_lines=settings.log_lines, on_cancel=lambda: cancel_from_panel(run),
                     started=started_at)
    run.view = view
    run.subscribe(view.handle)
    attach_frames(run, settings)  # run.error.frames, for %fairing_debug
    runs.add(run)
    if show is not None:
        show(view)
    return run


def reattach(name: str, settings: Settings, runs: RunBook, *, backend: str,
             namespace: str | None = None,
             show: Callable[[object], None] | None = None) -> Run | None:
    """Follow run ``name``, which goes on without this kernel (another kernel's, or one whose
    kernel is gone), in a new run object and panel; None when ``backend`` keeps no such runs.
    Wait for it with :func:`follow`."""
    chosen = get_backend(backend)

    def open_attached(found: str) -> Run:
        folder = Path(settings.home) / "attached" / f"{found}-{int(time.time())}"
        return open_run(found, chosen, settings, runs, folder=folder, show=show)

    return chosen.reattach(name, settings, open_attached, namespace=namespace)


def run_location(request: TrainRequest) -> dict:
    """Where a run can be found again from another kernel (kept in its ``run.json``)."""
    storage = request.settings.storage
    return {**({"storage": storage} if storage else {}),
            **get_backend(request.backend).run_location(request)}


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
    return get_backend(run.backend).interrupt


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
