"""Which package index the dependency layer is installed from: one decision, in one place.

:func:`choose_index` decides, strongest first:

1. the settings ``index_url`` / ``extra_index_urls`` (``%fairing_config --index-url URL
   --extra-index-url URL``, ``FAIRING_INDEX_URL`` / ``FAIRING_EXTRA_INDEX_URL``);
2. pip's ``index-url`` as pip itself would find it: ``PIP_INDEX_URL``, else the pip
   configuration files in pip's own order (global ``$XDG_CONFIG_DIRS/pip/pip.conf`` and
   ``/etc/pip.conf``, then the user's ``~/.pip/pip.conf`` and ``~/.config/pip/pip.conf`` unless
   ``PIP_CONFIG_FILE`` names an existing file, then ``sys.prefix/pip.conf``, then
   ``PIP_CONFIG_FILE``; a later file wins, and in a file ``[install]`` wins over ``[global]``).
   The files are read, pip is not run (that would cost a second per build). This is what makes a
   user behind a mirror (``index-url = https://pypi.tuna.tsinghua.edu.cn/simple``) get the
   mirror with uv too, which ignores pip's configuration;
3. nothing: the installer's own default (pypi.org, or uv's ``UV_DEFAULT_INDEX`` / ``uv.toml``).

Only pip's *index-url* is adopted. Its ``extra-index-url``, ``find-links`` and ``constraint`` are
not, on purpose: an extra index taken silently from a machine-wide file is how dependency
confusion happens (the installer takes the highest version of a name from *any* index, so a
public package can shadow a private one), and find-links/constraints name files on this machine
that the layer's cache key cannot see. Name an extra index explicitly with ``--extra-index-url``.
The pip installer is run isolated from its configuration (``PIP_CONFIG_FILE=/dev/null``, no
``PIP_*`` variables), so pip and uv install from exactly the same indexes.

A URL may carry credentials (``https://user:token@host/simple``). They reach the installer
through its environment (``UV_INDEX_URL``/``UV_EXTRA_INDEX_URL``, ``PIP_INDEX_URL``/
``PIP_EXTRA_INDEX_URL``), never its command line (which any user of the machine can read in
``ps``), and everything shown to the user goes through :func:`~fairing_magics.errors.redact`
(:attr:`PackageIndex.shown`). The layer's cache key hashes the URLs *without* user info
(:meth:`PackageIndex.key`): a rotated token keeps the cache.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fairing_magics.errors import BuildError, redact


@dataclass(frozen=True)
class PackageIndex:
    """The index (and explicit extra indexes) a dependency layer is installed from.

    ``url`` is empty when the installer's default applies; ``source`` says where the choice came
    from (``setting``, ``PIP_INDEX_URL``, a pip config file path, or ``default``).
    """

    url: str = ""
    extra_urls: tuple[str, ...] = ()
    source: str = "default"

    def __post_init__(self):
        for value in (self.url, *self.extra_urls):
            if value and urlsplit(value).scheme not in ("http", "https", "file"):
                raise BuildError(f"The package index {redact(value)!r} is not an http(s) URL: give "
                                 "one such as https://pypi.tuna.tsinghua.edu.cn/simple "
                                 "(--index-url).")

    @property
    def has_credentials(self) -> bool:
        urls = [urlsplit(u) for u in (self.url, *self.extra_urls) if u]
        return any(url.password or url.username for url in urls)

    @property
    def shown(self) -> str:
        """A one-line description without credentials, for messages and the panel."""
        if not self.url and not self.extra_urls:
            return "the installer's default index"
        parts = [without_userinfo(self.url) if self.url else "the default index"]
        parts += [f"+ {without_userinfo(u)}" for u in self.extra_urls]
        where = "" if self.source in ("setting", "default") else f" (from {self.source})"
        return " ".join(parts) + where

    def key(self) -> dict:
        """What the dependency cache key holds about the index: a hash of the URLs with no user
        info (a different index may serve a different file under the same name and version)."""
        if not self.url and not self.extra_urls:
            return {}
        body = "\n".join([without_userinfo(self.url).rstrip("/"),
                          *(without_userinfo(u).rstrip("/") for u in self.extra_urls)])
        return {"index": hashlib.sha256(body.encode()).hexdigest()[:16]}

    def environment(self, installer: str) -> dict[str, str]:
        """The variables that hand the index to ``installer`` (``uv`` or ``pip``); empty for the
        default."""
        out: dict[str, str] = {}
        prefix = "UV" if installer == "uv" else "PIP"
        if self.url:
            out[f"{prefix}_INDEX_URL"] = self.url
        if self.extra_urls:
            out[f"{prefix}_EXTRA_INDEX_URL"] = " ".join(self.extra_urls)
        if installer == "pip":
            hosts = sorted({urlsplit(u).hostname or "" for u in (self.url, *self.extra_urls)
                            if u.startswith("http://")} - {""})
            if hosts:  # an http index the user named is one they trust; pip refuses it otherwise
                out["PIP_TRUSTED_HOST"] = " ".join(hosts)
        return out


def without_userinfo(url: str) -> str:
    """``url`` with ``user:password@`` removed."""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_urls(values: Sequence[str] | str) -> tuple[str, ...]:
    """Repeated and comma- or space-separated URLs as one tuple, in order, without duplicates."""
    if isinstance(values, str):
        values = [values]
    found: list[str] = []
    for value in values:
        for part in value.replace(",", " ").split():
            if part not in found:
                found.append(part)
    return tuple(found)


def pip_config_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The pip configuration files pip would read, weakest first (see the module docstring)."""
    env = os.environ if environ is None else environ
    env_file = env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    files = [Path(d) / "pip" / "pip.conf" for d in dirs] + [Path("/etc/pip.conf")]
    if not (env_file and os.path.exists(env_file)):
        home = Path(env.get("HOME") or Path.home())
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return files


def pip_index_url(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(index-url, where it came from)`` as pip would use it, or ``("", "")``."""
    env = os.environ if environ is None else environ
    if env.get("PIP_INDEX_URL", "").strip():
        return env["PIP_INDEX_URL"].strip().split()[0], "PIP_INDEX_URL"
    found = ("", "")
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            continue  # pip would fail on it too; the installer's own error is clearer than ours
        for section in ("global", "install"):  # [install] wins for `pip install`
            for key in ("index-url", "index_url"):
                if parser.has_option(section, key) and parser.get(section, key).strip():
                    found = (parser.get(section, key).strip().split()[0], str(path))
    return found


def choose_index(index_url: str = "", extra_index_urls: Sequence[str] = (),
                 environ: Mapping[str, str] | None = None) -> PackageIndex:
    """The index of the dependency layer: the settings, else pip's index-url, else the default."""
    extras = split_urls(extra_index_urls)
    if index_url.strip():
        return PackageIndex(index_url.strip(), extras, "setting")
    url, source = pip_index_url(environ)
    if url:
        return PackageIndex(url, extras, source)
    return PackageIndex("", extras, "setting" if extras else "default")
