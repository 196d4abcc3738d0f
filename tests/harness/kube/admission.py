"""Defaulting and validation on create/update, as the real API server (and the Kubeflow webhooks)
do it. A bad object gets 422 Invalid with the real field paths and wording.
"""

from __future__ import annotations

import base64
import re

from .apierrors import invalid
from .resources import ResourceType

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character "
                  "(e.g. 'example.com', regex used for validation is "
                  r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
              "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
              "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

# Types whose names must be DNS labels (they become hostnames or label values).
_LABEL_NAMED = {"namespaces", "services"}
_REPLICA_TYPES = {"tfjobs": ("tfReplicaSpecs", {"Chief", "Master", "Worker", "PS", "Evaluator"},
                             "tensorflow"),
                  "pytorchjobs": ("pytorchReplicaSpecs", {"Master", "Worker"}, "pytorch")}


def default(t: ResourceType, obj: dict) -> None:
    """Fill in the defaults a real API server adds (in place)."""
    meta = obj["metadata"]
    spec = obj.setdefault("spec", {}) if t.plural not in _NO_SPEC else None
    if t.plural == "pods":
        _default_pod_spec(spec)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["status"].setdefault("qosClass", "BestEffort")
    elif t.plural == "jobs":
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        uid = meta["uid"]
        labels = {"controller-uid": uid, "job-name": meta.get("name", ""),
                  "batch.kubernetes.io/controller-uid": uid,
                  "batch.kubernetes.io/job-name": meta.get("name", "")}
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        _default_pod_spec(template.setdefault("spec", {}), restart="")
    elif t.plural == "cronjobs":
        from .controllers.cronjobs import default_cronjob

        default_cronjob(spec, _default_pod_spec)
    elif t.plural == "deployments":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
            "maxSurge": "25%", "maxUnavailable": "25%"}})
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    elif t.plural == "services":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", "127.0.0.1")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    elif t.plural == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(v.encode()).decode()
    elif t.plural == "namespaces":
        spec.setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {})["phase"] = "Active"
    elif t.plural == "persistentvolumeclaims":
        obj.setdefault("status", {})["phase"] = "Bound"
    if t.has_status and t.plural not in ("pods", "namespaces", "persistentvolumeclaims"):
        obj.setdefault("status", {})


_NO_SPEC = {"events", "secrets", "configmaps", "serviceaccounts", "selfsubjectaccessreviews"}


def _default_pod_spec(spec: dict, restart: str = "Always") -> None:
    if restart:
        spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = c.get("image") or ""
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")


def validate(t: ResourceType, obj: dict) -> None:
    """Raise a 422 ApiError listing every problem, like the API server does."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif t.plural in _LABEL_NAMED and (len(name) > 63 or not _LABEL.match(name)):
        causes.append(("metadata.name", f'Invalid value: "{name}": {_LABEL_MSG}'))
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}'))
    causes += _label_causes("metadata.labels", meta.get("labels"))
    spec = obj.get("spec") or {}
    if t.plural == "pods":
        causes += _pod_causes("spec", spec)
    elif t.plural == "jobs":
        template = spec.get("template") or {}
        causes += _label_causes("spec.template.labels", (template.get("metadata") or {}).get("labels"))
        causes += _pod_causes("spec.template.spec", template.get("spec") or {})
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            causes.append(("spec.template.spec.restartPolicy",
                           f'Unsupported value: "{policy or ""}": supported values: '
                           '"OnFailure", "Never"' if policy else
                           'Required value: valid values: "OnFailure", "Never"'))
    elif t.plural == "cronjobs":
        from .controllers.cronjobs import cronjob_causes

        causes += cronjob_causes(spec, _pod_causes, _label_causes)
    elif t.plural == "deployments":
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        wanted = (spec.get("selector") or {}).get("matchLabels") or {}
        if not wanted:
            causes.append(("spec.selector", "Required value"))
        elif any(labels.get(k) != v for k, v in wanted.items()):
            causes.append(("spec.template.metadata.labels",
                           f"Invalid value: {labels}: `selector` does not match template `labels`"))
        causes += _pod_causes("spec.template.spec", template.get("spec") or {})
    elif t.plural in _REPLICA_TYPES:
        causes += _replica_causes(t, spec)
    elif t.plural == "trainjobs":  # the CRD's CEL rules and required fields
        if name and (len(name) > 63 or not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", name)):
            causes.append(("metadata.name", "Invalid value: metadata.name must match RFC 1035 "
                           "DNS label format"))
        if not (spec.get("runtimeRef") or {}).get("name"):
            causes.append(("spec.runtimeRef.name", "Required value"))
    elif t.plural == "inferenceservices":
        if not (spec.get("predictor") or {}):
            causes.append(("spec.predictor", "Required value"))
    if causes:
        raise invalid(t, name, causes)


def _label_causes(path: str, labels: dict | None) -> list[tuple[str, str]]:
    causes = []
    for key, value in (labels or {}).items():
        _, _, short = key.rpartition("/")
        if len(short) > 63 or not _LABEL_NAME.match(short):
            causes.append((path, f'Invalid value: "{key}": name part must consist of alphanumeric '
                           "characters, '-', '_' or '.'"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append((path, f'Invalid value: "{value}": a valid label must be an empty '
                           "string or consist of alphanumeric characters, '-', '_' or '.', and "
                           "must start and end with an alphanumeric character, and must be no "
                           "more than 63 characters"))
    return causes


def _pod_causes(path: str, spec: dict) -> list[tuple[str, str]]:
    containers = spec.get("containers") or []
    if not containers:
        return [(f"{path}.containers", "Required value")]
    causes = []
    for i, c in enumerate(containers):
        cname = c.get("name") or ""
        if not cname:
            causes.append((f"{path}.containers[{i}].name", "Required value"))
        elif not _LABEL.match(cname) or len(cname) > 63:
            causes.append((f"{path}.containers[{i}].name", f'Invalid value: "{cname}": {_LABEL_MSG}'))
        if not c.get("image"):
            causes.append((f"{path}.containers[{i}].image", "Required value"))
    policy = spec.get("restartPolicy")
    if policy and policy not in ("Always", "OnFailure", "Never"):
        causes.append((f"{path}.restartPolicy", f'Unsupported value: "{policy}"'))
    return causes


def _replica_causes(t: ResourceType, spec: dict) -> list[tuple[str, str]]:
    field, allowed, container = _REPLICA_TYPES[t.plural]
    replicas = spec.get(field)
    if not isinstance(replicas, dict) or not replicas:
        return [(f"spec.{field}", "Required value")]
    causes = []
    for rtype, rspec in replicas.items():
        where = f"spec.{field}[{rtype}]"
        if rtype not in allowed:
            causes.append((where, f'Unsupported value: "{rtype}": supported values: '
                           + ", ".join(f'"{a}"' for a in sorted(allowed))))
            continue
        pod = ((rspec or {}).get("template") or {}).get("spec") or {}
        causes += _pod_causes(f"{where}.template.spec", pod)
        if not any(c.get("name") == container for c in pod.get("containers") or []):
            causes.append((f"{where}.template.spec.containers",
                           f"Required value: There is no container named {container} in {rtype}"))
    return causes
