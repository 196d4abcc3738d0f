"""The Go validation of the API server for the fields fairing-magics sets, by kind.

``k8s.io/kubernetes/pkg/apis/core/validation`` (pod specs, containers, volumes, Services),
``pkg/apis/batch/validation`` (Jobs, CronJobs) and ``pkg/apis/apps/validation`` (Deployments).
The OpenAPI schemas carry types and required fields only; these checks are what a real API
server adds and what would make it answer 422. They cover every field our specs set, not the
whole API. The same checks run on the pod templates inside TFJobs and PyTorchJobs (the training
operator creates pods from them) and on an InferenceService's containers (KServe creates a
Deployment from them): an object the API server accepts whose pods it would refuse is no better.
"""

from __future__ import annotations

import re

from .objectmeta import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    label_causes,
    object_meta_causes,
    qualified_name_causes,
    quote,
)

_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?(\d+(\.\d*)?|\.\d+))?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_IANA = re.compile(r"^[-a-z0-9]+$")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_RESTART = ("Always", "OnFailure", "Never")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                    "CharDevice", "BlockDevice")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_VOLUME_SOURCES = ("hostPath", "emptyDir", "secret", "configMap", "persistentVolumeClaim",
                   "projected", "downwardAPI", "csi", "ephemeral", "nfs", "image")
Causes = list[tuple[str, str]]


