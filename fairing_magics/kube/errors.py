"""What the Kubernetes API server's refusals mean: one clear ClusterError that says what to do.

:class:`~.client.ClusterClient` hands every failed request here (kr8s's lesson: translate at the
one place requests go through, never at each caller). :func:`explain_api_error` names the verb,
the resource and the namespace, and what to do: the RBAC rule to add and the kubectl commands
that add it (403, :func:`rbac_advice`), the CRD to install (404 on a custom resource,
:func:`crd_missing_message`), the namespace to create, the credentials to refresh (401), the
flags to check (422), the field a Strict create or patch sent that the cluster's schema lacks
(400, :func:`.fieldvalidation.strict_refusal`). A cluster that cannot be reached is named with
its address and how access was loaded. The :class:`~fairing_magics.errors.ClusterError` keeps
the HTTP ``status`` and ``reason`` (None and "" when no answer came), so a caller can still tell
"gone" from "refused". Messages never quote credentials.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fairing_magics.errors import ClusterError, connection_failure, redact
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import ApiResource
from fairing_magics.kube.fieldvalidation import known_version, strict_refusal


@dataclass(frozen=True)
class Refusal:
    """A non-2xx answer of the API server: its status, reason phrase and body (a ``Status``
    object as JSON text, or whatever a proxy in between sent)."""

    status: int
    reason: str = ""
    body: str = ""


def explain_api_error(error: Refusal | BaseException, *, verb: str,
                      resource: ApiResource | str, namespace: str = "", name: str = "",
                      access: ClusterAccess | None = None) -> ClusterError:
    """A ClusterError that says which request failed, why, and what to do about it.

    ``error`` is the server's :class:`Refusal` (anything with ``status``, ``reason`` and
    ``body``), or the urllib3/OS error of a cluster that cannot be reached. ``resource`` is an
    :class:`ApiResource` or a name such as ``pods/log``.
    """
    status = getattr(error, "status", None)
    reason = str(getattr(error, "reason", "") or "") if status is not None else ""
    what = resource.qualified if isinstance(resource, ApiResource) else str(resource)
    where = f" in namespace {namespace}" if namespace else ""
    obj = f" {name}" if name else ""
    host = access.host if access else "the cluster"
    if status is None:
        context = f", context {access.context}" if access and access.context else ""
        via = f" ({access.source}{context})" if access else ""
        message = (f"cannot reach the Kubernetes API at {host}{via} to {verb} {what}: "
                   f"{_connection_reason(error)}. Check that the cluster is up and that this "
                   "machine can reach it (VPN, proxy, kubeconfig server address).")
        return ClusterError(message)
    body = _status_body(error)
    said = body.get("message") or reason
    said_part = f" (the API server said: {said})" if said else ""
    if status == 401:
        fix = ("the service-account token may have been revoked: restart the notebook server"
               if access and access.source == "in-cluster" else
               f"refresh the credentials of context '{access.context if access else ''}' (on "
               "EKS: aws eks update-kubeconfig --name CLUSTER --region REGION, and check that "
               "aws sts get-caller-identity works)")
        message = (f"the Kubernetes API at {host} did not accept our credentials (401 "
                   f"Unauthorized) to {verb} {what}{where}: {fix}")
    elif status == 403:
        who = access.identity if access else "this notebook's credentials"
        message = (f"{who} may not {verb} {what}{where}: "
                   f"{rbac_advice(verb, resource, namespace, access)}{said_part}")
    elif status == 404:
        message = _not_found_message(body, resource, what=what, obj=obj, where=where, host=host,
                                     said_part=said_part)
    elif status == 409:
        message = (f"{what}{obj} already exists{where}: choose another --name, or remove the "
                   f"old one first{said_part}")
    elif status == 400 and "strict decoding error" in str(said):
        message = strict_refusal(said, resource=resource, name=name, namespace=namespace,
                                 version=known_version(access.host) if access else None)
    elif status == 422:
        message = (f"the API server refused the {what}{obj}{where} as invalid: {said}. Check the "
                   "flags; if they look right, this is a bug in fairing-magics: please report "
                   "it with the --dry-run YAML")
    elif status == 429 or status >= 500:
        message = (f"the Kubernetes API at {host} answered {status} {reason} to {verb} "
                   f"{what}{where}, also after retries{said_part}: it is overloaded or unwell; "
                   "try again in a minute")
    else:
        message = (f"the Kubernetes API at {host} refused to {verb} {what}{obj}{where} "
                   f"({status} {reason}){said_part}")
    return ClusterError(message, status=status, reason=reason)


def _not_found_message(body: dict, resource: ApiResource | str, *, what: str, obj: str,
                       where: str, host: str, said_part: str) -> str:
    """A 404: no such CRD, no such namespace, no such API, or no such object."""
    if isinstance(resource, ApiResource) and resource.is_custom and _is_missing_route(body):
        return crd_missing_message(resource)
    missing_ns = _missing_namespace(body)
    if missing_ns:
        return (f"namespace {missing_ns} does not exist: create it (kubectl create namespace "
                f"{missing_ns}) or pick another with --namespace")
    if _is_missing_route(body):
        return (f"the API at {host} does not serve {what}: the cluster may be too old or lack "
                f"that API{said_part}")
    return (f"{what}{obj} not found{where}: it may have finished and been cleaned up "
            "(ttlSecondsAfterFinished), or the name is wrong; %fairing_jobs lists the runs")


def rbac_advice(verb: str, resource: ApiResource | str, namespace: str = "",
                access: ClusterAccess | None = None) -> str:
    """The RBAC rule that grants ``verb`` on ``resource``, and the kubectl commands adding it."""
    if isinstance(resource, ApiResource):
        group, plural, qualified = resource.group, resource.plural, resource.qualified
    else:
        group, plural, qualified = "", str(resource), str(resource)
    role = "fairing-" + plural.replace("/", "-").replace(".", "-")
    subject = (f"--serviceaccount={access.serviceaccount}" if access and access.serviceaccount
               else "--user=YOUR_USER")
    rule = f"{{apiGroups: [\"{group}\"], resources: [\"{plural}\"], verbs: [\"{verb}\"]}}"
    if namespace:
        commands = (f"kubectl -n {namespace} create role {role} --verb={verb} "
                    f"--resource={qualified} && kubectl -n {namespace} create rolebinding {role} "
                    f"--role={role} {subject}")
        return f"ask an admin to add the RBAC rule {rule} to a Role bound to it ({commands})"
    commands = (f"kubectl create clusterrole {role} --verb={verb} --resource={qualified} && "
                f"kubectl create clusterrolebinding {role} --clusterrole={role} {subject}")
    return f"ask an admin to add the RBAC rule {rule} to a ClusterRole bound to it ({commands})"


def crd_missing_message(resource: ApiResource) -> str:
    """Say that a custom resource is not installed, who provides it and what to do instead."""
    instead = {"kubeflow.org": "or train with --kind job (a plain Kubernetes Job)",
               "trainer.kubeflow.org": "or use --kind pytorchjob/job",
               "serving.kserve.io": "or deploy without --kserve (a Deployment and a Service)"}
    return (f"this cluster has no {resource.qualified} ({resource.kind}, "
            f"{resource.api_version}): its CustomResourceDefinition is not installed. Install "
            f"{resource.provided_by}, {instead.get(resource.group, 'or use another kind')}.")


def _status_body(error: Refusal | BaseException) -> dict:
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"message": redact(str(body))[:300]}
    return parsed if isinstance(parsed, dict) else {}


def _is_missing_route(body: dict) -> bool:
    """True when the 404 is about the URL (no such resource type), not about a named object."""
    details = body.get("details") or {}
    message = str(body.get("message", ""))
    return not details.get("name") or "could not find the requested resource" in message


def _missing_namespace(body: dict) -> str:
    details = body.get("details") or {}
    if details.get("kind") == "namespaces" and details.get("name"):
        return str(details["name"])
    return ""


def _connection_reason(error: BaseException) -> str:
    """A few words on why the API could not be reached (no urllib3 object reprs)."""
    failure = connection_failure(error)
    if failure:
        return failure
    reason = getattr(error, "reason", None) or error
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>:? ?", "", str(reason))
    return redact(f"{type(reason).__name__}: {text}" if text else type(reason).__name__)[:300]
