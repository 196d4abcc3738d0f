"""Writing objects to the API server so that nothing we send is dropped without a word.

A real API server silently drops a field its schema does not know (a CRD's structural schema
prunes it, the Go decoder of a built-in kind ignores it). :class:`ObjectWriter` makes every
create and patch of one operation (a submit, a deploy):

- with ``fieldValidation=Strict`` where the server reads it (Kubernetes 1.27+, where server-side
  field validation is GA): an unknown field is then refused (400, ``strict decoding error:
  unknown field "spec.x"``) and the cell fails with one message naming the field, the kind and
  the server's version (:func:`strict_refusal`), nothing created;
- on an older server (or one whose ``/version`` cannot be read) without the parameter, and with
  one notice saying that unknown fields would be dropped there (:func:`fallback_notice`);
- with every ``Warning`` response header (RFC 7234 ``299 - "text"``: deprecations, unknown fields
  in Warn mode, policy warnings) turned into a notice in the panel.

Requests go through the client's ``*_with_http_info`` methods (they hand back the response
headers), on the same client, retries and credentials as every other call.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.specs import ApiResource
from fairing_magics.errors import ClusterError

#: The first Kubernetes release where fieldValidation is GA.
STRICT_SINCE = (1, 27)
_WARNING = re.compile(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"')
_UNKNOWN = re.compile(r'unknown field \\?"([^"\\]+)\\?"')


@dataclass(frozen=True)
class ServerVersion:
    """What ``/version`` says: ``major``, ``minor`` (numbers) and ``git_version``."""

    major: int
    minor: int
    git_version: str

    @property
    def strict(self) -> bool:
        """Whether this server refuses unknown fields when asked (``fieldValidation=Strict``)."""
        return (self.major, self.minor) >= STRICT_SINCE

    def __str__(self) -> str:
        return self.git_version or f"v{self.major}.{self.minor}"


_versions: dict[str, ServerVersion | None] = {}
_lock = threading.Lock()


def server_version(access) -> ServerVersion | None:
    """The API server's version (asked once per server and kernel); None when it cannot be read."""
    with _lock:
        if access.host in _versions:
            return _versions[access.host]
    from kubernetes.client import VersionApi
    from kubernetes.client.exceptions import ApiException

    try:
        info = VersionApi(access.api_client).get_code()
        minor = int(re.match(r"\d+", str(info.minor)).group(0))
        found: ServerVersion | None = ServerVersion(int(info.major), minor, info.git_version or "")
    except (ApiException, OSError, ValueError, TypeError, AttributeError):
        return None  # not kept: the next operation asks again
    with _lock:
        _versions[access.host] = found
    return found


def warnings_of(headers) -> list[str]:
    """The texts of the ``Warning`` headers of a response (``299 - "text"``, one or several)."""
    if not headers:
        return []
    values = headers.getlist("Warning") if hasattr(headers, "getlist") else \
        [v for k, v in dict(headers).items() if k.lower() == "warning"]
    texts = []
    for value in values:
        found = _WARNING.findall(str(value))
        texts += [t.replace('\\"', '"').replace("\\\\", "\\") for t in found] or [str(value)]
    return list(dict.fromkeys(texts))


def fallback_notice(version: ServerVersion | None) -> str:
    """Said once per operation where ``fieldValidation=Strict`` is not used."""
    what = (f"the API server is Kubernetes {version}, older than 1.27" if version is not None
            else "the API server's version could not be read")
    return (f"{what}: it is not asked to refuse unknown fields (fieldValidation=Strict), so a "
            "field its schemas lack would be dropped silently. fairing-magics checks what it "
            "sends against the API versions it is tested with (README, 'Tested API versions')")


def strict_refusal(error, *, resource: ApiResource, name: str, namespace: str,
                   version: ServerVersion | None) -> ClusterError | None:
    """The ClusterError of a 400 ``strict decoding error`` (None for any other error)."""
    body = str(getattr(error, "body", "") or "")
    if getattr(error, "status", None) != 400 or "strict decoding error" not in body:
        return None
    fields = list(dict.fromkeys(_UNKNOWN.findall(body)))
    what = ", ".join(fields) or "a field"
    owner = resource.provided_by or "Kubernetes"
    return ClusterError(
        f"the API server (Kubernetes {version or 'of unknown version'}) refused {resource.kind} "
        f"{name} in namespace {namespace}: its {resource.kind} schema ({resource.api_version}) has "
        f"no field {what}, which this cluster would otherwise have dropped silently "
        f"(fieldValidation=Strict). This cluster's {owner} is older or newer than the ones "
        "fairing-magics supports (README, 'Tested API versions'): upgrade it, or report this with "
        "the --dry-run YAML. Nothing was created")