def is_quantity(value) -> bool:
    """``resource.ParseQuantity``: ``500m``, ``2Gi``, ``1e3``, a plain number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_QUANTITY.match(value))


def _unsupported(path: str, value, allowed) -> tuple[str, str]:
    return (path, f"Unsupported value: {quote(value)}: supported values: "
                  + ", ".join(quote(a) for a in allowed if a))


def _number(value) -> float:
    from .quantities import parse_quantity

    return parse_quantity(value)


def _iana_name(name: str) -> bool:
    return (0 < len(name) <= 15 and bool(_IANA.match(name)) and re.search("[a-z]", name)
            is not None and not name.startswith("-") and not name.endswith("-")
            and "--" not in name)


def _port(value, path: str, *, named_ok: bool) -> Causes:
    if isinstance(value, bool):
        return [(path, f"Invalid value: {quote(value)}: must be a port number or name")]
    if isinstance(value, int):
        return [] if 1 <= value <= 65535 else [(path, f"Invalid value: {value}: must be between "
                                                      "1 and 65535, inclusive")]
    if named_ok and isinstance(value, str) and _iana_name(value):
        return []
    return [(path, f"Invalid value: {quote(value)}: must be a port number (1-65535)"
                   + (" or an IANA_SVC_NAME" if named_ok else ""))]


def resources_causes(resources, path: str) -> Causes:
    """Quantities parse; a request is at most its limit; GPUs and other extended resources are
    whole numbers whose request equals the limit (``ValidateResourceRequirements``)."""
    if not isinstance(resources, dict):
        return []
    causes: Causes = []
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    for part, values in (("limits", limits), ("requests", requests)):
        for name, value in values.items():
            where = f"{path}.{part}[{name}]"
            causes += qualified_name_causes(name, where)
            if not is_quantity(value) or _number(value) < 0:
                causes.append((where, f"Invalid value: {quote(value)}: must be a non-negative "
                                      "quantity"))
                continue
            extended = "/" in name and not name.startswith("kubernetes.io/") \
                and not name.startswith("hugepages-")
            if extended and _number(value) != int(_number(value)):
                causes.append((where, f"Invalid value: {quote(value)}: must be an integer"))
    for name, value in requests.items():
        if name in limits and is_quantity(value) and is_quantity(limits[name]):
            if _number(value) > _number(limits[name]):
                causes.append((f"{path}.requests[{name}]",
                               f"Invalid value: {quote(value)}: must be less than or equal to "
                               f"{name} limit"))
            if "/" in name and _number(value) != _number(limits[name]):
                causes.append((f"{path}.requests[{name}]", f"Invalid value: {quote(value)}: must "
                                                           f"be equal to {name} limit"))
        elif "/" in name and name not in limits and not name.startswith("kubernetes.io/"):
            causes.append((f"{path}.limits", f"Required value: Limit must be set for non "
                                             f"overcommitable resources ({name})"))
    return causes


def container_causes(container, path: str, volumes: set[str] | None) -> Causes:
    """``validateContainers`` for the fields we set (``volumes``: the pod's volume names, None
    when the pod spec is only a patch)."""
    if not isinstance(container, dict):
        return [(path, "Invalid value: must be an object")]
    causes: Causes = []
    name = container.get("name")
    if not name:
        causes.append((f"{path}.name", "Required value"))
    elif not DNS1123_LABEL.match(name) or len(name) > 63:
        causes.append((f"{path}.name", f"Invalid value: {quote(name)}: a lowercase RFC 1123 "
                                       "label must consist of lower case alphanumeric characters "
                                       "or '-'"))
    policy = container.get("imagePullPolicy")
    if policy is not None and policy not in _PULL_POLICIES:
        causes.append(_unsupported(f"{path}.imagePullPolicy", policy, _PULL_POLICIES))
    for i, env in enumerate(container.get("env") or []):
        env_name = (env or {}).get("name", "")
        if not _ENV_NAME.match(env_name or ""):
            causes.append((f"{path}.env[{i}].name", f"Invalid value: {quote(env_name)}: a valid "
                                                    "environment variable name must consist of "
                                                    "alphabetic characters, digits, '_', '-', "
                                                    "or '.', and must not start with a digit"))
        if "value" in env and "valueFrom" in env and env.get("value"):
            causes.append((f"{path}.env[{i}].valueFrom", "Invalid value: may not be specified "
                                                         "when `value` is not empty"))
    for i, source in enumerate(container.get("envFrom") or []):
        ref = (source or {}).get("secretRef") or (source or {}).get("configMapRef") or {}
        ref_name = ref.get("name", "")
        if not ref_name or not DNS1123_SUBDOMAIN.match(ref_name):
            causes.append((f"{path}.envFrom[{i}]", f"Invalid value: {quote(ref_name)}: must be "
                                                   "the name of a Secret or ConfigMap"))
    for i, port in enumerate(container.get("ports") or []):
        where = f"{path}.ports[{i}]"
        causes += _port(port.get("containerPort"), f"{where}.containerPort", named_ok=False)
        if port.get("name") and not _iana_name(port["name"]):
            causes.append((f"{where}.name", f"Invalid value: {quote(port['name'])}: must be an "
                                            "IANA_SVC_NAME (at most 15 characters, lowercase "
                                            "letters, digits and '-', with a letter)"))
        if port.get("protocol", "TCP") not in _PROTOCOLS:
            causes.append(_unsupported(f"{where}.protocol", port.get("protocol"), _PROTOCOLS))
    causes += resources_causes(container.get("resources"), f"{path}.resources")
    for i, mount in enumerate(container.get("volumeMounts") or []):
        where = f"{path}.volumeMounts[{i}]"
        if volumes is not None and mount.get("name") not in volumes:
            causes.append((f"{where}.name", f"Not found: {quote(mount.get('name'))}"))
        if not mount.get("mountPath"):
            causes.append((f"{where}.mountPath", "Required value"))
        elif ".." in str(mount["mountPath"]).split("/"):
            causes.append((f"{where}.mountPath", "Invalid value: must not contain '..'"))
    probe = container.get("readinessProbe")
    if isinstance(probe, dict):
        where = f"{path}.readinessProbe"
        for key in ("periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"):
            if key in probe and (not isinstance(probe[key], int) or probe[key] < 1):
                causes.append((f"{where}.{key}", f"Invalid value: {quote(probe[key])}: must be "
                                                 "greater than or equal to 1"))
        if "initialDelaySeconds" in probe and probe["initialDelaySeconds"] < 0:
            causes.append((f"{where}.initialDelaySeconds", "Invalid value: must be >= 0"))
        http = probe.get("httpGet")
        if isinstance(http, dict):
            causes += _port(http.get("port"), f"{where}.httpGet.port", named_ok=True)
    return causes


def pod_spec_causes(spec, path: str, *, restart: tuple[str, ...] = _RESTART,
                    patch: bool = False) -> Causes:
    """``ValidatePodSpec`` for the fields we set; ``restart``: what the owner allows;
    ``patch``: a partial pod spec (a TrainJob's), where containers may leave out the image."""
    if not isinstance(spec, dict):
        return [(path, "Required value")]
    causes: Causes = []
    volumes: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        where = f"{path}.volumes[{i}]"
        name = volume.get("name", "")
        if not DNS1123_LABEL.match(name or "") or len(name) > 63:
            causes.append((f"{where}.name", f"Invalid value: {quote(name)}: a lowercase RFC 1123 "
                                            "label must consist of lower case alphanumeric "
                                            "characters or '-'"))
        if name in volumes:
            causes.append((f"{where}.name", f"Duplicate value: {quote(name)}"))
        volumes.add(name)
        sources = [s for s in _VOLUME_SOURCES if s in volume]
        if len(sources) != 1:
            causes.append((where, "Invalid value: must specify exactly one volume source"
                                  + (f" (has {', '.join(sources)})" if sources else "")))
        host = volume.get("hostPath")
        if isinstance(host, dict):
            if not str(host.get("path", "")).startswith("/"):
                causes.append((f"{where}.hostPath.path", "Invalid value: must be an absolute path"))
            if host.get("type", "") not in _HOST_PATH_TYPES:
                causes.append(_unsupported(f"{where}.hostPath.type", host.get("type"),
                                           _HOST_PATH_TYPES))
        claim = volume.get("persistentVolumeClaim")
        if isinstance(claim, dict) and not claim.get("claimName"):
            causes.append((f"{where}.persistentVolumeClaim.claimName", "Required value"))
        for key, ref in (("secret", "secretName"), ("configMap", "name")):
            if isinstance(volume.get(key), dict) and not volume[key].get(ref):
                causes.append((f"{where}.{key}.{ref}", "Required value"))
    containers = spec.get("containers") or []
    if not containers and not patch:
        causes.append((f"{path}.containers", "Required value"))
    names: set[str] = set()
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        causes += container_causes(container, where, None if patch else volumes)
        if not patch and not (container or {}).get("image"):
            causes.append((f"{where}.image", "Required value"))
        if (container or {}).get("name") in names:
            causes.append((f"{where}.name", f"Duplicate value: {quote(container.get('name'))}"))
        names.add((container or {}).get("name"))
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in restart:
        causes.append(_unsupported(f"{path}.restartPolicy", policy, restart))
    account = spec.get("serviceAccountName")
    if account and not DNS1123_SUBDOMAIN.match(account):
        causes.append((f"{path}.serviceAccountName", f"Invalid value: {quote(account)}: a "
                                                     "lowercase RFC 1123 subdomain"))
    causes += label_causes(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for i, toleration in enumerate(spec.get("tolerations") or []):
        where = f"{path}.tolerations[{i}]"
        operator = toleration.get("operator", "Equal")
        if toleration.get("key"):
            causes += qualified_name_causes(toleration["key"], f"{where}.key")
        elif operator != "Exists":
            causes.append((f"{where}.operator", "Invalid value: operator must be Exists when "
                                                "`key` is empty"))
        if operator not in ("Equal", "Exists"):
            causes.append(_unsupported(f"{where}.operator", operator, ("Equal", "Exists")))
        if operator == "Exists" and toleration.get("value"):
            causes.append((f"{where}.value", "Invalid value: value must be empty when `operator` "
                                             "is 'Exists'"))
        if toleration.get("effect") and toleration["effect"] not in _EFFECTS:
            causes.append(_unsupported(f"{where}.effect", toleration["effect"], _EFFECTS))
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        if not (secret or {}).get("name"):
            causes.append((f"{path}.imagePullSecrets[{i}].name", "Required value"))
    return causes


def pod_template_causes(template, path: str, *, restart: tuple[str, ...] = _RESTART) -> Causes:
    """A pod template: its metadata (labels, annotations) and its pod spec."""
    if not isinstance(template, dict):
        return [(path, "Required value")]
    causes = object_meta_causes("Pod", template.get("metadata") or {}, f"{path}.metadata",
                                root=False)
    return causes + pod_spec_causes(template.get("spec"), f"{path}.spec", restart=restart)


def validate_builtin(kind: str, obj: dict) -> Causes:
    """The Go validation of a built-in ``kind`` beyond its schema (see the module docstring)."""
    spec = obj.get("spec") or {}
    if kind == "Job":
        return _job_causes(spec, "spec")
    if kind == "CronJob":
        template = spec.get("jobTemplate") or {}
        causes: Causes = []
        if not spec.get("schedule"):
            causes.append(("spec.schedule", "Required value"))
        return causes + _job_causes(template.get("spec") or {}, "spec.jobTemplate.spec")
    if kind == "Deployment":
        return _deployment_causes(spec)
    if kind == "Service":
        return _service_causes(spec)
    return []


def _job_causes(spec: dict, path: str) -> Causes:
    causes: Causes = []
    for key, least in (("backoffLimit", 0), ("activeDeadlineSeconds", 1),
                       ("ttlSecondsAfterFinished", 0), ("parallelism", 0), ("completions", 0)):
        if key in spec and isinstance(spec[key], int) and spec[key] < least:
            causes.append((f"{path}.{key}", f"Invalid value: {spec[key]}: must be greater than "
                                            f"or equal to {least}"))
    return causes + pod_template_causes(spec.get("template"), f"{path}.template",
                                        restart=("OnFailure", "Never"))


def _deployment_causes(spec: dict) -> Causes:
    causes: Causes = []
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        causes.append(("spec.replicas", "Invalid value: must be greater than or equal to 0"))
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector and not (spec.get("selector") or {}).get("matchExpressions"):
        causes.append(("spec.selector", "Invalid value: empty selector is invalid for deployment"))
    elif any(labels.get(k) != v for k, v in selector.items()):
        causes.append(("spec.template.metadata.labels", "Invalid value: `selector` does not "
                                                        "match template `labels`"))
    causes += label_causes(selector, "spec.selector.matchLabels")
    return causes + pod_template_causes(template, "spec.template", restart=("Always",))


def _service_causes(spec: dict) -> Causes:
    causes: Causes = []
    kind = spec.get("type", "ClusterIP")
    if kind not in _SERVICE_TYPES:
        causes.append(_unsupported("spec.type", kind, _SERVICE_TYPES))
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName":
        causes.append(("spec.ports", "Required value"))
    seen: set[tuple] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.append((f"{where}.name", "Required value"))
        if name and (not DNS1123_LABEL.match(name) or len(name) > 63):
            causes.append((f"{where}.name", f"Invalid value: {quote(name)}: a lowercase RFC 1123 "
                                            "label"))
        causes += _port(port.get("port"), f"{where}.port", named_ok=False)
        if "targetPort" in port:
            causes += _port(port["targetPort"], f"{where}.targetPort", named_ok=True)
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            causes.append(_unsupported(f"{where}.protocol", protocol, _PROTOCOLS))
        if (port.get("port"), protocol) in seen:
            causes.append((where, f"Duplicate value: {quote(port)}"))
        seen.add((port.get("port"), protocol))
        if "nodePort" in port and kind not in ("NodePort", "LoadBalancer"):
            causes.append((f"{where}.nodePort", "Forbidden: may not be used when `type` is "
                                                f"'{kind}'"))
    causes += label_causes(spec.get("selector"), "spec.selector")
    return causes
