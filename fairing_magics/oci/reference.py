"""Image references: ``[registry/]repository[:tag][@digest]``, parsed and normalised.

The rules are Docker's (distribution's ``reference`` grammar):

- the first path component is a registry when it holds a ``.`` or a ``:`` (a port) or is
  ``localhost``; otherwise the registry is Docker Hub, ``docker.io``;
- on Docker Hub a one-component name is an official image: ``python`` is ``library/python``;
  ``index.docker.io`` and ``registry-1.docker.io`` are spellings of ``docker.io``, whose API is
  served by ``registry-1.docker.io``;
- repository components are lowercase; a tag is at most 128 word characters, dots and dashes;
  a digest is ``algorithm:hex``.

    >>> str(parse_reference("python:3.11-slim"))
    'docker.io/library/python:3.11-slim'
    >>> parse_reference("127.0.0.1:5000/team/app@sha256:" + "a" * 64).registry
    '127.0.0.1:5000'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from fairing_magics.errors import ConfigError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. ``repository`` has no registry part (``library/python``)."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """``registry/repository``: where the image lives, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host (and port) that serves the registry API."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when known, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to ``digest`` (the tag dropped: a digest says it all)."""
        return replace(self, tag="", digest=digest)

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest="")

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str) -> Reference:
    """Parse an image reference or a bare repository; raise :class:`ConfigError` when invalid."""
    raw = text.strip()
    for scheme in ("https://", "http://", "docker://"):
        if raw.startswith(scheme):
            raw = raw[len(scheme):]
    if not raw:
        raise ConfigError("The image reference is empty: give REGISTRY/REPOSITORY[:TAG].")
    digest = ""
    if "@" in raw:
        raw, digest = raw.split("@", 1)
        if "/" in digest:  # user:password@host/repo: a login, not repo@sha256:...
            raise ConfigError(f"'***@{digest}' starts with credentials (user:password@): remove "
                              "them; registry logins come from docker login "
                              "(~/.docker/config.json) or, for ECR, from your AWS credentials.")
        if not _DIGEST.match(digest):
            raise ConfigError(f"{text!r} has an invalid digest {digest!r}: expected sha256:<64 hex "
                              "digits>.")
    tag = ""
    last_slash = raw.rfind("/")
    colon = raw.rfind(":")
    if colon > last_slash:
        raw, tag = raw[:colon], raw[colon + 1:]
        if not _TAG.match(tag):
            raise ConfigError(f"{text!r} has an invalid tag {tag!r}: use letters, digits, '_', "
                              "'.', '-' (128 at most).")
    parts = raw.split("/")
    if len(parts) > 1 and _is_registry(parts[0]):
        registry, path = parts[0], parts[1:]
        if not _HOST.match(registry):
            raise ConfigError(f"{text!r} has an invalid registry host {registry!r}.")
        if registry.lower() in _HUB_ALIASES:
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, parts
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    for component in path:
        if not _COMPONENT.match(component):
            hint = " (repository names are lowercase)" if component.lower() != component else ""
            raise ConfigError(f"{text!r} has an invalid repository component {component!r}{hint}.")
    return Reference(registry=registry, repository="/".join(path), tag=tag, digest=digest)
