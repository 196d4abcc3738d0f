"""Scheduled notebook jobs on a cluster: the CronJob, and finding, listing and removing them.

:func:`schedule_spec` is the object ``%fairing_notebook --schedule CRON`` creates: the Job a run
would be (:func:`.plan.training_spec`: image by digest, env, resources, labels, Istio off), made
a CronJob by :func:`fairing_magics.kube.cronjob.render_cronjob`. Each Job the CronJob controller
makes has a name of its own (``<cronjob>-<minutes since the epoch>``), and every run must keep
its executed notebook apart in storage, so two things differ from a one-off run:

- ``FAIRING_RUN_NAME`` comes from the pod's ``job-name`` label (the downward API), not a value:
  the runtime writes and uploads to ``<storage>/runs/<that Job's name>/``;
- with a local storage folder the ``hostPath`` is ``<storage>/runs`` and the output mount takes
  ``subPathExpr: $(FAIRING_RUN_NAME)``: each run writes into its own folder.

Every object carries ``app.kubernetes.io/managed-by: fairing-magics``, so ``%fairing_jobs``
lists schedules with :func:`list_schedules` and ``%fairing_cancel NAME`` deletes one with
:func:`delete_schedule` (foreground: its Jobs and pods go first).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from fairing_magics.backends.kubernetes.plan import (
    OUTPUT_VOLUME,
    pod_templates,
    storage_kind,
    training_spec,
)
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import CRONJOB
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.cronjob import render_cronjob
from fairing_magics.kube.labels import LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY, MANAGED_SELECTOR
from fairing_magics.storage import storage_for

#: The label the Job controller puts on every pod of a Job (all Kubernetes versions).
JOB_NAME_LABEL = "job-name"
RUN_NAME_ENV = "FAIRING_RUN_NAME"


def schedule_spec(options, settings, *, name: str, image: str, schedule: str,
                  capture_digest: str = "", namespace: str = "") -> dict:
    """The CronJob of a scheduled notebook (see the module docstring). Pure."""
    job = training_spec(options, settings, name=name, image=image,
                        capture_digest=capture_digest, namespace=namespace)
    job = copy.deepcopy(job)
    for template in pod_templates(job):
        pod = template["spec"]
        for container in pod["containers"]:
            for item in container.get("env", []):
                if item["name"] == RUN_NAME_ENV:
                    item.pop("value", None)
                    item["valueFrom"] = {"fieldRef": {
                        "fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}}
            for mount in container.get("volumeMounts", []):
                if mount["name"] == OUTPUT_VOLUME:
                    mount["subPathExpr"] = f"$({RUN_NAME_ENV})"
        if storage_kind(settings.storage) == "folder":
            runs = str(storage_for(settings.storage).run_dir(name).parent)
            for volume in pod.get("volumes", []):
                if volume["name"] == OUTPUT_VOLUME:
                    volume["hostPath"]["path"] = runs
    return render_cronjob(job, schedule)


@dataclass(frozen=True)
class ScheduleInfo:
    """One scheduled notebook as the cluster knows it."""

    name: str
    namespace: str
    schedule: str
    suspended: bool = False
    last_schedule: str = ""
    last_successful: str = ""
    active: tuple[str, ...] = ()
    created: str = ""
    run_name: str = ""


def schedule_info(obj: dict) -> ScheduleInfo:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return ScheduleInfo(name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                        schedule=spec.get("schedule", ""), suspended=bool(spec.get("suspend")),
                        last_schedule=status.get("lastScheduleTime") or "",
                        last_successful=status.get("lastSuccessfulTime") or "",
                        active=tuple(ref.get("name", "") for ref in status.get("active") or []),
                        created=meta.get("creationTimestamp") or "",
                        run_name=(meta.get("labels") or {}).get(LABEL_NAME, ""))


def create_schedule(access: ClusterAccess, spec: dict, namespace: str) -> ScheduleInfo:
    return schedule_info(ClusterClient(access).create(CRONJOB, spec, namespace=namespace))


def list_schedules(access: ClusterAccess, namespace: str | None = None) -> list[ScheduleInfo]:
    """Every scheduled notebook of fairing-magics in ``namespace``, oldest first."""
    body = ClusterClient(access).list(CRONJOB, namespace=namespace or access.namespace,
                                      label_selector=MANAGED_SELECTOR)
    found = [schedule_info(obj) for obj in (body or {}).get("items") or []]
    return sorted(found, key=lambda info: (info.created, info.name))


def find_schedule(access: ClusterAccess, name: str, namespace: str | None = None) -> ScheduleInfo | None:
    """The schedule ``name`` (the CronJob's name), or None when there is no such CronJob of ours."""
    obj = ClusterClient(access).get(CRONJOB, name, namespace=namespace or access.namespace,
                                    missing_ok=True)
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    if obj is None or labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    return schedule_info(obj)


def delete_schedule(access: ClusterAccess, name: str, namespace: str | None = None) -> bool:
    """Delete the CronJob ``name`` with its Jobs and pods (foreground); False when it was gone."""
    return ClusterClient(access).delete(CRONJOB, name, namespace=namespace or access.namespace,
                                        propagation="Foreground")


def format_schedules(schedules: list[ScheduleInfo]) -> str:
    """``%fairing_jobs`` table of schedules."""
    rows = [("SCHEDULE", "CRON", "LAST RUN", "LAST SUCCESS", "ACTIVE")]
    for info in schedules:
        cron = info.schedule + (" (suspended)" if info.suspended else "")
        rows.append((info.name, cron, info.last_schedule or "-", info.last_successful or "-",
                     ",".join(info.active) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
