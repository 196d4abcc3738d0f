"""Pruning of unknown fields, as the API server does for a custom resource whose CRD has a
structural schema (apiextensions ``pkg/apiserver/schema/pruning``): a field the schema does not
name is dropped silently, unless the schema at that level says
``x-kubernetes-preserve-unknown-fields: true``. ``apiVersion``, ``kind`` and ``metadata`` are the
API server's own and are never pruned here. The emulator's default CRDs keep every field (their
schema is open); a test installs a CRD with a real schema (``trainer_crds``) to get pruning.
"""

from __future__ import annotations

from .resources import ResourceType, find_type

CRD = find_type("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_OWN = ("apiVersion", "kind", "metadata")


def schema_of(crd: dict | None, t: ResourceType) -> dict | None:
    """The ``openAPIV3Schema`` of ``t``'s version in its CRD object."""
    if crd is None:
        return None
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") == t.version:
            return (version.get("schema") or {}).get("openAPIV3Schema")
    return None


def prune_object(obj: dict, schema: dict | None) -> None:
    """Drop (in place) what ``schema`` does not know from a custom resource."""
    if not schema or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    props = schema.get("properties") or {}
    for key in list(obj):
        if key in _OWN:
            continue
        if key not in props:
            del obj[key]
        else:
            obj[key] = prune(obj[key], props[key])


def prune(value, schema: dict):
    """``value`` with the fields ``schema`` does not name removed."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return value if schema.get("type") != "object" else {}
        out = {}
        for key, item in value.items():
            if props is not None and key in props:
                out[key] = prune(item, props[key])
            elif isinstance(extra, dict):
                out[key] = prune(item, extra)
            elif extra is True:
                out[key] = item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"]) for item in value]
    return value
