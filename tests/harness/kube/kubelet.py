"""A kubelet that runs each pod's containers with podman on the host network.

Per pod a :class:`PodWorker` thread prepares volumes, runs init containers, then one
:class:`~.containers.ContainerRunner` per container (pull, create, ``podman start --attach``,
log lines, exit code, restarts). The pod's status (phase, conditions, containerStatuses) is
rebuilt from the runners after every change. Deleting a pod stops its containers
(``podman stop -t GRACE``) and then removes the object, like a real graceful deletion.
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections import defaultdict

from .containers import ContainerRunner
from .events import record_event
from .podspec import MissingReference, prepare_volumes
from .resources import find_type
from .store import now_iso

POD = find_type("", "v1", "pods")


class Kubelet:
    """Starts a worker for every pod bound to the emulated node; stops them on deletion."""

    def __init__(self, emu, podman):
        self.emu, self.podman = emu, podman
        self.workers: dict[str, PodWorker] = {}
        self.label = f"io.fairing.emulator={uuid.uuid4().hex[:12]}"
        self.limits_ok = True  # cleared if podman cannot apply --memory/--cpus here
        self.pull_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.lock = threading.Lock()

    def reconcile(self) -> None:
        from .emulator import NODE_NAME
        store = self.emu.store
        pods, _ = store.list(POD, None, lambda p: p["spec"].get("nodeName") == NODE_NAME)
        seen = set()
        with self.lock:
            for pod in pods:
                meta = pod["metadata"]
                uid = meta["uid"]
                seen.add(uid)
                worker = self.workers.get(uid)
                deleting = bool(meta.get("deletionTimestamp"))
                if worker is None:
                    if deleting:
                        store.remove_now(POD, meta["namespace"], meta["name"], uid)
                    elif pod["status"].get("phase") not in ("Succeeded", "Failed") \
                            and not self.emu.stopping.is_set():
                        worker = PodWorker(self, pod)
                        self.workers[uid] = worker
                        worker.start()
                elif deleting:
                    worker.kill(int(meta.get("deletionGracePeriodSeconds", 30)))
            for uid, worker in list(self.workers.items()):
                if uid not in seen:
                    worker.kill(0)
                    if not worker.is_alive():
                        self.emu.logbook.forget(worker.namespace, worker.name, uid)
                        del self.workers[uid]

    def shutdown(self) -> None:
        """Stop every pod now and remove every container this kubelet created."""
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.kill(0)
        for w in workers:
            w.join(timeout=20)
        ids = self.podman.run("ps", "-a", "-q", "--filter", f"label={self.label}",
                              check=False, timeout=60).stdout.split()
        if ids:
            self.podman.run("rm", "-f", "-t", "0", *ids, check=False, timeout=120)


class PodWorker(threading.Thread):
    def __init__(self, kubelet: Kubelet, pod: dict):
        super().__init__(name=f"pod-{pod['metadata']['name']}", daemon=True)
        self.kubelet, self.emu = kubelet, kubelet.emu
        self.namespace, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.pod = pod
        self.killed = threading.Event()
        self.grace = 30
        self.runners: list[ContainerRunner] = []
        self.init_done = False
        self.status_lock = threading.Lock()

    # -- control --------------------------------------------------------------------------
    def kill(self, grace: int) -> None:
        if self.killed.is_set():
            return
        self.grace = grace
        self.killed.set()
        for r in list(self.runners):
            r.stop(grace)

    def event(self, event_type: str, reason: str, message: str, field_path: str = "") -> None:
        record_event(self.emu.store, self.pod, event_type, reason, message, "kubelet", field_path)

    # -- lifecycle ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception:  # a kubelet bug shows in the test output, the pod stays as it is
            traceback.print_exc()
        finally:
            if self.killed.is_set():
                self.emu.store.remove_now(POD, self.namespace, self.name, self.uid)
                self.emu.logbook.forget(self.namespace, self.name, self.uid)

    def _run(self) -> None:
        from .emulator import PORT_ANNOTATION
        spec = self.pod["spec"]
        self.port = self.pod["metadata"].get("annotations", {}).get(PORT_ANNOTATION, "")
        self.runners = [ContainerRunner(self, c, init=False) for c in spec["containers"]]
        self.sync(started=True)
        self.volumes = self._volumes()
        if self.volumes is None:
            return
        for c in spec.get("initContainers") or []:
            runner = ContainerRunner(self, c, init=True)
            self.init_runner = runner
            runner.run()
            if self.killed.is_set():
                return
            if runner.exit_code != 0:
                self.sync(init_failed=True)
                return
        self.init_done = True
        threads = [threading.Thread(target=r.run, name=f"{self.name}/{r.name}", daemon=True)
                   for r in self.runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not self.killed.is_set():
            self.sync()

    def _volumes(self):
        folder = self.emu.workdir / "pods" / self.uid
        while not self.killed.is_set():
            try:
                return prepare_volumes(self.emu.store, self.pod, folder,
                                       self.emu.workdir / "pvcs", self.emu.token)
            except MissingReference as e:
                self.event("Warning", "FailedMount", f"MountVolume.SetUp failed for volume: {e}")
                self.killed.wait(1.0)
        return None

    # -- status ---------------------------------------------------------------------------
    def sync(self, started: bool = False, init_failed: bool = False) -> None:
        """Rebuild the pod status from the runners and store it."""
        with self.status_lock:
            if self.killed.is_set() and not started:
                return
            runners = self.runners
            statuses = [r.status() for r in runners]
            if init_failed:
                phase = "Failed"
            elif runners and all(r.final for r in runners):
                phase = "Succeeded" if all(r.exit_code == 0 for r in runners) else "Failed"
            elif any(r.ever_started for r in runners):
                phase = "Running"
            else:
                phase = "Pending"
            ready = bool(runners) and all(r.ready for r in runners) and phase == "Running"
            now = now_iso()

            def update(pod: dict) -> None:
                from .controllers.ownership import set_condition
                status = pod.setdefault("status", {})
                if status.get("phase") in ("Succeeded", "Failed"):
                    return  # terminal phases never change
                status.update(phase=phase, hostIP="127.0.0.1", podIP="127.0.0.1",
                              hostIPs=[{"ip": "127.0.0.1"}], podIPs=[{"ip": "127.0.0.1"}],
                              containerStatuses=statuses)
                status.setdefault("startTime", now)
                if getattr(self, "init_runner", None) is not None:
                    status["initContainerStatuses"] = [self.init_runner.status()]
                set_condition(status, "PodReadyToStartContainers", "True")
                init_ok = self.init_done or not pod["spec"].get("initContainers")
                set_condition(status, "Initialized", "True" if init_ok else "False",
                              "" if init_ok else "ContainersNotInitialized")
                why = "" if ready else ("PodCompleted" if phase in ("Succeeded", "Failed")
                                        else "ContainersNotReady")
                set_condition(status, "ContainersReady", "True" if ready else "False", why)
                set_condition(status, "Ready", "True" if ready else "False", why)
            self.emu.store.mutate(POD, self.namespace, self.name, update)

    def wait(self, seconds: float) -> bool:
        """Sleep unless killed; returns True if killed."""
        return self.killed.wait(seconds)
