"""Which C library a base image has, read from its layers once per base digest.

Wheels are built for a C library: ``manylinux_2_NN`` wheels need glibc 2.NN or newer,
``musllinux_1_N`` wheels need musl (Alpine). A wheel that does not fit imports fine here and
fails in the container, so the dependency layer asks for the wheels of the *base's* libc
(:func:`read_base_libc` -> :class:`~fairing_magics.image.deps.Target`).

How it is read, without running anything from the image: the base's layers are streamed from
the registry **from the top layer down**, each one decompressed as it arrives, and reading stops
at the first entry that answers:

- ``lib/ld-musl-<arch>.so.1`` (or under ``usr/``): musl. Its version is the first ``1.N.M``
  string in the loader (musl prints it from there); when there is none, 1.2 (Alpine 3.13+);
- ``lib[64]/[<arch>-linux-gnu/]libc-2.NN.so`` (glibc before 2.34 names the file by version,
  ``libc.so.6`` being a link to it), or a ``libc.so.6`` that is a link to such a name: glibc 2.NN;
- a ``libc.so.6`` file: glibc, its version from the banner every glibc carries
  (``GNU C Library (Debian GLIBC 2.36-9+deb12u7) stable release version 2.36.``), else the highest
  ``GLIBC_2.NN`` symbol version it defines.

The file itself, not ``/etc/os-release`` plus a table of distributions: it is exact for every
distribution, including ones no table knows (UBI, Amazon Linux, a company's own base), and it is
what the dynamic loader will use. The cost is paid once per base digest (digests never move):
the answer is cached on disk beside the dependency cache, ``<cache>/libc/<digest>.json``. A
Debian base is usually one big layer, so the first read streams that layer up to libc (see
:attr:`Libc.bytes_read`); the layers above it (the Python install of ``python:*-slim``) are small.

When no libc is found (a distroless or scratch base, a compression we cannot read), the answer
is "unknown" and the dependency layer keeps the default (glibc 2.28) with a notice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fairing_magics.errors import FairingError, RegistryError
from fairing_magics.image.deps import cache_root
from fairing_magics.oci.image import BaseImage
from fairing_magics.registry.client import RegistryClient

CACHE_FORMAT = 1
_MUSL = re.compile(r"^(?:usr/)?lib/ld-musl-[a-z0-9_]+\.so\.1$")
_GLIBC = re.compile(r"^(?:usr/)?lib(?:64|32|x32)?/(?:[a-z0-9_]+-linux-gnu[a-z0-9_]*/)?"
                    r"(libc\.so\.6|libc-2\.(\d+)\.so)$")
_GLIBC_NAME = re.compile(r"(?:^|/)libc-2\.(\d+)\.so$")
_BANNER = re.compile(rb"release version 2\.(\d+)")
_SYMBOL_VERSION = re.compile(rb"GLIBC_2\.(\d+)")
_MUSL_VERSION = re.compile(rb"\x00(1\.(\d+)\.\d+)\x00")
_READ_LIMIT = 16 << 20  # a libc is a few MB; never hold more than this of one file


@dataclass(frozen=True)
class Libc:
    """The C library of an image: ``family`` ``glibc``, ``musl`` or ``""`` (unknown), ``version``
    as ``2.36`` / ``1.2``; ``path`` the entry that told. The rest says what reading it cost."""

    family: str = ""
    version: str = ""
    path: str = ""
    layers_read: int = field(default=0, compare=False)
    bytes_read: int = field(default=0, compare=False)
    seconds: float = field(default=0.0, compare=False)
    cached: bool = field(default=False, compare=False)

    @property
    def known(self) -> bool:
        return bool(self.family and self.version)

    def describe(self) -> str:
        return f"{self.family} {self.version}" if self.known else "unknown C library"


def libc_of_entry(name: str, kind: str, linkname: str, read) -> Libc | None:
    """The answer a tar entry gives (pure): ``name`` without a leading ``/`` or ``./``, ``kind``
    ``file``/``symlink``/``hardlink``/other, ``read()`` its bytes (files only). None: no answer."""
    if _MUSL.match(name):
        version = "1.2"
        if kind == "file":
            match = _MUSL_VERSION.search(read())
            if match:
                version = f"1.{int(match.group(2))}"
        return Libc("musl", version, name)
    match = _GLIBC.match(name)
    if not match:
        return None
    if match.group(2):
        return Libc("glibc", f"2.{match.group(2)}", name)
    if kind in ("symlink", "hardlink"):
        target = _GLIBC_NAME.search(linkname)
        return Libc("glibc", f"2.{target.group(1)}", name) if target else None
    if kind != "file":
        return None
    data = read()
    banner = _BANNER.search(data)
    if banner:
        return Libc("glibc", f"2.{int(banner.group(1))}", name)
    versions = [int(v) for v in _SYMBOL_VERSION.findall(data)]
    return Libc("glibc", f"2.{max(versions)}", name) if versions else None


class _Counting:
    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.count += len(data)
        return data


def probe_layers(client: RegistryClient, base: BaseImage) -> Libc:
    """Stream ``base``'s layers from the top down until one names its libc (see the module
    docstring)."""
    started = time.monotonic()
    total = layers = 0
    for descriptor in reversed(base.layers):
        if descriptor.urls or "zstd" in descriptor.media_type:
            continue  # foreign layers; zstd, which tarfile cannot read (such a base falls back)
        layers += 1
        response = client.open_blob(base.ref, descriptor.digest)
        counter = _Counting(response.raw)
        found = None
        try:
            with tarfile.open(fileobj=counter, mode="r|*") as tar:
                for member in tar:
                    name = member.name.removeprefix("./").lstrip("/")
                    kind = ("file" if member.isfile() else "symlink" if member.issym()
                            else "hardlink" if member.islnk() else "other")
                    found = libc_of_entry(name, kind, member.linkname,
                                          lambda m=member: tar.extractfile(m).read(_READ_LIMIT))
                    if found is not None:
                        break
        except tarfile.TarError:
            pass  # not a tar we can read: look in the layers below
        finally:
            total += counter.count
            response.close()
        if found is not None:
            return Libc(found.family, found.version, found.path, layers, total,
                        round(time.monotonic() - started, 3))
    return Libc("", "", "", layers, total, round(time.monotonic() - started, 3))


def read_base_libc(client: RegistryClient, base: BaseImage,
                   cache_dir: str | os.PathLike | None = None) -> Libc:
    """The libc of ``base``, cached on disk by its digest. Registry errors while reading are not
    cached (the next build tries again)."""
    digest = base.ref.digest
    folder = (Path(cache_dir) if cache_dir is not None else cache_root()) / "libc"
    path = folder / (hashlib.sha256(f"{CACHE_FORMAT}:{digest}".encode()).hexdigest()[:32] + ".json")
    try:
        meta = json.loads(path.read_text())
        if meta["family"] in ("glibc", "musl") and re.fullmatch(r"\d+\.\d+", meta["version"]):
            return Libc(meta["family"], meta["version"], meta["path"], meta["layers_read"],
                        meta["bytes_read"], meta["seconds"], cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry, or one this version cannot trust: probe again and overwrite it
    try:
        libc = probe_layers(client, base)
    except (RegistryError, FairingError, OSError, EOFError):
        return Libc()
    # a broken stream (urllib3, zlib): reading the libc is an optimisation
    except Exception:  # noqa: BLE001
        return Libc()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"base": str(base.ref), "family": libc.family,
                               "version": libc.version, "path": libc.path,
                               "layers_read": libc.layers_read, "bytes_read": libc.bytes_read,
                               "seconds": libc.seconds}, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return libc
