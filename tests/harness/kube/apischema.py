"""What an API server does with an object before it stores it, driven by the real schemas.

``schema.admit(obj, old=None)`` returns an :class:`Admission`: the object as it would be stored,
the paths of the fields that were dropped (``unknown``), and the validation failures
(``causes``, each a JSON path and a message worded like the API server's).

Custom resources (:class:`CustomResourceSchema`, ``apiextensions-apiserver``):

1. **Pruning** (our walk, ``pkg/apiserver/schema/pruning``): a field the structural schema does
   not name is dropped, unless the node says ``x-kubernetes-preserve-unknown-fields`` (then
   known properties below are still pruned); the root and ``x-kubernetes-embedded-resource``
   nodes keep ``apiVersion``, ``kind`` and ``metadata``, whose fields are those of ObjectMeta.
2. **Defaulting**: ``default`` of absent properties, top down.
3. **Validation**: types (``nullable``), ``required``, ``enum``, ``pattern``, lengths, bounds,
   ``anyOf`` (int-or-string), ``format`` and ``x-kubernetes-list-type`` with the ``jsonschema``
   library in the API server's dialect (:mod:`.openapi`); then the CEL rules (:mod:`.cel`,
   transition rules only on updates); then ObjectMeta (:mod:`.objectmeta`) and what the
   controllers' webhooks refuse (:mod:`.webhooks`).

Built-in kinds (:class:`BuiltinSchema`, as the Go decoder reads JSON into the API types): a
field the Go struct does not have is dropped (our walk over the OpenAPI v2 definitions, through
``$ref``); a JSON value the Go field cannot take fails (Draft 4 types; ``null`` is a zero value;
a Quantity takes a string or a number, an IntOrString an integer or a string); then the
``required`` fields, ObjectMeta, and the Go validation of the fields we set
(:mod:`.corevalidation`).
"""

from __future__ import annotations

import copy
import json
from functools import cache, cached_property

from . import cel
from .objectmeta import object_meta_causes, quote
from .openapi import Admission, Cause, causes_of, join, validator
from .schemas import SchemaFile, catalog, definitions, releases
from .webhooks import webhook_causes

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
#: ObjectMeta's fields (the same in every release we test): what survives in ``metadata``.
OBJECT_META_FIELDS = frozenset({
    "annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
    "finalizers", "generateName", "generation", "labels", "managedFields", "name", "namespace",
    "ownerReferences", "resourceVersion", "selfLink", "uid", "clusterName"})


# -- custom resources ---------------------------------------------------------------------------


class CustomResourceSchema:
    """One version of a CRD: ``root`` is its ``openAPIV3Schema``; ``title`` names the schema
    version in messages (``Kubeflow Trainer v2.0.1``). Made from a schema file
    (:meth:`from_file`) or from a CRD object a cluster holds (:meth:`from_crd`)."""

    def __init__(self, root: dict, *, kind: str, group: str, version: str, title: str,
                 file: SchemaFile | None = None):
        self.root, self.kind, self.group, self.version = root, kind, group, version
        self.api_version = f"{group}/{version}"
        self.title, self.file = title, file

    @classmethod
    def from_file(cls, schema: SchemaFile, version: str = "") -> CustomResourceSchema:
        doc = schema.load()
        entry = next((v for v in doc["versions"] if not version or v["name"] == version), None)
        if entry is None:
            raise KeyError(f"{schema.path.name} has no version {version}")
        return cls(entry["openAPIV3Schema"], kind=doc["names"]["kind"], group=doc["group"],
                   version=entry["name"], title=schema.title, file=schema)

    @classmethod
    def from_crd(cls, crd: dict, version: str, title: str) -> CustomResourceSchema | None:
        """The schema of ``version`` in a CRD object; None when the CRD has none (or an open
        one: nothing is pruned or checked then)."""
        for entry in (crd.get("spec") or {}).get("versions") or []:
            root = ((entry.get("schema") or {}).get("openAPIV3Schema"))
            if entry.get("name") == version and root:
                if root.get("x-kubernetes-preserve-unknown-fields") and not root.get("properties"):
                    return None
                spec = crd["spec"]
                return cls(root, kind=spec["names"]["kind"], group=spec["group"],
                           version=version, title=title)
        return None

    def __repr__(self) -> str:
        return f"<{self.kind} {self.api_version} of {self.title}>"

    @cached_property
    def _validator(self):
        return validator(self.root, go_decoder=False)

    def admit(self, obj: dict, old: dict | None = None) -> Admission:
        stored = copy.deepcopy(obj)
        unknown: list[str] = []
        prune(stored, self.root, "", unknown, root=True)
        apply_defaults(stored, self.root, root=True)
        causes = causes_of(self._validator.iter_errors(stored))
        causes += cel_causes(stored, self.root, "", old, old is not None)
        causes += [Cause(f, m) for f, m in object_meta_causes(self.kind, stored.get("metadata"))]
        causes += [Cause(f, m) for f, m in webhook_causes(self.kind, stored)]
        return Admission(stored, unknown, list(dict.fromkeys(causes)))


