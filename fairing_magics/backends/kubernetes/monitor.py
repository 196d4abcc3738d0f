"""Following one submitted run until it ends: pods, logs, notices, status, cancel.

A :class:`RunMonitor` owns three kinds of threads for one run:

- a :class:`~.follow.PodWatcher` on the run's pods (:func:`pod_selector`). Each pod change
  becomes a ``PhaseChanged(source=replica)`` when the phase (or its detail) changed, ``Notice``
  events for the states in :func:`fairing_magics.kube.status.pod_notices` (each once), and a log
  follower for every container that has started;
- one :class:`~.follow.ContainerLogFollower` per container, feeding a shared
  :class:`~.follow.LineBatcher` that emits ``LogLines(source=replica)``;
- a :class:`ClusterTimeline` that times the ``schedule`` and ``pull`` stages from the pods;
- the status loop: reads the job object every ``poll_seconds``, reports the run's phase, fails
  the run when an image cannot be pulled for ``image_pull_grace`` seconds (deleting the job, so
  nothing is left behind), notices a job deleted behind our back, and on a final condition
  waits for the log followers to drain, then calls ``on_done``.

``cancel()`` deletes the job with ``propagationPolicy=Foreground`` (its pods go first) and ends
the run as Cancelled once the job is gone.

``deadline`` (seconds from the start): for a job whose API cannot carry ``--timeout`` (a TrainJob
on Kubeflow Trainer v2.0/v2.1, which have no ``activeDeadlineSeconds``) the status loop deletes
the job when the time is up and ends the run as failed with reason ``DeadlineExceeded``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.follow import ContainerLogFollower, LineBatcher, PodWatcher
from fairing_magics.backends.kubernetes.jobs import delete_run_object
from fairing_magics.kube import status as st
from fairing_magics.kube.api_resources import TRAINJOB, ApiResource
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.labels import run_selector, trainjob_pod_selector
from fairing_magics.run import Run

IMAGE_PULL_GRACE_SECONDS = 45.0
POLL_SECONDS = 0.5
DRAIN_SECONDS = 15.0
CANCEL_WAIT_SECONDS = 60.0


def pod_selector(resource: ApiResource, name: str) -> str:
    """The pods of run ``name``: by our run label, or for a TrainJob by JobSet's label (the
    Trainer makes the pods, and older Trainers do not pass our labels on)."""
    if resource == TRAINJOB:
        return trainjob_pod_selector(name)
    return run_selector(name)


def pod_step(pod: dict) -> str:
    """Where a pod is on the run's timeline: ``schedule`` (no node yet), ``pull`` (on a node,
    its image being pulled and its containers created) or ``run`` (a container started)."""
    if any(st.container_started(pod, c) for c in st.container_names(pod)) or \
            st.pod_phase(pod) in ("Running", "Succeeded", "Failed"):
        return "run"
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    scheduled = spec.get("nodeName") or any(
        c.get("type") == "PodScheduled" and c.get("status") == "True"
        for c in status.get("conditions") or [])
    return "pull" if scheduled else "schedule"


class ClusterTimeline:
    """The ``schedule`` and ``pull`` stages of a run, from its pods as the watch sees them: each
    is done when every pod known has passed it (timed on this side, so no clock skew)."""

    STEPS = ("schedule", "pull", "run")

    def __init__(self, emit: Callable[[object], None]):
        self._emit = emit
        self._started = time.perf_counter()
        self._steps: dict[str, str] = {}
        self._state = {"schedule": "", "pull": ""}
        self._lock = threading.Lock()

    def pod(self, pod: dict) -> None:
        with self._lock:
            self._steps[pod["metadata"]["name"]] = pod_step(pod)
            slowest = min(self.STEPS.index(step) for step in self._steps.values())
            events = []
            for index, stage in enumerate(("schedule", "pull")):
                if slowest > index and self._state[stage] != "done":
                    if not self._state[stage]:
                        events.append(ev.StageChanged(stage, "running"))
                    self._state[stage] = "done"
                    events.append(ev.StageChanged(stage, "done",
                                                  time.perf_counter() - self._started))
                    self._started = time.perf_counter()
                elif slowest == index and not self._state[stage]:
                    self._state[stage] = "running"
                    events.append(ev.StageChanged(stage, "running"))
        for event in events:
            self._emit(event)

    def end(self) -> None:
        """The run ended: a stage still running never finished."""
        with self._lock:
            running = [s for s, state in self._state.items() if state == "running"]
            for stage in running:
                self._state[stage] = "failed"
        for stage in running:
            self._emit(ev.StageChanged(stage, "failed", time.perf_counter() - self._started))


class RunMonitor:
    """Follows run ``name`` (a ``resource`` object in ``namespace``) into ``run``."""

    def __init__(self, access, namespace: str, resource: ApiResource, name: str, run: Run, *,
                 on_done: Callable[[str, st.JobStatus | None, list[dict], str], None],
                 image_pull_grace: float = IMAGE_PULL_GRACE_SECONDS,
                 poll_seconds: float = POLL_SECONDS, deadline: float | None = None):
        self.access, self.namespace, self.resource, self.name, self.run = (
            access, namespace, resource, name, run)
        self.client = ClusterClient(access)
        self.on_done = on_done
        self.image_pull_grace = image_pull_grace
        self.poll_seconds = poll_seconds
        self.stop = threading.Event()  # ends the log followers and the pod watcher
        self.cancelled = threading.Event()
        self.batcher = LineBatcher(run.emit, name=f"fairing-logs-{name}")
        self.watcher = PodWatcher(self.client, namespace, pod_selector(resource, name),
                                  on_pod=self._on_pod,
                                  on_pod_deleted=self._on_pod_deleted, stop=self.stop)
        self.followers: dict[tuple[str, str, str],
                             tuple[ContainerLogFollower, threading.Thread]] = {}
        self._seen_notices: set[tuple] = set()
        self._pod_phases: dict[str, tuple[str, str]] = {}
        self._pull_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._phase = ""
        self._run_stage_started = False
        self.timeline = ClusterTimeline(run.emit)
        self.started = time.monotonic()
        self.deadline = None if deadline is None else self.started + deadline

    # -- control --------------------------------------------------------------------------
    def start(self) -> None:
        threading.Thread(target=self.watcher.run, name=f"fairing-pods-{self.name}",
                         daemon=True).start()
        threading.Thread(target=self._status_loop, name=f"fairing-status-{self.name}",
                         daemon=True).start()

    def cancel(self) -> None:
        """Delete the job (foreground: pods first); the status loop ends the run."""
        self.cancelled.set()
        delete_run_object(self.access, self.namespace, self.resource, self.name)

    # -- pods -----------------------------------------------------------------------------
    def _on_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        source = st.replica_name(pod)
        phase, detail = st.pod_phase(pod), st.pod_detail(pod)
        with self._lock:
            changed = self._pod_phases.get(meta["name"]) != (phase, detail)
            self._pod_phases[meta["name"]] = (phase, detail)
            notices = [n for n in st.pod_notices(pod) if n.key not in self._seen_notices]
            self._seen_notices.update(n.key for n in notices)
            if st.pull_error(pod):
                self._pull_since.setdefault(meta["name"], time.monotonic())
            else:
                self._pull_since.pop(meta["name"], None)
        self.timeline.pod(pod)
        if changed:
            self.run.emit(ev.PhaseChanged(phase, detail, source=source))
        for n in notices:
            self.run.emit(ev.Notice(n.text, n.level, source=n.source))
        for container in st.container_names(pod):
            if st.container_started(pod, container):
                self._follow(pod, container)

    def _on_pod_deleted(self, pod: dict) -> None:
        with self._lock:
            self._pull_since.pop(pod["metadata"]["name"], None)

    def _follow(self, pod: dict, container: str) -> None:
        meta = pod["metadata"]
        key = (meta["name"], meta.get("uid", ""), container)
        with self._lock:
            if key in self.followers or self.stop.is_set():
                return
            if not self._run_stage_started:
                self._run_stage_started = True
                self.run.emit(ev.StageChanged("run", "running"))
            source = st.log_source(pod, container)
            pod_name = meta["name"]
            follower = ContainerLogFollower(
                self.client, self.namespace, pod_name, container,
                lambda lines: self.batcher.add(source, lines),
                pod_state=lambda: self.watcher.get(pod_name), stop=self.stop,
                notice=lambda text, level: self.run.emit(ev.Notice(text, level, source=source)),
                on_live=lambda rows, markers: self.batcher.live(source, rows, markers))
            thread = threading.Thread(target=follower.run,
                                      name=f"fairing-log-{pod_name}-{container}", daemon=True)
            self.followers[key] = (follower, thread)
        thread.start()

    # -- the job --------------------------------------------------------------------------
    def _get_job(self) -> dict | None:
        return self.client.get(self.resource, self.name, namespace=self.namespace,
                               missing_ok=True)

    def _status_loop(self) -> None:
        try:
            self._watch_status()
        except Exception as e:  # noqa: BLE001 - the run must end, whatever broke
            self._end(ev.FAILED, None, f"lost track of the job: {type(e).__name__}: {e}")

    def _watch_status(self) -> None:
        failures = 0
        cancel_deadline = None
        while True:
            try:
                job = self._get_job()
                failures = 0
            except Exception:  # noqa: BLE001 - retried by the client already; keep trying a while
                failures += 1
                if failures >= 20:
                    raise
                time.sleep(min(5.0, self.poll_seconds * failures))
                continue
            if self.cancelled.is_set():
                cancel_deadline = cancel_deadline or time.monotonic() + CANCEL_WAIT_SECONDS
                if job is None or time.monotonic() > cancel_deadline:
                    self._end(ev.CANCELLED, None, "")
                    return
            elif job is None:
                self._end(ev.CANCELLED, None, f"its {self.resource.kind} was deleted outside "
                                              "this notebook (%fairing_cancel in another kernel, "
                                              "kubectl delete)")
                return
            else:
                status = st.job_status(job)
                if status.phase == ev.RUNNING and self._phase != ev.RUNNING:
                    self._phase = ev.RUNNING
                    self.run.emit(ev.PhaseChanged(ev.RUNNING, f"{self.resource.kind} {self.name}"))
                if status.done:
                    self._drain()
                    self._end(status.phase, status, "")
                    return
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self.cancelled.set()  # we delete it ourselves: do not report "deleted outside"
                    self._delete_quietly()
                    why = (f"this kernel deleted the {self.resource.kind} at its deadline (the "
                           f"{self.resource.kind} API of this cluster has no "
                           "activeDeadlineSeconds)")
                    self._end(ev.FAILED, st.JobStatus(ev.FAILED, "DeadlineExceeded", why), why)
                    return
                stuck = self._stuck_pull()
                if stuck:
                    self.cancelled.set()  # we delete it ourselves: do not report "deleted outside"
                    self._delete_quietly()
                    self._end(ev.FAILED, st.JobStatus(ev.FAILED, "ErrImagePull", stuck), stuck)
                    return
            time.sleep(self.poll_seconds)

    def _stuck_pull(self) -> str:
        now = time.monotonic()
        with self._lock:
            stuck = [(name, since) for name, since in self._pull_since.items()
                     if now - since >= self.image_pull_grace]
        if not stuck:
            return ""
        pod = self.watcher.get(stuck[0][0]) or {}
        reason, message = st.pull_error(pod) or ("ErrImagePull", "")
        image = next((c.get("image") for c in (pod.get("spec") or {}).get("containers", [])), "")
        return (f"{st.replica_name(pod) if pod else stuck[0][0]} could not pull its image {image} "
                f"for {now - stuck[0][1]:.0f} s ({reason}: {message}); the "
                f"{self.resource.kind} was deleted. Check that the image exists, that the "
                "cluster's nodes can reach the registry, and the pull secret (--image-pull-secret)")

    def _delete_quietly(self) -> None:
        try:
            delete_run_object(self.access, self.namespace, self.resource, self.name)
        except Exception as e:  # noqa: BLE001 - say so, but the run still ends
            self.run.emit(ev.Notice(f"could not delete {self.resource.kind} {self.name}: {e}",
                                    "warning"))

    def _drain(self) -> None:
        """Let every log follower reach the end of its container's log (bounded)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        self.watcher.synced.wait(5)
        while time.monotonic() < deadline:
            # a pod that finished between two watch events may not have a follower yet
            for pod in self.watcher.snapshot():
                for container in st.container_names(pod):
                    if st.container_started(pod, container):
                        self._follow(pod, container)
            with self._lock:
                threads = [t for _, t in self.followers.values()]
            if all(not t.is_alive() for t in threads) and self._all_pods_final():
                return
            time.sleep(0.05)

    def _all_pods_final(self) -> bool:
        return all(st.pod_phase(p) in ("Succeeded", "Failed") for p in self.watcher.snapshot())

    def _end(self, phase: str, status: st.JobStatus | None, problem: str) -> None:
        self.watcher.close()  # sets self.stop too: followers end
        with self._lock:
            threads = [t for _, t in self.followers.values()]
        for t in threads:
            t.join(2)
        self.batcher.close()
        self.timeline.end()
        self.on_done(phase, status, self.watcher.snapshot(), problem)

    @property
    def reconnects(self) -> int:
        return sum(f.reconnects for f, _ in self.followers.values())
