"""Preflight: can this notebook run a ``--kind`` on this cluster, and if not, what is missing?

:func:`check_cluster` (behind ``%fairing_doctor``) asks the cluster, in order:

1. Is the API reachable? (``GET /version``; nothing else is tried when it is not.)
2. For TFJob, PyTorchJob, TrainJob and InferenceService: is the CRD installed? (API discovery
   of ``/apis/GROUP/VERSION``, which every authenticated user may read, unlike the CRD
   objects.) For a TrainJob also: does its runtime exist (:func:`check_runtime`)?
3. May we do what a run needs? One ``SelfSubjectAccessReview`` per permission: create, get and
   delete the resource (delete is ``%fairing_cancel``), list and watch pods, get ``pods/log``,
   list events (optional: the panel shows fewer hints without it).

Each answer is a :class:`Finding` whose message says what is missing, e.g. the RBAC rule and the
kubectl commands that add it. :func:`check_submit` is the cheap version run before each submit
(the CRD and the create permission); :func:`require_ok` turns problems into one ClusterError.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import (
    API_RESOURCES,
    EVENT,
    POD,
    SELF_SUBJECT_ACCESS_REVIEW,
    SERVICE,
    ApiResource,
)
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.errors import crd_missing_message, rbac_advice
from fairing_magics.kube.trainjob import parse_runtime_ref

#: What the doctor and the submit check know how to check.
CHECKED_KINDS = ("job", "tfjob", "pytorchjob", "trainjob", "deployment", "inferenceservice")


@dataclass(frozen=True)
class Finding:
    """One preflight answer. ``ok`` False with ``required`` False is a warning, not a problem."""

    check: str
    ok: bool
    message: str
    required: bool = True

    @property
    def problem(self) -> bool:
        return not self.ok and self.required

    def __str__(self) -> str:
        mark = "ok" if self.ok else "PROBLEM" if self.required else "warning"
        return f"[{mark}] {self.check}: {self.message}"


def check_cluster(access: ClusterAccess, kind: str = "job",
                  namespace: str | None = None, runtime_ref: str = "") -> list[Finding]:
    """Every check for running ``kind`` in ``namespace`` (default: the access's namespace);
    ``runtime_ref`` is a TrainJob's ``--runtime-ref`` (default ``torch-distributed``)."""
    resource = _resource(kind)
    namespace = namespace or access.namespace
    reach = check_reachable(access)
    if not reach.ok:
        return [reach]
    findings = [reach]
    if resource.is_custom:
        findings.append(check_crd(access, resource))
        if not findings[-1].ok:
            return findings
    if kind == "trainjob":
        findings.append(check_runtime(access, runtime_ref, namespace))
    needs: list[tuple[str, ApiResource | str, str, bool]] = [
        ("create", resource, "", True), ("get", resource, "", True),
        ("delete", resource, "", True),
    ]
    if kind == "deployment":
        needs += [("create", SERVICE, "", True), ("delete", SERVICE, "", True)]
    needs += [("list", POD, "", True), ("watch", POD, "", True), ("get", POD, "log", True),
              ("list", EVENT, "", False)]
    for verb, res, subresource, required in needs:
        findings.append(check_permission(access, verb, res, namespace, subresource=subresource,
                                         required=required))
    return findings


def check_submit(access: ClusterAccess, kind: str = "job",
                 namespace: str | None = None, runtime_ref: str = "") -> list[Finding]:
    """The cheap check before a submit: the CRD (for custom kinds), a TrainJob's runtime and
    the create permission."""
    resource = _resource(kind)
    namespace = namespace or access.namespace
    findings = []
    if resource.is_custom:
        findings.append(check_crd(access, resource))
        if not findings[-1].ok:
            return findings
    if kind == "trainjob":
        findings.append(check_runtime(access, runtime_ref, namespace))
    findings.append(check_permission(access, "create", resource, namespace))
    return findings


def require_ok(findings: Iterable[Finding]) -> None:
    """Raise one ClusterError listing every problem (warnings pass)."""
    problems = [f for f in findings if f.problem]
    if problems:
        raise ClusterError("; ".join(f.message for f in problems))


def check_reachable(access: ClusterAccess) -> Finding:
    """``GET /version``: the API answers, and which Kubernetes version it is."""
    try:
        info = ClusterClient(access).read_json("/version", resource="/version")
    except ClusterError as e:
        return Finding("api", False, e.message)
    version = info.get("gitVersion") or "unknown version"
    where = f"context {access.context}" if access.context else access.source
    return Finding("api", True, f"reached {access.host} ({where}), Kubernetes {version}, "
                                f"as {access.identity}, namespace {access.namespace}")


def check_crd(access: ClusterAccess, resource: ApiResource) -> Finding:
    """Is the custom resource served? Asks API discovery, which needs no RBAC rule."""
    check = f"crd {resource.qualified}"
    try:
        listing = ClusterClient(access).read_json(resource.group_path, verb="discover",
                                                  resource=resource.api_version, missing_ok=True)
    except ClusterError as e:
        return Finding(check, False, e.message)
    served = {r.get("name") for r in (listing or {}).get("resources") or []}
    if resource.plural not in served:
        return Finding(check, False, crd_missing_message(resource))
    return Finding(check, True, f"{resource.kind} ({resource.api_version}) is installed")


def check_runtime(access: ClusterAccess, runtime_ref: str, namespace: str) -> Finding:
    """Does the TrainJob's (Cluster)TrainingRuntime exist? A refusal to read it is a warning
    (Kubeflow profiles may not grant it; the Trainer then says so on the TrainJob)."""
    ref = parse_runtime_ref(runtime_ref, namespace)
    r = ref.resource
    check = f"runtime {ref}"
    try:
        found = ClusterClient(access).get(r, ref.name, namespace=ref.namespace, missing_ok=True)
    except ClusterError as e:
        return Finding(check, False, f"could not check {ref}: {e.message}", required=False)
    if found is None:
        listing = f"kubectl get {r.plural}" + (f" -n {ref.namespace}" if ref.namespace else "")
        return Finding(check, False, f"{r.kind} {ref.name} not found; list them with "
                                     f"{listing} (and pick one with --runtime-ref NAME)")
    return Finding(check, True, f"{ref} exists")


def check_permission(access: ClusterAccess, verb: str, resource: ApiResource, namespace: str,
                     *, subresource: str = "", required: bool = True) -> Finding:
    """May we ``verb`` ``resource`` in ``namespace``? Asks a SelfSubjectAccessReview."""
    what = resource.qualified + (f"/{subresource}" if subresource else "")
    check = f"{verb} {what}"
    attributes = {"namespace": namespace, "verb": verb, "group": resource.group,
                  "resource": resource.plural}
    if subresource:
        attributes["subresource"] = subresource
    review = {"apiVersion": SELF_SUBJECT_ACCESS_REVIEW.api_version,
              "kind": SELF_SUBJECT_ACCESS_REVIEW.kind,
              "spec": {"resourceAttributes": attributes}}
    try:
        answer = ClusterClient(access).create(SELF_SUBJECT_ACCESS_REVIEW, review)
    except ClusterError as e:
        if e.status is None:
            return Finding("api", False, e.message)  # no answer at all: nothing else can work
        return Finding(check, False, f"could not check whether {access.identity} may {verb} "
                                     f"{what} in namespace {namespace}: {e.message}",
                       required=False)
    status = answer.get("status") or {}
    if status.get("allowed"):
        return Finding(check, True, f"may {verb} {what} in namespace {namespace}",
                       required=required)
    target = f"{resource.plural}/{subresource}" if subresource else resource
    advice = rbac_advice(verb, target, namespace, access)
    why = status.get("reason") or ""
    return Finding(check, False, f"{access.identity} may not {verb} {what} in namespace "
                                 f"{namespace}: {advice}" + (f" ({why})" if why else ""),
                   required=required)


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding, for ``%fairing_doctor`` in text mode."""
    return "\n".join(str(f) for f in findings)


def _resource(kind: str) -> ApiResource:
    kind = str(kind).lower()
    if kind not in CHECKED_KINDS:
        raise ConfigError(f"cannot check kind '{kind}': use one of {', '.join(CHECKED_KINDS)}")
    return API_RESOURCES[kind]