class ObjectWriter:
    """The creates and patches of one operation (see the module docstring); ``emit`` takes the
    notices (``events.Notice``)."""

    def __init__(self, access, emit):
        self.access, self.emit = access, emit
        self._checked = False
        self._strict = False
        self._version: ServerVersion | None = None

    def _field_validation(self) -> str | None:
        if not self._checked:
            self._checked = True
            self._version = server_version(self.access)
            self._strict = self._version is not None and self._version.strict
            if not self._strict:
                self.emit(ev.Notice(fallback_notice(self._version), "warning"))
        return "Strict" if self._strict else None

    def create(self, resource: ApiResource, namespace: str, body: dict) -> dict:
        """POST ``body``; returns the object as stored."""
        name = (body.get("metadata") or {}).get("name", "")
        return self._send("create", resource, namespace, name, body)

    def patch(self, resource: ApiResource, namespace: str, name: str, body: dict) -> dict:
        """A JSON merge patch of object ``name``; returns the object as stored."""
        return self._send("patch", resource, namespace, name, body)

    def _send(self, verb: str, resource: ApiResource, namespace: str, name: str,
              body: dict) -> dict:
        from kubernetes.client.exceptions import ApiException

        from fairing_magics.backends.kubernetes.cluster import api_call

        strict = self._field_validation()
        try:
            with api_call(self.access, verb, resource, namespace=namespace, name=name):
                data, _status, headers = self._request(verb, resource, namespace, name, body,
                                                       strict)
        except ClusterError as exc:
            cause = exc.__cause__
            refused = strict_refusal(cause, resource=resource, name=name, namespace=namespace,
                                     version=self._version) \
                if isinstance(cause, ApiException) else None
            if refused is not None:
                raise refused from cause
            raise
        for text in warnings_of(headers):
            self.emit(ev.Notice(f"the API server warns about {resource.kind} {name}: {text}",
                                "warning"))
        if not isinstance(data, dict):
            data = self.access.api_client.sanitize_for_serialization(data)
        return data or {}

    def _request(self, verb: str, resource: ApiResource, namespace: str, name: str, body: dict,
                 strict: str | None):
        """One request through the client's ``*_with_http_info`` method, which hands back the
        response headers (the same in every client version we support): a core Service through
        CoreV1Api, anything under ``/apis`` through CustomObjectsApi."""
        extra = {"field_validation": strict, "_return_http_data_only": False}
        if verb != "patch":
            return self._call(verb, resource, namespace, name, body, extra)
        try:
            return self._call(verb, resource, namespace, name, body,
                              {**extra, "_content_type": "application/merge-patch+json"})
        except TypeError as exc:
            # Older clients (29...) take no _content_type; for a dict body they send a merge
            # patch (custom objects) or, for a Service, a strategic merge patch, which merges
            # lists by key instead of replacing them: the same result for our Service bodies.
            if "_content_type" not in str(exc):
                raise
            return self._call(verb, resource, namespace, name, body, extra)

    def _call(self, verb: str, resource: ApiResource, namespace: str, name: str, body: dict,
              extra: dict):
        from kubernetes.client import CoreV1Api, CustomObjectsApi

        if not resource.group:
            core = CoreV1Api(self.access.api_client)
            if resource.plural != "services":
                raise ValueError(f"no writer for core {resource.plural}")
            if verb == "create":
                return core.create_namespaced_service_with_http_info(namespace, body, **extra)
            return core.patch_namespaced_service_with_http_info(name, namespace, body, **extra)
        custom = CustomObjectsApi(self.access.api_client)
        where = (resource.group, resource.version, namespace, resource.plural)
        if verb == "create":
            return custom.create_namespaced_custom_object_with_http_info(*where, body, **extra)
        return custom.patch_namespaced_custom_object_with_http_info(*where, name, body, **extra)
