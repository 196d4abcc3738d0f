"""Names, labels and annotations, checked as the API server and the controllers' webhooks do.

From ``k8s.io/apimachinery/pkg/util/validation`` (``IsDNS1123Label``, ``IsDNS1123Subdomain``,
``IsDNS1035Label``, ``IsQualifiedName``, ``IsValidLabelValue``) and
``k8s.io/apimachinery/pkg/api/validation`` (``ValidateObjectMeta``: name, namespace, labels,
annotations of at most 256 KiB). The name rule depends on the kind (:data:`NAME_RULES`):

- Service: an RFC 1035 label (it becomes a DNS name; ``ValidateServiceName``);
- TFJob, PyTorchJob: an RFC 1035 label (training-operator's webhook; the operator names pods and
  headless Services after the job);
- InferenceService: an RFC 1035 label (KServe's webhook; it becomes a host name);
- TrainJob: an RFC 1035 label of at most 63 (the CRD's CEL rule from v2.1; JobSet's webhook
  before that, since the JobSet takes the TrainJob's name);
- Job: an RFC 1123 subdomain of at most 63 characters: the Job controller labels its pods
  ``job-name: <name>`` and ``batch.kubernetes.io/job-name: <name>``, label values of at most 63;
- CronJob: an RFC 1123 subdomain of at most 52 (the controller appends 11 characters);
- anything else (Deployment, custom resources): an RFC 1123 subdomain.
"""

from __future__ import annotations

import json
import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ANNOTATIONS_LIMIT = 256 * 1024

_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
              "'-', and must start and end with an alphanumeric character")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character")

#: (rule, longest name) by kind; see the module docstring.
NAME_RULES: dict[str, tuple[str, int]] = {
    "Service": ("dns1035", 63), "TFJob": ("dns1035", 63), "PyTorchJob": ("dns1035", 63),
    "InferenceService": ("dns1035", 63), "TrainJob": ("dns1035", 63),
    "Job": ("subdomain", 63), "CronJob": ("subdomain", 52), "Namespace": ("label", 63),
}
_NAME_CHECKS = {"dns1035": (DNS1035_LABEL, _DNS1035_MSG), "label": (DNS1123_LABEL, _LABEL_MSG),
                "subdomain": (DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG)}
_WHY_SHORTER = {"Job": "the Job controller puts it in its pods' job-name label (at most 63)",
                "CronJob": "the CronJob controller appends 11 characters to make Job names"}


def quote(value) -> str:
    """A value as the API server quotes it in ``Invalid value: ...``."""
    return json.dumps(value)


def name_causes(kind: str, name, path: str = "metadata.name") -> list[tuple[str, str]]:
    """The problems of ``name`` as the name of a ``kind`` object (empty when it is fine)."""
    if not name:
        return [(path, "Required value: name or generateName is required")]
    if not isinstance(name, str):
        return [(path, f"Invalid value: {quote(name)}: must be a string")]
    rule, longest = NAME_RULES.get(kind, ("subdomain", 253))
    pattern, message = _NAME_CHECKS[rule]
    causes = []
    if not pattern.match(name):
        causes.append((path, f"Invalid value: {quote(name)}: {message}"))
    if len(name) > longest:
        why = f" ({_WHY_SHORTER[kind]})" if kind in _WHY_SHORTER else ""
        causes.append((path, f"Invalid value: {quote(name)}: must be no more than {longest} "
                             f"characters{why}"))
    return causes


def qualified_name_causes(key, path: str) -> list[tuple[str, str]]:
    """``IsQualifiedName``: an optional DNS subdomain prefix and '/', then a name of <= 63."""
    if not isinstance(key, str) or not key:
        return [(path, f"Invalid value: {quote(key)}: name part must be non-empty")]
    prefix, slash, name = key.rpartition("/")
    causes = []
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        causes.append((path, f"Invalid value: {quote(key)}: prefix part {_SUBDOMAIN_MSG}"))
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        causes.append((path, f"Invalid value: {quote(key)}: name part must consist of "
                             "alphanumeric characters, '-', '_' or '.', and must start and end "
                             "with an alphanumeric character, at most 63 characters"))
    return causes


def label_causes(labels, path: str) -> list[tuple[str, str]]:
    """Label keys (qualified names) and values (at most 63, alphanumeric ends)."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(path, f"Invalid value: {quote(labels)}: must be a map of strings")]
    causes = []
    for key, value in labels.items():
        causes += qualified_name_causes(key, path)
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append((path, f"Invalid value: {quote(value)}: a valid label must be an "
                                 "empty string or consist of alphanumeric characters, '-', '_' "
                                 "or '.', and must start and end with an alphanumeric character, "
                                 "at most 63 characters"))
    return causes


def annotation_causes(annotations, path: str) -> list[tuple[str, str]]:
    """Annotation keys (qualified names, checked lowercased) and their total size."""
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [(path, f"Invalid value: {quote(annotations)}: must be a map of strings")]
    causes = []
    size = 0
    for key, value in annotations.items():
        causes += qualified_name_causes(str(key).lower(), path)
        if not isinstance(value, str):
            causes.append((f"{path}[{key}]", f"Invalid value: {quote(value)}: must be a string"))
        size += len(str(key)) + len(str(value))
    if size > ANNOTATIONS_LIMIT:
        causes.append((path, f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes"))
    return causes


def object_meta_causes(kind: str, meta, path: str = "metadata", *,
                       root: bool = True) -> list[tuple[str, str]]:
    """``ValidateObjectMeta`` for an object of ``kind`` (``root=False``: a template's metadata,
    whose name is not checked)."""
    if meta is None:
        return [(path, "Required value")] if root else []
    if not isinstance(meta, dict):
        return [(path, f"Invalid value: {quote(meta)}: must be an object")]
    causes = name_causes(kind, meta.get("name"), f"{path}.name") if root else []
    namespace = meta.get("namespace")
    if namespace and (len(namespace) > 63 or not DNS1123_LABEL.match(namespace)):
        causes.append((f"{path}.namespace", f"Invalid value: {quote(namespace)}: {_LABEL_MSG}"))
    causes += label_causes(meta.get("labels"), f"{path}.labels")
    causes += annotation_causes(meta.get("annotations"), f"{path}.annotations")
    return causes
