"""Server-side field validation: nothing we send is dropped without a word.

A real API server silently drops a field its schema does not know (a CRD's structural schema
prunes it, the Go decoder of a built-in kind ignores it). :class:`~.client.ClusterClient` sends
every create and patch:

- with ``fieldValidation=Strict`` where the server reads it (Kubernetes 1.27+, where server-side
  field validation is GA): an unknown field is refused (400, ``strict decoding error: unknown
  field "spec.x"``) and :func:`strict_refusal` makes that one message naming the field, the kind
  and the server's version; nothing was created;
- on an older server (or one whose ``/version`` cannot be read) without it, and with one notice
  per client (:func:`fallback_notice`) saying that unknown fields would be dropped there;
- with each ``Warning`` response header (RFC 7234 ``299 - "text"``: deprecations, unknown fields
  in Warn mode, policy warnings) handed on as a notice (:func:`warnings_of`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from fairing_magics.kube.api_resources import ApiResource

#: The first Kubernetes release where fieldValidation is GA.
STRICT_SINCE = (1, 27)
_WARNING = re.compile(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"')
_UNKNOWN = re.compile(r'unknown field \\?"([^"\\]+)\\?"')


@dataclass(frozen=True)
class ServerVersion:
    """What ``/version`` says: ``major``, ``minor`` (numbers) and ``git_version``."""

    major: int
    minor: int
    git_version: str = ""

    @property
    def strict(self) -> bool:
        """Whether this server refuses unknown fields when asked (``fieldValidation=Strict``)."""
        return (self.major, self.minor) >= STRICT_SINCE

    def __str__(self) -> str:
        return self.git_version or f"v{self.major}.{self.minor}"


_versions: dict[str, ServerVersion] = {}
_lock = threading.Lock()


def parse_version(document: dict) -> ServerVersion | None:
    """A ``/version`` document as a ServerVersion (None when it does not say); managed clusters
    write minors such as ``30+`` (EKS)."""
    try:
        minor = re.match(r"\d+", str(document.get("minor", ""))).group(0)
        return ServerVersion(int(document["major"]), int(minor),
                             str(document.get("gitVersion") or ""))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def known_version(host: str) -> ServerVersion | None:
    """The version this kernel read from the API server at ``host`` (None when not yet)."""
    with _lock:
        return _versions.get(host)


def remember_version(host: str, version: ServerVersion) -> None:
    with _lock:
        _versions[host] = version


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
    """Said once per client where ``fieldValidation=Strict`` is not used."""
    what = (f"the API server is Kubernetes {version}, older than 1.27" if version is not None
            else "the API server's version could not be read")
    return (f"{what}: it is not asked to refuse unknown fields (fieldValidation=Strict), so a "
            "field its schemas lack would be dropped silently. fairing-magics checks what it "
            "sends against the API versions it is tested with (README, 'Tested API versions')")


def strict_refusal(said: str, *, resource: ApiResource | str, name: str, namespace: str,
                   version: ServerVersion | None) -> str:
    """The message of a 400 whose Status says ``said`` (``... strict decoding error: unknown
    field "spec.x"``); "" for any other refusal."""
    if "strict decoding error" not in said:
        return ""
    fields = ", ".join(dict.fromkeys(_UNKNOWN.findall(said))) or "a field"
    if isinstance(resource, ApiResource):
        kind, api, owner = resource.kind, resource.api_version, resource.provided_by
    else:
        kind, api, owner = str(resource), "", None
    where = f" in namespace {namespace}" if namespace else ""
    return (f"the API server (Kubernetes {version or 'of unknown version'}) refused {kind} "
            f"{name}{where}: its {kind} schema{f' ({api})' if api else ''} has no field "
            f"{fields}, which this cluster would otherwise have dropped silently "
            f"(fieldValidation=Strict). This cluster's {owner or 'Kubernetes'} is older or newer "
            "than the ones fairing-magics supports (README, 'Tested API versions'): upgrade it, "
            "or report this with the --dry-run YAML. Nothing was created")
