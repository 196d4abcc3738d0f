"""The docker backend: the pushed image runs in a container of a local Docker Engine.

It is the way to check an image before a cluster sees it: the run uses the very image
(``repo@sha256:...``) a Kubernetes Job would pull, on the engine ``DOCKER_HOST`` names (Docker,
or podman's Docker API from ``podman system service``), through the ``docker`` SDK::

    %%fairing_train --backend docker --registry 127.0.0.1:5000/me --outputs model
    model = fit(x, y)

What happens, as in :mod:`~fairing_magics.backends.local`:

- the engine pulls the image (by digest, with our registry credentials: ECR tokens, the docker
  config) when it does not have it, and runs it with
  ``network_mode="host"``, ``init=True`` (Python as PID 1 ignores SIGTERM), the cell's
  ``--env`` and the run folder mounted at ``FAIRING_OUTPUT_DIR`` (``/fairing/output``);
- the container's output (stdout and stderr, in order) streams into the run line by line;
- outputs come back through the mounted run folder (``outputs.pkl``); a failing cell fails the
  run with the remote traceback (``error.json``);
- ``run.cancel()`` and ``--timeout`` stop the container; whatever happens, the container is
  removed at the end: nothing is left behind (the image stays in the engine, as a cache).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from fairing_magics import docker_engine
from fairing_magics import events as ev
from fairing_magics.backends import Launch
from fairing_magics.backends.lines import LineEvents, LineSplitter
from fairing_magics.backends.local import finish_from_exit
from fairing_magics.docker_engine import EngineError, LazyEngine, remove_container, stop_container
from fairing_magics.errors import ConfigError, FairingTimeout, JobFailed, RunCancelled, redact
from fairing_magics.image.layout import DIGEST_LABEL, OUTPUT_DIR
from fairing_magics.oci.reference import Reference, parse_reference
from fairing_magics.registry.auth import Keychain
from fairing_magics.run import Run, cancel_request, request_cancel

GATHER_SECONDS = 0.02
RUN_LABEL = "fairing.run"


class DockerBackend(LazyEngine):
    """Runs bundle images in containers of a Docker Engine (``DOCKER_HOST``)."""

    name = "docker"
    stages = ("capture", "build", "push", "pull", "run")
    flag_groups = ("run", "image")
    interrupt = "detach"  # the container goes on; %fairing_cancel stops it

    def validate(self, request) -> None:
        """Nothing to refuse beyond the flags every backend checks."""

    def check(self, request) -> None:
        """The docker SDK is installed and a Docker Engine answers (before anything is built)."""
        self.engine  # noqa: B018 - connects, or raises ConfigError saying what to do

    def describe_plan(self, request, bundle) -> list[str]:
        return []  # the image's lines say it all: the engine at DOCKER_HOST runs it

    def run_location(self, request) -> dict:
        return {}

    def list_runs(self, settings) -> str:
        return ""  # every docker run has its run folder

    def reattach(self, name, settings, open_run, *, namespace=None) -> None:
        return None  # the container's output went to the kernel that started it

    def cancel(self, name: str, settings, *, record: Mapping | None = None,
               folder: Path | None = None) -> str | None:
        """Stop and remove the container of a run of another kernel (found by its label); that
        kernel, if alive, reports it Cancelled, from the word left in the run folder."""
        if folder is None:
            return None
        # its containers first: the word makes a live owner stop and remove them too (its run
        # heartbeat hears it), and whichever of us is first, they are this run's, gone
        containers = self.engine.containers.list(filters={"label": f"{RUN_LABEL}={name}"})
        request_cancel(folder, f"%fairing_cancel in another kernel (pid {os.getpid()})")
        for container in containers:
            stop_container(container)
            remove_container(container)
        return f"{name}: " + (f"its container {containers[0].short_id} was stopped and removed"
                              if containers else "no container of it is running")

    def list_schedules(self, settings, remembered) -> str:
        return ""  # no schedules: a docker run happens once

    def cancel_schedule(self, name: str, settings, remembered) -> None:
        return None

    def doctor(self, settings, *, kind: str, namespace: str = "", runtime_ref: str = "") -> list:
        return []  # the engine is checked as a run starts (check)

    def start(self, launch: Launch, run: Run) -> None:
        if not launch.image:
            raise ConfigError("the docker backend runs an image, and none was built: set "
                              "--registry")
        state = _ContainerState()
        run.set_canceller(lambda: state.stop("cancelled"))
        run.emit(ev.StageChanged("run", "running"))
        thread = threading.Thread(target=self._follow, args=(launch, run, state),
                                  name=f"fairing-docker-{run.name}", daemon=True)
        thread.start()

    def _follow(self, launch: Launch, run: Run, state: _ContainerState) -> None:
        started = time.monotonic()
        container = None
        returncode = None
        try:
            with ev.stage(run.emit, "pull") as step:
                step.detail = pull_run_image(self.engine, parse_reference(launch.image),
                                             run.emit)
            if state.reason:
                return
            run.emit(ev.PhaseChanged(ev.PENDING, "starting the container"))
            container = self.engine.containers.run(launch.image, **container_options(launch, run))
            state.attach(container)
            if launch.timeout:
                state.start_timer(launch.timeout)
            run.emit(ev.PhaseChanged(ev.RUNNING, f"container {container.short_id}"))
            events = LineEvents(run.emit)
            follow_lines(container.logs(stream=True, follow=True, stdout=True, stderr=True),
                         events.lines, on_live=events.live)
            returncode = int(container.wait().get("StatusCode", -1))
        except JobFailed as exc:
            state.error = exc
        # docker.errors.APIError, connection errors: the run fails
        except Exception as exc:  # noqa: BLE001
            state.error = JobFailed(f"the Docker Engine failed run {run.name}: "
                                    f"{redact(str(exc))[:500]}. Check the engine (DOCKER_HOST) and "
                                    "its log.", reason=type(exc).__name__,
                                    last_lines=tuple(run.tail()))
        finally:
            state.detach()
            if container is not None:
                remove_container(container)
            _finish(run, returncode, state, time.monotonic() - started, launch)


class _ContainerState:
    """The container of a run, why it ended early (cancelled, timeout), and how to stop it."""

    def __init__(self) -> None:
        self.reason = ""
        self.error: JobFailed | None = None
        self.container = None
        self.timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def attach(self, container) -> None:
        with self._lock:
            self.container = container
            stop_now = bool(self.reason)  # cancelled while the container was being created
        if stop_now:
            stop_container(container)

    def start_timer(self, seconds: float) -> None:
        self.timer = threading.Timer(seconds, self.stop, args=("timeout",))
        self.timer.daemon = True
        self.timer.start()

    def detach(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason:
                return
            self.reason = reason
            container = self.container
        if container is not None:
            stop_container(container)


def container_options(launch: Launch, run: Run) -> dict:
    """The keyword arguments of ``containers.run`` for ``launch`` (pure)."""
    env = dict(launch.env)
    env["FAIRING_OUTPUT_DIR"] = OUTPUT_DIR
    env["FAIRING_RUN_NAME"] = run.name
    storage = launch.settings.storage
    if storage.startswith("s3://"):  # the run folder also goes to S3, as on a cluster
        env["FAIRING_STORAGE"] = storage
    labels = {RUN_LABEL: run.name}
    if launch.capture_digest:
        labels[DIGEST_LABEL] = launch.capture_digest
    return {
        "detach": True,
        "network_mode": "host",
        "init": True,
        "environment": env,
        "volumes": {str(run.folder.resolve()): {"bind": OUTPUT_DIR, "mode": "rw"}},
        "labels": labels,
        "name": f"fairing-{run.name}",
        "stdin_open": False,
        "tty": False,
    }


def pull_run_image(engine, image: Reference, emit: Callable[[object], None], *,
                   keychain: Keychain | None = None) -> str:
    """Pull a run's (or an endpoint's) ``image`` unless the engine has it; say which (the pull
    stage's detail). A failure is a :class:`JobFailed` saying why. ``emit`` gets a ``Pending``
    phase when a pull starts. The pull carries our keychain's credentials for the registry (ECR
    tokens, the docker config), so the engine needs no ``docker login`` of its own."""
    try:
        pulled = docker_engine.pull_image(engine, image, keychain=keychain, on_pull=lambda: emit(
            ev.PhaseChanged(ev.PENDING, f"pulling {image}")))
    except EngineError as exc:
        raise JobFailed(f"the Docker Engine could not pull {image}: {exc.message[:500]}. Check "
                        "that the engine may read the registry (credentials, insecure registries "
                        "in its settings).", reason="ErrImagePull") from exc
    return "pulled" if pulled else "already on the engine"


def follow_lines(chunks: Iterable[bytes], deliver: Callable[[tuple[str, ...]], None],
                 gather_seconds: float = GATHER_SECONDS, *, on_live=None) -> None:
    """Turn a stream of byte chunks into batches of finished lines for ``deliver`` as they come,
    and the live rows for ``on_live`` (see :func:`~fairing_magics.backends.local.pump_lines`).

    A reader thread takes the chunks; a batch goes out at most ``gather_seconds`` after its first
    chunk arrived (a program that flushes every line gives a few hundred batches a second, not
    one event per line).
    """
    chunk_queue: queue.Queue = queue.Queue(maxsize=1024)  # bounded: a fast program waits for us
    end = object()

    def read() -> None:
        try:
            for chunk in chunks:
                if chunk:
                    chunk_queue.put(chunk)
        finally:
            chunk_queue.put(end)

    threading.Thread(target=read, name="fairing-docker-logs", daemon=True).start()
    splitter = LineSplitter()
    done = False
    while not done:
        item = chunk_queue.get()
        if item is end:
            break
        parts = [item]
        deadline = time.monotonic() + gather_seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                more = chunk_queue.get(timeout=remaining)
            except queue.Empty:
                break
            if more is end:
                done = True
                break
            parts.append(more)
        splitter.pass_on(b"".join(parts), deliver, on_live)
    last = splitter.close()
    if last:
        deliver(last)
    if on_live is not None:
        on_live((), splitter.take_markers())


def _finish(run: Run, returncode: int | None, state: _ContainerState, seconds: float,
            launch: Launch) -> None:
    elsewhere = cancel_request(run.folder) if returncode != 0 else ""
    if elsewhere and not run.cancelled_by:
        run.cancelled_by = elsewhere
    if state.reason == "cancelled" or elsewhere:
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.CANCELLED, lambda took: f"cancelled after {took}",
                   error=RunCancelled(f"run {run.name} was cancelled; its container was stopped "
                                      "and removed",
                                      phase=ev.CANCELLED, last_lines=tuple(run.tail())))
        return
    if state.reason == "timeout":
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.TIMED_OUT, f"stopped by --timeout {launch.timeout:g} s",
                   error=FairingTimeout(f"run {run.name} took longer than --timeout "
                                        f"{launch.timeout:g} s; its container was stopped and "
                                        "removed. Raise --timeout or make the cell faster"))
        return
    if state.error is not None or returncode is None:
        error = state.error or JobFailed(f"run {run.name} ended without an exit code",
                                         last_lines=tuple(run.tail()))
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.FAILED, str(error), error=error)
        return
    finish_from_exit(run, returncode, seconds)
