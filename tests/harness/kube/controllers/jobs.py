"""batch/v1 Job controller: pods ``<job>-xxxxx``, retries up to backoffLimit, deadlines,
conditions Complete/Failed with the real reasons, ttlSecondsAfterFinished."""

from __future__ import annotations

import time

from ..events import record_event
from ..resources import find_type
from ..store import now_iso
from .ownership import (
    POD,
    condition_true,
    delete_pod,
    is_deleting,
    is_ready,
    owned_pods,
    phase,
    pod_from_template,
    restarts,
    seconds_since,
    set_condition,
)

JOB = find_type("batch", "v1", "jobs")


def finished_at(obj: dict) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] in ("Complete", "Failed", "Succeeded") and c["status"] == "True":
            return c.get("lastTransitionTime")
    return None


def expire_finished(emu, t, obj: dict, ttl: int | None) -> None:
    """ttlSecondsAfterFinished: delete a finished object (and its pods) once the TTL passed."""
    done = finished_at(obj)
    if ttl is None or done is None or is_deleting(obj):
        return
    if seconds_since(done) >= ttl:
        try:
            emu.store.delete(t, obj["metadata"]["namespace"], obj["metadata"]["name"], "Background")
        except Exception:
            pass


class JobController:
    def __init__(self, emu):
        self.emu = emu
        self.next_create: dict[str, float] = {}
        self.failed_seen: dict[str, int] = {}

    def reconcile(self) -> None:
        for job in self.emu.store.list(JOB)[0]:
            if is_deleting(job):
                continue
            if condition_true(job, "Complete") or condition_true(job, "Failed"):
                expire_finished(self.emu, JOB, job, job["spec"].get("ttlSecondsAfterFinished"))
                continue
            self._sync(job)

    def _sync(self, job: dict) -> None:
        store, spec, meta = self.emu.store, job["spec"], job["metadata"]
        pods = owned_pods(self.emu, job)
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed") and not is_deleting(p)]
        succeeded = sum(phase(p) == "Succeeded" for p in pods)
        failed = sum(phase(p) == "Failed" for p in pods)
        retries = failed
        if spec["template"]["spec"].get("restartPolicy") == "OnFailure":
            retries += sum(restarts(p) for p in pods)
        verdict = None
        deadline = spec.get("activeDeadlineSeconds")
        start = (job.get("status") or {}).get("startTime")
        if spec.get("suspend"):
            return
        if retries > spec.get("backoffLimit", 6):
            verdict = ("Failed", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit")
        elif deadline is not None and start and seconds_since(start) >= deadline:
            verdict = ("Failed", "DeadlineExceeded",
                       "Job was active longer than specified deadline")
        elif succeeded >= spec.get("completions", 1):
            verdict = ("Complete", "", "")
        if verdict is None:
            self._create_pods(job, len(active), succeeded, failed)
        else:
            for p in active:
                delete_pod(self.emu, p)
                record_event(store, job, "Normal", "SuccessfulDelete",
                             f"Deleted pod: {p['metadata']['name']}", "job-controller")
            active = []
        now = now_iso()

        def update(j: dict) -> None:
            status = j.setdefault("status", {})
            status.setdefault("startTime", now)
            status["active"] = len(active)
            status["ready"] = sum(is_ready(p) for p in active)
            status["succeeded"], status["failed"] = succeeded, failed
            status["terminating"] = sum(is_deleting(p) for p in pods)
            status["uncountedTerminatedPods"] = {}
            if verdict:
                kind, reason, message = verdict
                if kind == "Complete":
                    set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods")
                    set_condition(status, "Complete", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods")
                    status["completionTime"] = now
                else:
                    set_condition(status, "FailureTarget", "True", reason, message)
                    set_condition(status, "Failed", "True", reason, message)
            for key in ("active", "succeeded", "failed", "ready", "terminating"):
                if not status.get(key):
                    status.pop(key, None)
        store.mutate(JOB, meta["namespace"], meta["name"], update)
        if verdict:
            kind, reason, message = verdict
            if kind == "Complete":
                record_event(store, job, "Normal", "Completed", "Job completed", "job-controller")
            else:
                record_event(store, job, "Warning", reason, message, "job-controller")

    def _create_pods(self, job: dict, active: int, succeeded: int, failed: int) -> None:
        spec, meta = job["spec"], job["metadata"]
        wanted = min(spec.get("parallelism", 1), spec.get("completions", 1) - succeeded) - active
        if wanted <= 0:
            return
        uid = meta["uid"]
        if failed > self.failed_seen.get(uid, 0):  # exponential back-off (shortened for tests)
            self.failed_seen[uid] = failed
            delay = min(self.emu.restart_backoff * 2 ** (failed - 1), 10.0)
            self.next_create[uid] = time.monotonic() + delay
        if time.monotonic() < self.next_create.get(uid, 0):
            return
        for _ in range(wanted):
            pod = pod_from_template(spec["template"], job, generate_name=meta["name"] + "-")
            created = self.emu.store.create(POD, meta["namespace"], pod)
            record_event(self.emu.store, job, "Normal", "SuccessfulCreate",
                         f"Created pod: {created['metadata']['name']}", "job-controller")
