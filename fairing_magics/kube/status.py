"""What a run's objects say about it: the job's final status, each pod's phase, and the pod
states worth telling the user about. Pure functions of the API objects (plain dicts, as
:class:`~.client.ClusterClient` returns them).

- :func:`job_status`: ``Pending``/``Running``/``Succeeded``/``Failed`` from the conditions of a
  ``batch/v1`` Job (``Complete``/``Failed``; ``SuccessCriteriaMet``/``FailureTarget`` only mean
  the pods are still terminating) or a Kubeflow TFJob/PyTorchJob (``Succeeded``/``Failed``,
  ``Running``/``Restarting``), or a Kubeflow Trainer TrainJob (``Complete``/``Failed``; it has
  no Running condition, so Running is ``Created`` with an active child Job in ``jobsStatus``).
- :func:`replica_name`: ``worker-0``, ``chief-0``, ``master-0`` for the training operator's
  pods (its ``training.kubeflow.org/replica-type`` and ``-index`` labels), ``node-1`` for a
  TrainJob's pods (JobSet's ``jobset.sigs.k8s.io/replicatedjob-name`` and the Job's completion
  index, which is the node rank), the pod name for a Job's pod. It is the ``source`` of the
  pod's log lines and phase events.
- :func:`pod_notices`: the states that explain a stuck or failed pod, as the panel shows them:
  Unschedulable, ErrImagePull/ImagePullBackOff, CrashLoopBackOff, OOMKilled, Evicted, and the
  config errors (a missing Secret or ConfigMap). Each has a key, so a caller shows it once.
- :func:`exit_codes`: ``worker-0 exited with code 1 (Error)`` for every terminated container.
"""

from __future__ import annotations

from dataclasses import dataclass

from fairing_magics import events as ev
from fairing_magics.kube.labels import (
    LABEL_COMPLETION_INDEX,
    LABEL_JOB_INDEX,
    LABEL_REPLICATED_JOB,
    REPLICA_INDEX_LABELS,
    REPLICA_TYPE_LABELS,
)

#: Waiting reasons that mean the image cannot be pulled (may persist; see the backend).
PULL_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
               "RegistryUnavailable")
#: Waiting reasons worth a notice besides the pull errors.
WAITING_PROBLEMS = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
                    "RunContainerError") + PULL_ERRORS


@dataclass(frozen=True)
class JobStatus:
    """The status of a run's job object: one of the run phases, and why."""

    phase: str
    reason: str = ""
    message: str = ""

    @property
    def done(self) -> bool:
        return self.phase in (ev.SUCCEEDED, ev.FAILED)


@dataclass(frozen=True)
class PodNotice:
    """Something about a pod the user should see; ``key`` identifies it for de-duplication."""

    key: tuple
    level: str
    text: str
    source: str


def conditions_true(obj: dict) -> dict[str, dict]:
    """The object's conditions whose status is ``True``, by type."""
    status = obj.get("status") or {}
    return {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}


def job_status(obj: dict) -> JobStatus:
    """The phase of a Job, TFJob or PyTorchJob from its conditions (see the module docstring)."""
    true = conditions_true(obj)
    kind = obj.get("kind", "Job")
    if kind == "TrainJob":
        return _trainjob_status(obj, true)
    if kind == "Job":
        if "Failed" in true:
            c = true["Failed"]
            return JobStatus(ev.FAILED, c.get("reason") or "Failed", c.get("message") or "")
        if "Complete" in true:
            return JobStatus(ev.SUCCEEDED, true["Complete"].get("reason") or "Complete")
        active = int((obj.get("status") or {}).get("active") or 0)
        ready = int((obj.get("status") or {}).get("ready") or 0)
        if active and (ready or (obj.get("status") or {}).get("startTime")):
            return JobStatus(ev.RUNNING)
        return JobStatus(ev.PENDING)
    final = [c for t, c in true.items() if t in ("Succeeded", "Failed")]
    if final:
        last = max(final, key=lambda c: c.get("lastTransitionTime") or "")
        phase = ev.SUCCEEDED if last.get("type") == "Succeeded" else ev.FAILED
        return JobStatus(phase, last.get("reason") or last.get("type"), last.get("message") or "")
    if "Running" in true or "Restarting" in true:
        return JobStatus(ev.RUNNING)
    return JobStatus(ev.PENDING)


def _trainjob_status(obj: dict, true: dict[str, dict]) -> JobStatus:
    # Complete/Failed are the JobSet's final conditions, copied by the Trainer controller.
    for ctype, phase in (("Failed", ev.FAILED), ("Complete", ev.SUCCEEDED)):
        if ctype in true:
            c = true[ctype]
            return JobStatus(phase, c.get("reason") or ctype, c.get("message") or "")
    jobs = (obj.get("status") or {}).get("jobsStatus") or []
    if "Created" in true and "Suspended" not in true \
            and any(int(j.get("active") or 0) or int(j.get("succeeded") or 0) for j in jobs):
        return JobStatus(ev.RUNNING)
    return JobStatus(ev.PENDING)