def prune(value, schema: dict | None, path: str, unknown: list[str], *, root: bool = False):
    """Drop (in place) what a structural ``schema`` does not know; record the dropped paths."""
    if isinstance(schema, dict) and schema.get("x-kubernetes-preserve-unknown-fields"):
        _prune_known(value, schema, path, unknown, root=root)
        return
    if isinstance(value, dict):
        if not isinstance(schema, dict):
            for key in list(value):
                unknown.append(join(path, key))
                del value[key]
            return
        _prune_object(value, schema, path, unknown, keep_unknown=False, root=root)
    elif isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        for index, item in enumerate(value):
            prune(item, items if isinstance(items, dict) else None, f"{path}[{index}]", unknown)


def _prune_known(value, schema: dict, path: str, unknown: list[str], *, root: bool) -> None:
    """Under ``x-kubernetes-preserve-unknown-fields``: unknown fields stay, known ones are still
    pruned below."""
    if isinstance(value, dict):
        _prune_object(value, schema, path, unknown, keep_unknown=True, root=root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            prune(item, schema["items"], f"{path}[{index}]", unknown)


def _prune_object(value: dict, schema: dict, path: str, unknown: list[str], *,
                  keep_unknown: bool, root: bool) -> None:
    embedded = root or schema.get("x-kubernetes-embedded-resource")
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key in list(value):
        item = value[key]
        where = join(path, key)
        if embedded and key in ("apiVersion", "kind") and isinstance(item, str):
            continue
        if embedded and key == "metadata" and isinstance(item, dict):
            for meta_key in list(item):  # ObjectMeta: its own fields only
                if meta_key not in OBJECT_META_FIELDS:
                    unknown.append(join(where, meta_key))
                    del item[meta_key]
            continue
        if key in props:
            prune(item, props[key], where, unknown)
        elif isinstance(extra, dict):
            prune(item, extra, f"{path}[{key}]", unknown)
        elif extra is True or keep_unknown:
            continue
        else:
            unknown.append(where)
            del value[key]


def apply_defaults(value, schema: dict | None, *, root: bool = False) -> None:
    """Set the ``default`` of absent properties (in place), top down."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key == "metadata":
                continue
            if key in props:
                apply_defaults(item, props[key])
            elif isinstance(extra, dict):
                apply_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])


def cel_causes(value, schema: dict | None, path: str, old, has_old: bool) -> list[Cause]:
    """Every failing ``x-kubernetes-validations`` rule below ``schema``; ``old`` is the value at
    the same place in the stored object (``has_old``: there is one)."""
    if not isinstance(schema, dict):
        return []
    causes = []
    for rule in schema.get("x-kubernetes-validations") or []:
        message = cel.evaluate(rule, value, old, has_old=has_old)
        if message:
            where = join(path, rule["fieldPath"].lstrip(".")) if rule.get("fieldPath") else path
            causes.append(Cause(where or "<root>",
                                f"Invalid value: {quote(cel.type_name(value))}: {message}"))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if key not in props else None)
            before = old.get(key) if has_old and isinstance(old, dict) else None
            had = has_old and isinstance(old, dict) and key in old
            where = join(path, key) if key in props else f"{path}[{key}]"
            causes += cel_causes(item, sub if isinstance(sub, dict) else None, where, before, had)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        olds = _correlate(schema, old if has_old else None)
        for index, item in enumerate(value):
            key = _map_key(schema, item)
            had = key is not None and key in olds
            causes += cel_causes(item, schema["items"], f"{path}[{index}]", olds.get(key), had)
    return causes


def _map_key(schema: dict, item) -> str | None:
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(item, dict):
        return None  # only map lists correlate their items with the old ones
    return json.dumps([item.get(k) for k in schema.get("x-kubernetes-list-map-keys") or []])


def _correlate(schema: dict, old) -> dict:
    if not isinstance(old, list):
        return {}
    return {key: item for item in old if (key := _map_key(schema, item)) is not None}


# -- built-in kinds -----------------------------------------------------------------------------


class BuiltinSchema:
    """A built-in kind (``batch/v1`` ``Job``...) in one Kubernetes release's definitions."""

    def __init__(self, schema: SchemaFile, api_version: str, kind: str):
        group, _, version = api_version.rpartition("/")
        defs = copy.deepcopy(definitions(schema))
        # Go's resource.Quantity and intstr.IntOrString unmarshal from either JSON type.
        defs[_QUANTITY] = {"anyOf": [{"type": "string"}, {"type": "number"}], "format": "quantity"}
        defs[_INT_OR_STRING] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        self.definitions = defs
        self.file = schema
        self.kind, self.api_version, self.title = kind, api_version, schema.title
        self.name = next((name for name, d in defs.items()
                          if {"group": group, "version": version, "kind": kind}
                          in d.get("x-kubernetes-group-version-kind", [])), None)
        if self.name is None:
            raise KeyError(f"{schema.path.name} has no {api_version} {kind}")

    def __repr__(self) -> str:
        return f"<{self.kind} {self.api_version} of {self.title}>"

    @cached_property
    def _validator(self):
        return validator({"$ref": f"#/definitions/{self.name}", "definitions": self.definitions},
                          go_decoder=True)

    def resolve(self, schema: dict | None) -> dict | None:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.definitions[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def admit(self, obj: dict, old: dict | None = None) -> Admission:
        from .corevalidation import validate_builtin

        stored = copy.deepcopy(obj)
        unknown: list[str] = []
        self.decode(stored, self.definitions[self.name], "", unknown)
        causes = causes_of(self._validator.iter_errors(stored))
        causes += [Cause(f, m) for f, m in object_meta_causes(self.kind, stored.get("metadata"))]
        causes += [Cause(f, m) for f, m in validate_builtin(self.kind, stored)]
        return Admission(stored, unknown, list(dict.fromkeys(causes)))

    def decode(self, value, schema: dict | None, path: str, unknown: list[str]) -> None:
        """Drop (in place) what the Go types do not have, as ``json.Unmarshal`` does."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return
        if isinstance(value, dict):
            props, extra = schema.get("properties"), schema.get("additionalProperties")
            if props is None and extra is None:
                return  # raw JSON (FieldsV1, RawExtension): kept as it is
            for key in list(value):
                if props is not None and key in props:
                    self.decode(value[key], props[key], join(path, key), unknown)
                elif isinstance(extra, dict):
                    self.decode(value[key], extra, f"{path}[{key}]", unknown)
                else:
                    unknown.append(join(path, key))
                    del value[key]
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                self.decode(item, schema["items"], f"{path}[{index}]", unknown)


# -- which schemas check which kind ---------------------------------------------------------------

_BUILTIN_GROUPS = ("", "batch", "apps")


@cache
def kind_schemas(api_version: str, kind: str) -> tuple[CustomResourceSchema | BuiltinSchema, ...]:
    """Every release's schema of ``kind`` (oldest first): the Kubernetes releases for built-in
    kinds, the CRD files of its group for custom resources. KeyError when there is none."""
    group, _, version = api_version.rpartition("/")
    if group in _BUILTIN_GROUPS:
        return tuple(BuiltinSchema(f, api_version, kind) for f in releases("kubernetes"))
    found = []
    for f in catalog():
        doc = f.load()
        if f.api != "kubernetes" and doc.get("group") == group and \
                doc.get("names", {}).get("kind") == kind:
            if any(v["name"] == version for v in doc["versions"]):
                found.append(CustomResourceSchema.from_file(f, version))
    if not found:
        raise KeyError(f"no schema of {api_version} {kind} in the shared schemas")
    return tuple(sorted(found, key=lambda s: s.file.key))


def schema_of(api_version: str, kind: str, release: str) -> CustomResourceSchema | BuiltinSchema:
    """One release's schema of ``kind`` (``schema_of("batch/v1", "Job", "1.30")``)."""
    for schema in kind_schemas(api_version, kind):
        if schema.file.release == release:
            return schema
    raise KeyError(f"no {release} schema of {api_version} {kind}")
