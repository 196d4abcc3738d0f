"""The docker deployer: the serving image a cluster would run, in a container of a local engine.

``%fairing_deploy MODEL --name N --backend docker`` checks the image before a cluster sees it::

    %fairing_config --registry 127.0.0.1:5000/me/serve --base-image 127.0.0.1:5000/python:3.11
    %fairing_deploy model --name linreg --backend docker
    ep = _
    ep.predict(x_test)                # the same predictions as model.predict(x_test)
    %fairing_undeploy linreg --backend docker

What happens, stage by stage (the panel shows each one):

1. **package**: the model is pickled with its predictor and pinned packages, as for any backend;
2. **build** and **push**: the very image the Kubernetes deployer makes (the serving image of
   :mod:`fairing_magics.image.serving`: base, dependency layer, model layer with ``serve.py``),
   pushed to ``--registry`` and referred to by digest;
3. **pull**: the engine ``DOCKER_HOST`` names (Docker, or podman's Docker API from
   ``podman system service``) pulls ``repo@sha256:...`` unless it has it, with our credentials
   for the registry (ECR tokens, the docker config: no ``docker login`` on the engine's side);
   a plain-HTTP registry must be in the engine's insecure-registry settings;
4. **start**: the container runs with ``network_mode="host"``, ``init=True`` (Python as PID 1
   ignores SIGTERM), ``HOST=127.0.0.1`` and ``PORT`` set to a free port of this machine, so the
   server is reachable at ``http://127.0.0.1:PORT`` and from nowhere else. The engine must
   therefore run on this machine. Its output streams into the panel, line by line;
5. **ready**: ``GET /v1/models/NAME`` answers 200.

If the server exits or never gets ready, :class:`~fairing_magics.errors.DeployError` (or
``FairingTimeout``) says so with the container's last lines, and the container is removed.

Flags: ``--name``, ``--predictor``, ``--from-run``, ``--timeout`` as everywhere; ``--registry``
and ``--base-image`` from ``%fairing_config``. Cluster-only flags (``--replicas`` above 1,
``--kserve``, ``--runtime``, ``--expose`` other than ``clusterip``, ``--cpu``, ``--memory``) are
refused, each with what to do instead.

Deploying a name again starts a container of the new model, waits until it is ready, then stops
and removes the old one (the endpoint object stays the same). ``.delete()`` or
``%fairing_undeploy NAME --backend docker`` stops and removes the container.

What is left behind: the image in the registry (tagged with the endpoint's name) and in the
engine (a cache), and, while the endpoint lives, its container. The container outlives the
kernel: it carries the label ``fairing.endpoint=NAME``, by which a later kernel finds it
(``%fairing_undeploy NAME --backend docker`` removes it; deploying NAME again replaces it).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.backends.docker import follow_lines, pull_run_image
from fairing_magics.deploy.endpoint import READY, http_request, server_failure, wait_until_ready
from fairing_magics.deploy.model import ModelPackage
from fairing_magics.docker_engine import LazyEngine, remove_container, stop_container
from fairing_magics.errors import ConfigError, DeployError, JobFailed, redact
from fairing_magics.image.publish import (
    SERVING,
    ImageService,
    describe_registry_plan,
    target_repository,
)
from fairing_magics.image.serving import MODEL_DIGEST_LABEL, MODEL_DIR

ENDPOINT_LABEL = "fairing.endpoint"
URL_LABEL = "fairing.endpoint.url"
TAIL_LINES = 200
#: Container states in which the server is gone for good.
_ENDED = ("exited", "dead", "stopped", "removing")
#: Containers this process started, by id: a redeploy replaces only other kernels' ones itself.
_STARTED: set[str] = set()


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now (the container binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def container_options(name: str, port: int, *, model_digest: str = "") -> dict:
    """The keyword arguments of ``containers.run`` for endpoint ``name`` on ``port`` (pure)."""
    labels = {ENDPOINT_LABEL: name, URL_LABEL: f"http://127.0.0.1:{port}"}
    if model_digest:
        labels[MODEL_DIGEST_LABEL] = model_digest
    return {
        "detach": True,
        "network_mode": "host",
        "init": True,
        "environment": {"HOST": "127.0.0.1", "PORT": str(port), "FAIRING_MODEL_NAME": name},
        "labels": labels,
        "name": f"fairing-endpoint-{name}-{secrets.token_hex(3)}",
        "stdin_open": False,
        "tty": False,
    }


def describe_plan(package: ModelPackage | None, *, name: str, settings) -> list[str]:
    """``--dry-run`` lines for the docker backend (after the model's lines). Touches nothing."""
    repository = target_repository(settings.registry)
    packages = (", ".join(package.requirements) if package is not None
                else "the model's pinned packages")
    return ["", *describe_registry_plan(settings.registry),
            f"Base image: {settings.base_image} (resolved to a digest at build time)",
            f"Layers: base, dependencies ({packages}), model folder with serve.py at {MODEL_DIR}",
            "",
            f"Docker: the engine at DOCKER_HOST would pull {repository}@sha256:<digest of the "
            f"built image> and run it as container fairing-endpoint-{name}-<random> (labels "
            f"{ENDPOINT_LABEL}={name}), with host networking, --init, HOST=127.0.0.1 and PORT=<a "
            "free port of this machine>;",
            f"ready when GET http://127.0.0.1:<port>/v1/models/{name} answers 200. A container of "
            f"an earlier {name!r} is removed once the new one is ready."]


class DockerServer:
    """One serving container. ``url`` is ``http://127.0.0.1:PORT`` (host networking)."""

    backend = "docker"

    def __init__(self, engine, container, model_name: str, url: str, *,
                 emit: Callable[[object], None] = lambda event: None):
        self.engine = engine
        self.container = container
        self.model_name = model_name
        self.url = url
        self._emit = emit
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._stopped = False
        self._output_ended = threading.Event()
        self._follower = threading.Thread(target=self._follow, name=f"fairing-serve-{model_name}",
                                          daemon=True)
        self._follower.start()

    @property
    def container_id(self) -> str:
        return self.container.id

    def detach_events(self) -> None:
        """Stop sending log lines to the deployment's panel (it ended; ``logs()`` still has
        them)."""
        self._emit = lambda event: None

    def same_objects(self, other) -> bool:
        return isinstance(other, DockerServer) and other.container_id == self.container_id

    def _follow(self) -> None:
        try:
            follow_lines(self._chunks(), self._deliver)
        finally:
            self._output_ended.set()

    def _chunks(self):
        """The container's output as it comes; it ends quietly when the container goes or the
        engine drops the stream (an idle server outlasts the client's read timeout), so that no
        traceback from a reader thread lands in a later cell. ``logs()`` asks the engine."""
        try:
            yield from self.container.logs(stream=True, follow=True, stdout=True, stderr=True)
        except Exception:  # noqa: BLE001 - docker.errors.APIError, requests' ReadTimeout
            return

    def _deliver(self, lines: tuple[str, ...]) -> None:
        self._tail.extend(lines)
        self._emit(ev.LogLines(lines, self.model_name))

    # -- Server protocol ---------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        return http_request(self.url, method, path, body, timeout)

    def logs(self, tail: int | None = None) -> str:
        """The container's output (from the engine while the container exists, else what was
        seen)."""
        if tail is not None and tail <= 0:
            return ""
        try:
            raw = self.container.logs(stdout=True, stderr=True, tail=tail if tail else "all")
            lines = raw.decode("utf-8", "replace").splitlines()
        except Exception:  # noqa: BLE001 - removed: the lines this kernel saw
            lines = list(self._tail)
            if tail is not None:
                lines = lines[-tail:]
        return "".join(line + "\n" for line in lines)

    def status(self) -> str:
        if self._stopped:
            return "Stopped"
        state = self._state()
        if state is None:
            return "Stopped (container removed)"
        if state.get("Status") == "running":
            return READY
        return f"Stopped (exit {state.get('ExitCode')})"

    def stop(self) -> None:
        """SIGTERM to the container's init (serve.py finishes requests in flight), SIGKILL after a
        grace period, then remove the container. Stopping twice is harmless."""
        self._stopped = True
        _remove(self.container)
        self._follower.join(5)
        _STARTED.discard(self.container_id)

    # -- startup -----------------------------------------------------------------------
    def _state(self) -> dict | None:
        """The container's ``State`` (``Status``, ``ExitCode``), or None when it is gone."""
        try:
            self.container.reload()
        except Exception:  # noqa: BLE001 - docker.errors.NotFound: removed
            return None
        return self.container.attrs.get("State") or {"Status": self.container.status}

    def wait_ready(self, timeout: float) -> None:
        """Until ``GET /v1/models/NAME`` is 200 (the ``ready`` stage, with its attempts);
        DeployError (with the log) if the container ends."""
        wait_until_ready(self.request, self.model_name, deadline=time.monotonic() + timeout,
                         timeout=timeout, ended=self._ended, pause=self._pause,
                         failure=self._failure, emit=self._emit)

    def _ended(self) -> str:
        state = self._state()
        if state is not None and state.get("Status") not in _ENDED:
            return ""
        self._output_ended.wait(2)  # the last lines are still on their way
        return "was removed" if state is None else f"exited with code {state.get('ExitCode')}"

    def _pause(self, seconds: float) -> None:
        if self._output_ended.is_set():
            # the stream broke while the container runs: plain back-off, no spin
            time.sleep(seconds)
        else:
            self._output_ended.wait(seconds)  # wakes when the output ends: the container exited

    def _failure(self, what: str, timeout: bool = False) -> DeployError:
        lines = list(self._tail) or self.logs(TAIL_LINES).splitlines()
        return server_failure(f"the model server of {self.model_name!r} (container "
                              f"{self.container.short_id})",
                              what, lines, timeout=timeout)


class DockerDeployer(LazyEngine):
    """Serves model images in containers of a Docker Engine (see the module docstring)."""

    name = "docker"
    stages = ("package", "build", "push", "pull", "start", "ready")

    def check(self, settings, *, replicas: int = 1, kserve: bool = False, runtime: str = "",
              expose: str = "clusterip", cpu: str = "", memory: str = "") -> None:
        """Refuse cluster-only flags and a missing registry before anything is built (pure: the
        engine is reached first thing in :meth:`start`, so ``--dry-run`` needs none)."""
        if replicas != 1:
            raise ConfigError(f"--replicas {replicas}: the docker backend runs one container; drop "
                              "--replicas, or use --backend kubernetes for several pods")
        if kserve:
            raise ConfigError("--kserve makes a KServe InferenceService, which needs a cluster: "
                              "drop --kserve, or use --backend kubernetes")
        if runtime:
            raise ConfigError(f"--runtime {runtime} picks a KServe runtime on a cluster: drop "
                              "--runtime (the docker backend serves with our predictor image), or "
                              "use --backend kubernetes --kserve")
        if expose != "clusterip":
            raise ConfigError(f"--expose {expose} is how a Kubernetes Service is reached: the "
                              "docker backend serves on 127.0.0.1 of this machine only; drop "
                              "--expose")
        if cpu or memory:
            raise ConfigError("--cpu and --memory are pod resources on Kubernetes; the docker "
                              "backend does not limit its container: drop them, or use --backend "
                              "kubernetes")
        target_repository(settings.registry)

    def start(self, package: ModelPackage, *, name: str, settings, emit: Callable[[object], None],
              timeout: float = 300.0, images=None, **_options) -> DockerServer:
        """Build and push the image, pull and run it, wait until it is ready; return its server.

        On failure the container is removed (its last lines are in the error).
        """
        repository = target_repository(settings.registry)
        engine = self.engine  # before building: no engine, no build
        images = images or ImageService(settings)
        image = images.publish(package, builder=SERVING, repository=repository,
                               base_image=settings.base_image, tag=name, emit=emit)
        with ev.stage(emit, "pull") as step:
            try:
                pull_run_image(engine, image, emit, keychain=images.keychain)
            except JobFailed as exc:
                raise DeployError(f"endpoint {name}: {exc}") from exc
            step.detail = image.digest[:19]
        with ev.stage(emit, "start") as step:
            port = free_port()
            options = container_options(name, port, model_digest=package.digest)
            try:
                container = engine.containers.run(str(image), **options)
            except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and connection errors
                raise DeployError(f"the Docker Engine could not start a container of {image} for "
                                  f"endpoint {name}: {redact(str(exc))[:500]}. Check the engine "
                                  "(DOCKER_HOST) and its log.") from exc
            _STARTED.add(container.id)
            server = DockerServer(engine, container, name, f"http://127.0.0.1:{port}", emit=emit)
            emit(ev.PhaseChanged("Starting", f"container {container.short_id}"))
            step.detail = f"container {container.short_id}"
        try:
            server.wait_ready(timeout)  # the "ready" stage, with its attempts
        except BaseException:
            server.stop()  # nothing is left behind
            raise
        for stale in self._containers(name):
            # an earlier kernel's: this kernel's old one goes after the swap
            if stale.id not in _STARTED:
                emit(ev.Notice(f"removing container {stale.short_id} of an earlier {name!r}"))
                _remove(stale)
        return server

    def _containers(self, name: str) -> list:
        return self.engine.containers.list(all=True, filters={"label": f"{ENDPOINT_LABEL}={name}"})

    def delete_named(self, name: str, settings=None) -> bool:
        """Stop and remove every container of endpoint ``name`` (any kernel's); True if there
        was one."""
        found = self._containers(name)
        for container in found:
            _remove(container)
            _STARTED.discard(container.id)
        return bool(found)


def _remove(container) -> None:
    stop_container(container)
    remove_container(container)
