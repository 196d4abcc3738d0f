"""The runs on a cluster, found by their labels: list, find, cancel.

Every object fairing-magics makes carries ``app.kubernetes.io/managed-by: fairing-magics`` and
``fairing.dev/run: <object name>`` (see :mod:`fairing_magics.kube.labels`), so the kernel needs
no memory of its own to find them again: after a kernel restart ``%fairing_logs NAME``
reattaches with :func:`find_run`, ``%fairing_jobs`` shows :func:`list_runs`, ``%fairing_cancel
NAME`` calls :func:`cancel_run`.

``NAME`` is the object name (``linreg-a1b2c3``) or the ``--name`` it was started with
(``linreg``): then the newest run of that name is meant.

Cancel deletes with ``propagationPolicy=Foreground``: the API server deletes the pods first and
the job last, so when the job is gone nothing of the run is left running.
"""

from __future__ import annotations

from dataclasses import dataclass

from fairing_magics.errors import ClusterError
from fairing_magics.kube import status as st
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import API_RESOURCES, TRAINING_KINDS, ApiResource
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.labels import LABEL_NAME, LABEL_RUN, LABEL_SWEEP, MANAGED_SELECTOR
from fairing_magics.kube.naming import is_label_value


@dataclass(frozen=True)
class RunInfo:
    """One run as the cluster knows it."""

    name: str  # object name, e.g. linreg-a1b2c3
    kind: str  # job | tfjob | pytorchjob | trainjob | experiment (a sweep)
    namespace: str
    phase: str
    reason: str = ""
    message: str = ""
    created: str = ""  # creationTimestamp (RFC 3339)
    run_name: str = ""  # the --name it was started with
    deleting: bool = False

    @property
    def resource(self) -> ApiResource:
        return API_RESOURCES[self.kind]


def run_info(obj: dict, kind: str) -> RunInfo:
    """A :class:`RunInfo` from a Job/TFJob/PyTorchJob dict."""
    meta = obj.get("metadata") or {}
    status = st.job_status(obj)
    labels = meta.get("labels") or {}
    return RunInfo(name=meta.get("name", ""), kind=kind, namespace=meta.get("namespace", ""),
                   phase="Deleting" if meta.get("deletionTimestamp") else status.phase,
                   reason=status.reason, message=status.message,
                   created=meta.get("creationTimestamp") or "",
                   run_name=labels.get(LABEL_NAME, ""),
                   deleting=bool(meta.get("deletionTimestamp")))


def list_runs(access: ClusterAccess, namespace: str | None = None,
              selector: str = MANAGED_SELECTOR) -> list[RunInfo]:
    """Every training run of fairing-magics in ``namespace`` (default: the access's), oldest first.

    Kinds whose CRD is not installed are skipped; other refusals (RBAC) raise ClusterError.
    """
    namespace = namespace or access.namespace
    client = ClusterClient(access)
    runs: list[RunInfo] = []
    # a sweep is its Katib Experiment; the jobs of its trials are its, not runs of their own
    for kind in (*TRAINING_KINDS, "experiment"):
        resource = API_RESOURCES[kind]
        try:
            # A custom kind whose CRD is not installed answers 404: no runs of that kind.
            body = client.list(resource, namespace=namespace, label_selector=selector,
                               missing_ok=resource.is_custom)
        except ClusterError:
            if kind == "job":
                raise
            continue  # e.g. may not list tfjobs: the Jobs are still worth showing
        runs.extend(run_info(obj, kind) for obj in (body or {}).get("items") or []
                    if kind == "experiment" or LABEL_SWEEP not in
                    ((obj.get("metadata") or {}).get("labels") or {}))
    return sorted(runs, key=lambda info: (info.created, info.name))


def find_run(access: ClusterAccess, name: str, namespace: str | None = None) -> RunInfo:
    """The run called ``name`` (object name, or the newest run of that ``--name``).

    Raises ClusterError saying what exists when there is no such run.
    """
    namespace = namespace or access.namespace
    exact = list_runs(access, namespace, selector=f"{MANAGED_SELECTOR},{LABEL_RUN}={name}")
    if exact:
        return exact[-1]
    by_name = list_runs(access, namespace, selector=f"{MANAGED_SELECTOR},{LABEL_NAME}={name}") \
        if name and is_label_value(name) else []
    if by_name:
        return by_name[-1]
    known = ", ".join(info.name for info in list_runs(access, namespace)[-10:]) or "none"
    raise ClusterError(f"no run {name!r} in namespace {namespace} (runs there: {known}). It may "
                       "have finished and been cleaned up (ttlSecondsAfterFinished), or run in "
                       "another namespace (--namespace)")


def delete_run_object(access: ClusterAccess, namespace: str, resource: ApiResource,
                      name: str) -> bool:
    """Delete a run's job with foreground propagation; False when it was already gone."""
    return ClusterClient(access).delete(resource, name, namespace=namespace,
                                        propagation="Foreground")


def cancel_run(access: ClusterAccess, name: str, namespace: str | None = None) -> RunInfo:
    """Stop run ``name``: delete its job and (first) its pods. Returns what was cancelled."""
    info = find_run(access, name, namespace)
    delete_run_object(access, info.namespace or namespace or access.namespace, info.resource,
                      info.name)
    return info


def format_runs(runs: list[RunInfo]) -> str:
    """``%fairing_jobs`` table of cluster runs: name, kind, status, created."""
    if not runs:
        return "No runs on the cluster."
    rows = [("NAME", "KIND", "STATUS", "CREATED", "REASON")]
    rows += [(r.name, r.kind, r.phase, r.created, r.reason) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)

