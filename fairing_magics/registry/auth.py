"""Registry credentials and the authentication challenge.

Where credentials come from, first match wins (:class:`Keychain`):

1. credentials given explicitly for a host (``Keychain(explicit={host: (user, password)})``);
2. credential hooks, ``Callable[[str host], tuple[str, str] | None]``: the AWS module plugs ECR
   tokens in here (``("AWS", token)`` for ECR hosts, ``None`` for others);
3. ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: ``credHelpers[host]``, then
   ``auths[host]`` (``auth`` = base64 ``user:password``, or ``username``/``password``), then
   the global ``credsStore``. Helpers are run as ``docker-credential-NAME get``.

How they are used (the ``WWW-Authenticate`` challenge of a 401, see the distribution token
spec): ``Basic`` sends them on every request; ``Bearer realm=...,service=...,scope=...`` trades
them (or nothing, for anonymous pulls) at ``realm`` for a token scoped to the repositories the
request touches (``repository:NAME:pull,push``). The transport does the HTTP; this module
holds the parsing and the lookups.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fairing_magics.errors import RegistryError
from fairing_magics.oci.reference import DOCKER_HUB, DOCKER_HUB_API

CredentialHook = Callable[[str], "tuple[str, str] | None"]
Credentials = tuple[str, str]

# Docker writes Hub credentials under its v1 index URL.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    folder = os.environ.get("DOCKER_CONFIG")
    return Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"


def load_docker_config(path: str | os.PathLike | None = None) -> dict:
    """The parsed docker config file, or ``{}`` when there is none."""
    target = Path(path) if path is not None else docker_config_path()
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"Cannot read the docker config {target}: {exc}. Fix or remove the "
                            "file.") from exc


def normalise_host(key: str) -> str:
    """The host[:port] of an ``auths`` key (``https://host/v1/`` -> ``host``); Hub -> docker.io."""
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", key.strip()).split("/", 1)[0].lower()
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io", "docker.io") else host


def _decode_auth(entry: Mapping) -> Credentials | None:
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if user or password else None
    if entry.get("username") or entry.get("password"):
        return entry.get("username", ""), entry.get("password", "")
    if entry.get("identitytoken"):
        # An OAuth2 refresh token: distribution clients send it with this fixed user name.
        return "<token>", entry["identitytoken"]
    return None


def run_credential_helper(helper: str, host: str) -> Credentials | None:
    """Ask ``docker-credential-HELPER get`` for ``host``; None when it knows nothing of it."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise RegistryError(
            f"The docker config names the credential helper {helper!r}, but "
            f"docker-credential-{helper} is not on PATH. Install it, or remove it "
            "from ~/.docker/config.json.")
    for server in (host, f"https://{host}"):
        proc = subprocess.run([program, "get"], input=server, capture_output=True, text=True,
                              timeout=60)
        if proc.returncode == 0:
            try:
                body = json.loads(proc.stdout)
            except ValueError as exc:
                raise RegistryError(f"docker-credential-{helper} answered something that is not "
                                    f"JSON for {host}.") from exc
            return body.get("Username", ""), body.get("Secret", "")
    return None


CredentialHelper = Callable[[str, str], "Credentials | None"]


def credentials_from_docker_config(host: str, config: Mapping,
                                   helper: CredentialHelper = run_credential_helper
                                   ) -> Credentials | None:
    """The credentials the docker config holds for ``host`` (docker.io spellings unified)."""
    wanted = normalise_host(host)
    helpers = {normalise_host(k): v for k, v in (config.get("credHelpers") or {}).items()}
    if wanted in helpers:
        return helper(helpers[wanted], host if wanted != DOCKER_HUB else _HUB_KEYS[0])
    auths = config.get("auths") or {}
    for key, entry in auths.items():
        if normalise_host(key) == wanted and isinstance(entry, Mapping):
            creds = _decode_auth(entry)
            if creds:
                return creds
    if config.get("credsStore"):
        return helper(config["credsStore"], host if wanted != DOCKER_HUB else _HUB_KEYS[0])
    return None


class Keychain:
    """Finds the credentials for a registry host: explicit ones, then hooks, then the docker config.

    ``docker_config`` is a path, a parsed dict, or None for the default file (read on each
    lookup, so a ``docker login`` in another terminal is seen).
    """

    def __init__(self, hooks: Iterable[CredentialHook] = (), *,
                 explicit: Mapping[str, Credentials] | None = None,
                 docker_config: str | os.PathLike | Mapping | None = None):
        self.hooks = list(hooks)
        self.explicit = {normalise_host(k): v for k, v in (explicit or {}).items()}
        self.docker_config = docker_config

    def add_hook(self, hook: CredentialHook) -> None:
        self.hooks.append(hook)

    def credentials(self, host: str) -> Credentials | None:
        """``(user, password)`` for ``host``, or None for anonymous access."""
        wanted = normalise_host(host)
        if wanted in self.explicit:
            return self.explicit[wanted]
        for hook in self.hooks:
            creds = hook(host)
            if creds:
                return creds
        config = self.docker_config
        if config is None or isinstance(config, (str, os.PathLike)):
            config = load_docker_config(config)
        return credentials_from_docker_config(host, config)


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme (lowercase) and its parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        return dict(self.params).get(key, default)


_PARAM = re.compile(r'\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str) -> Challenge:
    """Parse ``Bearer realm="https://auth",service="reg",scope="repository:a:pull"``."""
    scheme, _, rest = header.strip().partition(" ")
    params = []
    for match in _PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params.append((match.group(1).lower(), re.sub(r"\\(.)", r"\1", value)))
    return Challenge(scheme.lower(), tuple(params))


def repository_scope(repository: str, actions: str = "pull,push") -> str:
    """The token scope for ``repository`` (without its registry): ``repository:NAME:ACTIONS``."""
    return f"repository:{repository}:{actions}"


def basic_header(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")


def api_host_of(registry: str) -> str:
    return DOCKER_HUB_API if normalise_host(registry) == DOCKER_HUB else registry
