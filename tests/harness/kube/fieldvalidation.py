"""The emulator's schema admission and server-side field validation, from the real schemas.

Every create, update and patch of a kind that has a schema goes through
:meth:`SchemaAdmission.admit` (:mod:`.apischema`): built-in kinds (Job, CronJob, Deployment,
Service) by the Kubernetes release the emulator plays, custom resources by the schema of the CRD
object the cluster holds (the real CRDs of ``shared/conformance-schemas`` by default, see
:func:`default_crd`). Unknown fields are then handled as the request's ``fieldValidation`` says
(Kubernetes 1.25+, GA in 1.27; ``ServerSideFieldValidation``):

- ``Strict``: 400 BadRequest, ``<Kind> in version "<v>" cannot be handled as a <Kind>: strict
  decoding error: unknown field "spec.x", unknown field "spec.y"``;
- ``Warn`` (the default when the parameter is absent): the fields are dropped and each becomes a
  ``Warning: 299 - "unknown field \\"spec.x\\""`` response header;
- ``Ignore``: dropped silently.

An emulated server older than 1.25 does not know the parameter and drops unknown fields silently,
as such a server did. Invalid objects get 422 Invalid with every cause.
"""

from __future__ import annotations

from .apierrors import ApiError, bad_request, invalid
from .apischema import BuiltinSchema, CustomResourceSchema
from .resources import ResourceType

DIRECTIVES = ("Ignore", "Warn", "Strict")
#: The first release whose API server reads ``fieldValidation`` (beta, on by default).
FIRST_RELEASE = (1, 25)
#: CRDs with an upstream schema in shared/: the emulator installs the newest release of each.
SCHEMA_CRDS = {"tfjobs.kubeflow.org": "training-operator",
               "pytorchjobs.kubeflow.org": "training-operator",
               "trainjobs.trainer.kubeflow.org": "trainer",
               "inferenceservices.serving.kserve.io": "kserve"}
_BUILTIN = {("batch", "Job"), ("batch", "CronJob"), ("apps", "Deployment"), ("", "Service")}


def parse_version(text: str) -> tuple[int, int]:
    """``"1.30"`` or ``"v1.30.2"`` -> (1, 30)."""
    major, minor = str(text).lstrip("v").split(".")[:2]
    return int(major), int(minor)


def schemas_available() -> bool:
    from .schemas import SchemasMissing, schema_folder

    try:
        schema_folder()
    except SchemasMissing:
        return False
    return True


def default_crd(name: str) -> dict | None:
    """The newest upstream CRD object named ``name`` (None without one, or without shared/)."""
    if name not in SCHEMA_CRDS or not schemas_available():
        return None
    from .schemas import crd_object, releases

    return crd_object(releases(SCHEMA_CRDS[name], crd=name)[-1])


class SchemaAdmission:
    """Schemas and field validation of an emulated API server of Kubernetes ``version``."""

    def __init__(self, version: str):
        self.version = parse_version(version)
        self._builtin: dict[tuple[str, str], BuiltinSchema | None] = {}

    @property
    def reads_field_validation(self) -> bool:
        return self.version >= FIRST_RELEASE

    def builtin_schema(self, t: ResourceType) -> BuiltinSchema | None:
        """The schema of a built-in kind in the newest Kubernetes schema not newer than this
        server (the oldest one for a server older than all of them)."""
        if (t.group, t.kind) not in _BUILTIN or not schemas_available():
            return None
        key = (t.group, t.kind)
        if key not in self._builtin:
            from .schemas import releases

            files = releases("kubernetes")
            fit = [f for f in files if parse_version(f.release) <= self.version] or [files[0]]
            self._builtin[key] = BuiltinSchema(fit[-1], t.api_version, t.kind)
        return self._builtin[key]

    def schema(self, t: ResourceType, crd: dict | None):
        if not t.crd:
            return self.builtin_schema(t)
        if crd is None:
            return None
        source = ((crd.get("metadata") or {}).get("annotations") or {}).get(
            "fairing.dev/schema-source", "the emulated cluster's CRD")
        return CustomResourceSchema.from_crd(crd, t.version, f"{t.crd} ({source})")

    def admit(self, t: ResourceType, obj: dict, *, crd: dict | None, old: dict | None,
              directive: str | None, warnings: list[str] | None) -> dict:
        """The object to store (pruned and defaulted), or an ApiError (400, 422)."""
        schema = self.schema(t, crd)
        if schema is None:
            return self._admit_open(t, obj, old)
        if directive and directive not in DIRECTIVES:
            raise bad_request(f'fieldValidation "{directive}" is not one of '
                              + ", ".join(DIRECTIVES))
        directive = (directive or "Warn") if self.reads_field_validation else "Ignore"
        # An update keeps the stored status (the status subresource writes it, already pruned on
        # a real server): only what this request brings is pruned, checked and reported.
        status = obj.pop("status", None) if old is not None and t.has_status else None
        result = schema.admit(obj, old)
        if status is not None:
            obj["status"] = status
            result.object["status"] = status
        if result.unknown and directive == "Strict":
            fields = ", ".join(f'unknown field "{p}"' for p in result.unknown)
            raise ApiError(400, f'{t.kind} in version "{t.version}" cannot be handled as a '
                                f"{t.kind}: strict decoding error: {fields}")
        if result.unknown and directive == "Warn" and warnings is not None:
            warnings.extend(f'unknown field "{p}"' for p in result.unknown)
        if result.causes:
            name = (obj.get("metadata") or {}).get("name", "")
            raise invalid(t, name, [(c.field, c.message) for c in result.causes])
        return result.object


    @staticmethod
    def _admit_open(t: ResourceType, obj: dict, old: dict | None) -> dict:
        """A kind whose CRD keeps every field (Katib's): its controller's webhook is all the
        admission there is: defaults on create, then the validating rules."""
        if t.kind == "Experiment" and old is None:
            from .katib import set_defaults

            set_defaults(obj)
        from .webhooks import webhook_causes

        causes = webhook_causes(t.kind, obj) if old is None else []
        if causes:
            name = (obj.get("metadata") or {}).get("name", "")
            raise invalid(t, name, causes)
        return obj


def warning_header(text: str) -> str:
    """``299 - "text"`` (RFC 7234 warn-code, no agent, Go's strconv.Quote of the text)."""
    import json

    return f"299 - {json.dumps(text)}"
