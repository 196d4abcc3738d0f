"""batch/v1 CronJob: defaults and validation as the API server does them, and the controller
(``pkg/controller/cronjob``'s behaviour, in the parts a test can see).

The controller makes a Job from ``spec.jobTemplate`` at each scheduled time: named
``<cronjob>-<scheduled time in minutes since the epoch>``, owned by the CronJob (controller
reference), annotated ``batch.kubernetes.io/cronjob-scheduled-timestamp``; it keeps
``status.active``, ``lastScheduleTime`` and ``lastSuccessfulTime``; ``concurrencyPolicy`` Forbid
skips a time while a Job is active (Replace deletes it, Allow runs both); a time missed by more
than ``startingDeadlineSeconds`` is skipped; ``suspend`` stops new Jobs; finished Jobs beyond
``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` are deleted, oldest first.

Time is the emulator's clock (:meth:`KubeEmulator.now`), which a test moves forward with
``advance_clock(seconds)`` instead of waiting for the wall clock to reach a scheduled minute.
Schedules are read with croniter; what the API server refuses (robfig/cron's standard parser:
five fields or a descriptor; no ``TZ=``) is a 422.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import time

from ..events import record_event
from ..resources import find_type
from .jobs import JOB
from .ownership import condition_true, is_deleting, owner_reference

CRONJOB = find_type("batch", "v1", "cronjobs")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_EVERY = re.compile(r"^@every\s+(\d+)(s|m|h)$")


def default_cronjob(spec: dict, default_pod_spec) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    job_spec.setdefault("backoffLimit", 6)
    job_spec.setdefault("completions", 1)
    job_spec.setdefault("parallelism", 1)
    default_pod_spec(job_spec.setdefault("template", {}).setdefault("spec", {}), restart="")


def _expression(schedule: str) -> str | None:
    """The five-field expression of ``schedule``, or None when the API server refuses it."""
    from croniter import croniter

    text = " ".join(schedule.split())
    if text.lower() in _DESCRIPTORS:
        return _DESCRIPTORS[text.lower()]
    if text.startswith("@") or text.upper().startswith(("TZ=", "CRON_TZ=")):
        return None
    if len(text.split(" ")) != 5 or re.search(r"[LW#]", text):
        return None
    return text if croniter.is_valid(text.replace("?", "*")) else None


def cronjob_causes(spec: dict, pod_causes, label_causes) -> list[tuple[str, str]]:
    causes = []
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(("spec.schedule", "Required value"))
    elif _expression(schedule) is None and not _EVERY.match(schedule.strip()):
        causes.append(("spec.schedule", f'Invalid value: "{schedule}": unparseable schedule'))
    policy = spec.get("concurrencyPolicy")
    if policy not in ("Allow", "Forbid", "Replace"):
        causes.append(("spec.concurrencyPolicy", f'Unsupported value: "{policy}": supported '
                       'values: "Allow", "Forbid", "Replace"'))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.append((f"spec.{key}", f"Invalid value: {value}: must be greater than or "
                           "equal to 0"))
    template = (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
    causes += label_causes("spec.jobTemplate.spec.template.labels",
                           (template.get("metadata") or {}).get("labels"))
    causes += pod_causes("spec.jobTemplate.spec.template.spec", template.get("spec") or {})
    return causes


def _epoch(iso: str | None) -> float | None:
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) if iso else None


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _times_between(schedule: str, start: float, end: float) -> list[float]:
    """The scheduled times in ``(start, end]`` (at most the last 100, as the controller counts)."""
    every = _EVERY.match(schedule.strip())
    if every:
        step = int(every.group(1)) * {"s": 1, "m": 60, "h": 3600}[every.group(2)]
        first = start + step
        return [first + i * step for i in range(int((end - first) // step) + 1)][-100:] \
            if end >= first else []
    from croniter import croniter

    expression = _expression(schedule) or "* * * * *"
    it = croniter(expression.replace("?", "*"), dt.datetime.fromtimestamp(start, dt.timezone.utc))
    found = []
    while True:
        moment = it.get_next(float)
        if moment > end:
            return found[-100:]
        found.append(moment)
        if len(found) > 10000:
            return found[-100:]


class CronJobController:
    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        for cronjob in self.emu.store.list(CRONJOB)[0]:
            if not is_deleting(cronjob):
                self._sync(cronjob)

    def _jobs(self, cronjob: dict) -> list[dict]:
        uid = cronjob["metadata"]["uid"]
        jobs, _ = self.emu.store.list(JOB, cronjob["metadata"]["namespace"])
        return [j for j in jobs if any(r.get("uid") == uid and r.get("controller")
                                       for r in j["metadata"].get("ownerReferences") or [])]

    def _sync(self, cronjob: dict) -> None:
        store, spec, meta = self.emu.store, cronjob["spec"], cronjob["metadata"]
        now = self.emu.now()
        jobs = self._jobs(cronjob)
        finished = {j["metadata"]["name"]: ("Complete" if condition_true(j, "Complete") else "Failed")
                    for j in jobs if condition_true(j, "Complete") or condition_true(j, "Failed")}
        active = [j for j in jobs if j["metadata"]["name"] not in finished and not is_deleting(j)]
        status = cronjob.get("status") or {}
        last = _epoch(status.get("lastScheduleTime")) or _epoch(meta.get("creationTimestamp"))
        successes = [j for j in jobs if finished.get(j["metadata"]["name"]) == "Complete"]
        last_success = max((_epoch((j.get("status") or {}).get("completionTime")) or 0
                            for j in successes), default=None)
        created = None
        times = [] if spec.get("suspend") else _times_between(spec["schedule"], last, now)
        if times:
            due = times[-1]
            deadline = spec.get("startingDeadlineSeconds")
            if deadline is not None and now - due > deadline:
                record_event(store, cronjob, "Warning", "MissSchedule",
                             f"Missed scheduled time to start a job: {_iso(due)}",
                             "cronjob-controller")
                created = ("missed", due)
            elif active and spec.get("concurrencyPolicy") == "Forbid":
                record_event(store, cronjob, "Normal", "JobAlreadyActive",
                             "Not starting job because prior execution is running and "
                             "concurrency policy is Forbid", "cronjob-controller")
                created = ("skipped", due)
            else:
                if active and spec.get("concurrencyPolicy") == "Replace":
                    for job in active:
                        store.delete(JOB, meta["namespace"], job["metadata"]["name"], "Background")
                    active = []
                job = self._create_job(cronjob, due)
                active.append(job)
                created = ("created", due)
        self._prune(cronjob, jobs, finished)

        def update(obj: dict) -> None:
            st = obj.setdefault("status", {})
            st["active"] = [{"kind": "Job", "apiVersion": "batch/v1", "namespace": meta["namespace"],
                             "name": j["metadata"]["name"], "uid": j["metadata"]["uid"]}
                            for j in active]
            if not st["active"]:
                st.pop("active")
            if created is not None and created[0] in ("created", "missed"):
                st["lastScheduleTime"] = _iso(created[1])  # a skipped (Forbid) time is retried
            if last_success:
                st["lastSuccessfulTime"] = _iso(last_success)
        before = json.dumps(cronjob.get("status") or {}, sort_keys=True)
        after = {"status": json.loads(before)}
        update(after)
        if json.dumps(after["status"], sort_keys=True) != before:
            store.mutate(CRONJOB, meta["namespace"], meta["name"], update)

    def _create_job(self, cronjob: dict, due: float) -> dict:
        template = json.loads(json.dumps(cronjob["spec"]["jobTemplate"]))
        meta = cronjob["metadata"]
        job_meta = dict(template.get("metadata") or {})
        job_meta["name"] = f"{meta['name']}-{int(due // 60)}"
        job_meta["annotations"] = {**(job_meta.get("annotations") or {}),
                                   SCHEDULED_ANNOTATION: _iso(due)}
        job_meta["ownerReferences"] = [owner_reference(cronjob)]
        job = self.emu.store.create(JOB, meta["namespace"], {"metadata": job_meta,
                                                             "spec": template.get("spec") or {}})
        record_event(self.emu.store, cronjob, "Normal", "SuccessfulCreate",
                     f"Created job {job_meta['name']}", "cronjob-controller")
        return job

    def _prune(self, cronjob: dict, jobs: list[dict], finished: dict[str, str]) -> None:
        spec, ns = cronjob["spec"], cronjob["metadata"]["namespace"]
        for outcome, limit in (("Complete", spec.get("successfulJobsHistoryLimit")),
                               ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished.get(j["metadata"]["name"]) == outcome
                           and not is_deleting(j)),
                          key=lambda j: j["metadata"].get("creationTimestamp") or "")
            for job in done[:max(0, len(done) - limit)]:
                try:
                    self.emu.store.delete(JOB, ns, job["metadata"]["name"], "Background")
                except Exception:  # already gone
                    pass
                record_event(self.emu.store, cronjob, "Normal", "SuccessfulDelete",
                             f"Deleted job {job['metadata']['name']}", "cronjob-controller")
