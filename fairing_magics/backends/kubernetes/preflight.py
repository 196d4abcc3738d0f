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

from fairing_magics.backends.kubernetes.cluster import (
    ClusterAccess,
    api_call,
    crd_missing_message,
    explain_api_error,
    rbac_advice,
)
from fairing_magics.backends.kubernetes.specs import (
    API_RESOURCES,
    EVENT,
    POD,
    SERVICE,
    ApiResource,
)
from fairing_magics.errors import ClusterError, ConfigError

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
    from kubernetes.client import VersionApi

    try:
        with api_call(access, "get", "/version"):
            info = VersionApi(access.api_client).get_code()
    except ClusterError as e:
        return Finding("api", False, e.message)
    version = getattr(info, "git_version", "") or "unknown version"
    where = f"context {access.context}" if access.context else access.source
    return Finding("api", True, f"reached {access.host} ({where}), Kubernetes {version}, "
                                f"as {access.identity}, namespace {access.namespace}")


def check_crd(access: ClusterAccess, resource: ApiResource) -> Finding:
    """Is the custom resource served? Asks API discovery, which needs no RBAC rule."""
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    check = f"crd {resource.qualified}"
    try:
        listing = CustomObjectsApi(access.api_client).get_api_resources(
            resource.group, resource.version)
    except ApiException as e:
        if e.status == 404:
            return Finding(check, False, crd_missing_message(resource))
        error = explain_api_error(e, verb="discover", resource=resource.api_version,
                                  access=access)
        return Finding(check, False, error.message)
    except OSError as e:  # pragma: no cover - reachability was checked just before
        return Finding(check, False, explain_api_error(e, verb="discover", resource=resource,
                                                       access=access).message)
    served = {r.name for r in (getattr(listing, "resources", None) or [])}
    if resource.plural not in served:
        return Finding(check, False, crd_missing_message(resource))
    return Finding(check, True, f"{resource.kind} ({resource.api_version}) is installed")


def check_runtime(access: ClusterAccess, runtime_ref: str, namespace: str) -> Finding:
    """Does the TrainJob's (Cluster)TrainingRuntime exist? A refusal to read it is a warning
    (Kubeflow profiles may not grant it; the Trainer then says so on the TrainJob)."""
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    from fairing_magics.backends.kubernetes.trainjob import parse_runtime_ref

    ref = parse_runtime_ref(runtime_ref, namespace)
    r = ref.resource
    check = f"runtime {ref}"
    api = CustomObjectsApi(access.api_client)
    try:
        if ref.namespace:
            api.get_namespaced_custom_object(r.group, r.version, ref.namespace, r.plural, ref.name)
        else:
            api.get_cluster_custom_object(r.group, r.version, r.plural, ref.name)
    except ApiException as e:
        if e.status == 404:
            listing = f"kubectl get {r.plural}" + (f" -n {ref.namespace}" if ref.namespace else "")
            return Finding(check, False, f"{r.kind} {ref.name} not found; list them with "
                                         f"{listing} (and pick one with --runtime-ref NAME)")
        error = explain_api_error(e, verb="get", resource=r, access=access)
        return Finding(check, False, f"could not check {ref}: {error.message}", required=False)
    return Finding(check, True, f"{ref} exists")


def check_permission(access: ClusterAccess, verb: str, resource: ApiResource, namespace: str,
                     *, subresource: str = "", required: bool = True) -> Finding:
    """May we ``verb`` ``resource`` in ``namespace``? Asks a SelfSubjectAccessReview."""
    from kubernetes import client

    what = resource.qualified + (f"/{subresource}" if subresource else "")
    check = f"{verb} {what}"
    review = client.V1SelfSubjectAccessReview(
        api_version="authorization.k8s.io/v1", kind="SelfSubjectAccessReview",
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group=resource.group,
                resource=resource.plural, subresource=subresource or None)))
    try:
        with api_call(access, "create", "selfsubjectaccessreviews.authorization.k8s.io"):
            answer = client.AuthorizationV1Api(access.api_client) \
                .create_self_subject_access_review(body=review)
    except ClusterError as e:
        if e.__cause__ is not None and getattr(e.__cause__, "status", None) is None:
            return Finding("api", False, e.message)  # no answer at all: nothing else can work
        return Finding(check, False, f"could not check whether {access.identity} may {verb} "
                                     f"{what} in namespace {namespace}: {e.message}",
                       required=False)
    status = getattr(answer, "status", None)
    if status is not None and getattr(status, "allowed", False):
        return Finding(check, True, f"may {verb} {what} in namespace {namespace}",
                       required=required)
    target = f"{resource.plural}/{subresource}" if subresource else resource
    advice = rbac_advice(verb, target, namespace, access)
    why = getattr(status, "reason", "") if status is not None else ""
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