def replica_name(pod: dict) -> str:
    """``worker-0`` for a training-operator pod, ``node-0`` for a TrainJob's, else its name."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    rjob = labels.get(LABEL_REPLICATED_JOB)
    if rjob:
        job_index = labels.get(LABEL_JOB_INDEX) or "0"
        index = labels.get(LABEL_COMPLETION_INDEX) or \
            (meta.get("annotations") or {}).get(LABEL_COMPLETION_INDEX)
        if index is None:
            return meta.get("name", "pod")
        return f"{rjob}-{index}" if job_index == "0" else f"{rjob}-{job_index}-{index}"
    rtype = next((labels[k] for k in REPLICA_TYPE_LABELS if labels.get(k)), "")
    index = next((labels[k] for k in REPLICA_INDEX_LABELS if labels.get(k)), "")
    if rtype and index != "":
        return f"{rtype.lower()}-{index}"
    return meta.get("name", "pod")


def container_names(pod: dict) -> list[str]:
    """The pod's (main) containers, in spec order."""
    return [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]


def log_source(pod: dict, container: str) -> str:
    """The ``source`` of a container's lines: the replica, and the container when it has
    several."""
    name = replica_name(pod)
    return name if len(container_names(pod)) <= 1 else f"{name}/{container}"


def container_statuses(pod: dict) -> list[dict]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def container_state(pod: dict, container: str) -> dict:
    """``{"running": ...}``, ``{"terminated": ...}`` or ``{"waiting": ...}`` ({} if unknown)."""
    for status in container_statuses(pod):
        if status.get("name") == container:
            return {k: v for k, v in (status.get("state") or {}).items() if v}
    return {}


def container_started(pod: dict, container: str) -> bool:
    """True once the container has run (its log exists): running or terminated after a start."""
    state = container_state(pod, container)
    if "running" in state:
        return True
    terminated = state.get("terminated") or {}
    return bool(terminated.get("startedAt"))


def container_finished(pod: dict, container: str) -> bool:
    """True when the container has terminated for good (or the pod has a final phase)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed") or "terminated" in container_state(pod, container)


def pod_phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def pod_detail(pod: dict) -> str:
    """A few words on a pod's state: the waiting reason, the exit code, the node."""
    for status in container_statuses(pod):
        state = {k: v for k, v in (status.get("state") or {}).items() if v}
        if "waiting" in state and state["waiting"].get("reason"):
            return state["waiting"]["reason"]
        if "terminated" in state:
            t = state["terminated"]
            return f"exit code {t.get('exitCode')} ({t.get('reason') or 'terminated'})"
    return (pod.get("status") or {}).get("reason") or ""


def pull_error(pod: dict) -> tuple[str, str] | None:
    """``(reason, message)`` when a container of the pod is waiting on an image pull error."""
    for status in container_statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in PULL_ERRORS:
            return waiting["reason"], waiting.get("message") or ""
    return None


def pod_notices(pod: dict) -> list[PodNotice]:
    """The notices a pod's current state calls for (see the module docstring)."""
    source = replica_name(pod)
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    notices: list[PodNotice] = []
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" \
                and c.get("reason") == "Unschedulable":
            notices.append(PodNotice(
                (name, "Unschedulable"), "warning",
                f"pod {name} cannot be scheduled yet: {c.get('message') or 'no node fits'} "
                "(lower --cpu/--memory/--gpus, or wait for the cluster to add a node)", source))
    if status.get("reason") == "Evicted":
        evicted = f"pod {name} was evicted: {status.get('message') or ''}".rstrip(": ")
        notices.append(PodNotice((name, "Evicted"), "error", evicted, source))
    for cs in container_statuses(pod):
        cname = cs.get("name", "")
        for which in ("state", "lastState"):
            state = cs.get(which) or {}
            waiting = state.get("waiting") or {}
            reason = waiting.get("reason") or ""
            if which == "state" and reason in WAITING_PROBLEMS:
                fatal = reason in PULL_ERRORS or reason.startswith("Create")
                level = "error" if fatal else "warning"
                text = f"{reason}: {waiting.get('message') or ''}".rstrip(": ")
                if reason in PULL_ERRORS:
                    text += (" (check the image reference, that the cluster can reach the "
                             "registry, and its pull secret: --image-pull-secret)")
                notices.append(PodNotice((name, cname, reason), level, f"{name}: {text}", source))
            terminated = state.get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                notices.append(PodNotice(
                    (name, cname, "OOMKilled"), "error",
                    f"{name}: container {cname} was OOMKilled (exit code "
                    f"{terminated.get('exitCode', 137)}): it used more memory than its limit; "
                    "raise --memory or use less", source))
    return notices


def exit_codes(pods: list[dict]) -> list[str]:
    """``worker-0 exited with code 1 (Error)`` for each terminated container, by replica name."""
    lines = []
    for pod in sorted(pods, key=replica_name):
        for cs in container_statuses(pod):
            t = (cs.get("state") or {}).get("terminated") or {}
            if t:
                lines.append(f"{log_source(pod, cs.get('name', ''))} exited with code "
                             f"{t.get('exitCode')} ({t.get('reason') or 'terminated'})")
    return lines


def failed_exit_codes(pods: list[dict]) -> list[str]:
    """Like :func:`exit_codes`, only the non-zero ones."""
    return [line for line in exit_codes(pods) if " with code 0 " not in line]
