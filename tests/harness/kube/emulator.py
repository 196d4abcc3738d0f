"""The emulated cluster: API server, controllers and (optionally) a podman kubelet in one object.

    emu = KubeEmulator(workdir, podman=Podman(folder, insecure=("127.0.0.1:5000",))).start()
    emu.write_kubeconfig(path)          # then kubernetes.config.load_kube_config(path)
    ...
    emu.stop()                          # stops the server, threads and every container

Without ``podman`` there is no kubelet: pods are scheduled but stay Pending (API-only tests).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import yaml

from . import resources as rs
from .controllers import build_controllers
from .faults import Faults
from .fieldvalidation import SchemaAdmission, default_crd
from .logbook import LogBook, LogStream
from .server import ApiServer
from .store import Store

NAMESPACES = ("default", "kube-system", "kube-public")
NODE_NAME = "emulated-node"
PORT_ANNOTATION = "emulator.fairing.dev/port"
ENDPOINT_ANNOTATION = "emulator.fairing.dev/endpoint"
#: The Kubernetes release the emulator plays unless told: the newest with a schema in shared/.
DEFAULT_KUBERNETES = "1.36"


class KubeEmulator:
    """An in-process Kubernetes API server emulator with controllers and a kubelet."""

    def __init__(self, workdir: str | Path, podman=None, *, token: str = "emulator-token",
                 user: str = "system:serviceaccount:default:default-editor",
                 crds: tuple[str, ...] = rs.DEFAULT_CRDS, gpus: int = 0,
                 node_labels: dict | None = None, history_limit: int = 5000,
                 restart_backoff: float = 1.0, image_pull_backoff: float = 1.0,
                 kubernetes_version: str = DEFAULT_KUBERNETES):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token, self.user = token, user
        #: The Kubernetes release this API server plays: its /version, its built-in schemas,
        #: whether it reads fieldValidation (1.25+); see fieldvalidation.
        self.kubernetes_version = kubernetes_version
        self.store = Store(history_limit=history_limit,
                           schemas=SchemaAdmission(kubernetes_version))
        self.logbook = LogBook()
        self.faults = Faults()
        self.stopping = threading.Event()
        self.requests: collections.deque = collections.deque(maxlen=10000)
        #: Every create, update and patch as it arrived: method, path, query, body (parsed).
        self.received: collections.deque = collections.deque(maxlen=2000)
        self.gpus = gpus
        self.node_labels = {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64", **(node_labels or {})}
        self.restart_backoff = restart_backoff
        self.clock_offset = 0.0  # seconds the controllers' clock is ahead (advance_clock)
        self.image_pull_backoff = image_pull_backoff
        self._initial_crds = crds
        self._drop_after: collections.deque = collections.deque()
        self._dirty = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: ApiServer | None = None
        self.kubelet = None
        if podman is not None:
            from .kubelet import Kubelet
            self.kubelet = Kubelet(self, podman)
        self.controllers = build_controllers(self)
        self.store.listeners.append(lambda change: self._dirty.set())

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> KubeEmulator:
        self._seed()
        self.server = ApiServer(self)
        self._spawn(lambda: self.server.serve_forever(poll_interval=0.05), "kube-apiserver")
        self._spawn(self._control_loop, "kube-controllers")
        return self

    def stop(self) -> None:
        """Stop serving, end all streams and threads, remove every container started."""
        self.stopping.set()
        self._dirty.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.kubelet is not None:
            self.kubelet.shutdown()
        for t in self._threads:
            t.join(timeout=10)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _seed(self) -> None:
        ns_type = rs.find_type("", "v1", "namespaces")
        for ns in NAMESPACES:
            self.store.create(ns_type, "", {"metadata": {"name": ns}})
        gpu = {"nvidia.com/gpu": str(self.gpus)} if self.gpus else {}
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "250", **gpu}
        self.store.create(rs.find_type("", "v1", "nodes"), "", {
            "metadata": {"name": NODE_NAME, "labels": self.node_labels},
            "spec": {},
            "status": {"capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "KubeletReady"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": NODE_NAME}],
                       "nodeInfo": {  # every field of NodeSystemInfo (clients require them)
                           "kubeletVersion": f"v{self.kubernetes_version}.0",
                           "kubeProxyVersion": f"v{self.kubernetes_version}.0",
                           "containerRuntimeVersion": "podman", "operatingSystem": "linux",
                           "architecture": "amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                           "kernelVersion": "6.1.0", "machineID": "0" * 32,
                           "systemUUID": "00000000-0000-0000-0000-000000000000",
                           "bootID": "00000000-0000-0000-0000-000000000001"}}})
        for crd in self._initial_crds:
            self.add_crd(crd)
        if "clustertrainingruntimes.trainer.kubeflow.org" in self._initial_crds:
            # Kubeflow Trainer's manifests install its runtimes with it.
            from .controllers.trainjobs import CLUSTER_TRAINING_RUNTIME, torch_distributed_runtime

            self.store.create(CLUSTER_TRAINING_RUNTIME, "", torch_distributed_runtime())

    def _control_loop(self) -> None:
        while not self.stopping.is_set():
            self._dirty.wait(0.25)
            self._dirty.clear()
            for controller in self.controllers:
                if self.stopping.is_set():
                    return
                try:
                    controller.reconcile()
                except Exception as e:  # a controller bug must not stop the cluster
                    import traceback
                    traceback.print_exc()
                    self.last_controller_error = e

    # -- access ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        assert self.server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def write_kubeconfig(self, path: str | Path, namespace: str = "default",
                         context: str = "emulator") -> Path:
        """Write a kubeconfig whose current context points at this emulator (bearer token)."""
        path = Path(path)
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "emulator", "cluster": {"server": self.api_url}}],
            "users": [{"name": "emulator-user", "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "emulator",
                                                       "user": "emulator-user",
                                                       "namespace": namespace}}],
        }))
        return path

    def served_types(self) -> list[rs.ResourceType]:
        crd_type = rs.find_type("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crds = self.store.names(crd_type)
        return [t for t in rs.TYPES if not t.crd or t.crd in crds]

    def add_crd(self, name: str) -> None:
        t = rs.type_of_crd(name)
        if t is None:
            raise ValueError(f"unknown CRD {name}; known: {rs.DEFAULT_CRDS}")
        crd_type = rs.find_type("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        if self.store.find(crd_type, "", name) is None:
            self.store.create(crd_type, "", default_crd(name) or rs.crd_object(t))

    def remove_crd(self, name: str) -> None:
        """Uninstall a CRD (e.g. ``tfjobs.kubeflow.org``): its type is no longer served."""
        crd_type = rs.find_type("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        self.store.delete(crd_type, "", name)

    # -- fault hooks ----------------------------------------------------------------------
    def drop_log_streams(self) -> int:
        """Close every open pod-log stream mid-stream now; returns how many were open."""
        return self.logbook.drop_all()

    def drop_log_streams_after(self, lines: int, times: int = 1) -> None:
        """Each of the next ``times`` pod-log streams is closed after sending ``lines`` lines."""
        for _ in range(times):
            self._drop_after.append(lines)

    def fail_requests(self, status: int = 500, count: int = 1, path: str = ".*",
                      method: str | None = None, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests matching ``path`` (regex) with 429 or 500."""
        self.faults.fail_requests(status, count, path, method, retry_after)

    def hold_requests(self, seconds: float, path: str = ".*", method: str | None = None,
                      count: int = 1, when: str = "before") -> None:
        """Hold matching requests ``seconds`` before acting on them or, ``when="after"``, before
        answering (see :meth:`Faults.hold_requests`); ``faults.holding`` is set meanwhile."""
        self.faults.hold_requests(seconds, path, method, count, when)

    def deny(self, verb: str, resource: str, group: str | None = None,
             namespace: str | None = None, subresource: str = "") -> None:
        """RBAC: the user may not ``verb`` ``resource`` (403 and SSAR ``allowed: false``)."""
        self.faults.deny(verb, resource, group, namespace, subresource)

    def expire_watches(self) -> int:
        """End open watches with a 410 ERROR event and forget history (old RVs get 410)."""
        return self.store.expire_watches()

    def open_log_stream(self) -> LogStream:
        stream = LogStream()
        try:
            stream.drop_after = self._drop_after.popleft()
        except IndexError:
            pass
        self.logbook.streams.add(stream)
        return stream

    def close_log_stream(self, stream: LogStream) -> None:
        self.logbook.streams.discard(stream)

    # -- the controllers' clock ----------------------------------------------------------
    def now(self) -> float:
        """The time controllers act on (the CronJob controller's schedule): the wall clock plus
        what tests moved it forward by."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the controllers' clock ``seconds`` forward (a CronJob's next time comes without
        waiting for it) and let them act at once; returns the new time."""
        self.clock_offset += seconds
        self._dirty.set()
        return self.now()

    # -- conveniences for tests -----------------------------------------------------------
    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.1, what: str = ""):
        """Poll ``predicate()`` until it returns something truthy; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
            time.sleep(interval)

    def service_endpoint(self, namespace: str, name: str) -> str | None:
        """``127.0.0.1:PORT`` a Service resolves to (its ready pod's port), or None."""
        svc = self.store.find(rs.find_type("", "v1", "services"), namespace, name)
        return ((svc or {}).get("metadata", {}).get("annotations") or {}).get(ENDPOINT_ANNOTATION)
