"""The base image of a build: pinned to a digest, its Python and its C library, each read once.

One :class:`BaseResolver` serves every builder of a kernel: the append builder (and the serving
builder through it) reads the base's config, layers and C library from it; the docker builder
pins its ``FROM`` line with it. It remembers, for its life:

- each base it resolved: a base named by digest is read once; one named by tag costs one
  ``HEAD`` per build to see whether the tag moved (a moved tag is read again);
- the C library of each base digest (read from its layers once, :mod:`.libc`, also cached on
  disk), said once to the user.

:func:`base_python` is the Python minor version a base's config names (``PYTHON_VERSION`` of
the official images).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.errors import BuildError, RegistryError
from fairing_magics.image.deps import DEFAULT_GLIBC, python_minor
from fairing_magics.image.libc import Libc, read_base_libc
from fairing_magics.oci.image import BaseImage
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.client import RegistryClient

Emit = Callable[[object], None]


def base_python(base: BaseImage | None) -> str | None:
    """The base image's Python minor version when its config says (``PYTHON_VERSION`` of the
    official images), else None."""
    if base is None:
        return None
    version = base.env.get("PYTHON_VERSION", "")
    return python_minor(version) if version[:2] == "3." else None


class BaseResolver:
    """Resolves base images through ``client`` and remembers them (see the module docstring).

    ``cache_dir``: where the C library answers are kept on disk (default: the dependency
    cache's folder).
    """

    def __init__(self, client: RegistryClient, *, cache_dir: str | Path | None = None):
        self.client = client
        self.cache_dir = cache_dir
        self._bases: dict[tuple[Reference, str], tuple[str, BaseImage]] = {}
        self._libcs: dict[Reference, Libc] = {}
        self._lock = threading.Lock()

    def cached(self, ref: Reference, platform: str | None = None) -> BaseImage | None:
        """The base resolved for ``ref`` and ``platform`` earlier, without asking the registry."""
        with self._lock:
            found = self._bases.get((ref, platform or ""))
        return found[1] if found is not None else None

    def resolve(self, ref: Reference, platform: str | None = None) -> BaseImage:
        """The base image for ``platform``, pinned to a digest. A digest ref is read once; a tag
        costs one ``HEAD`` to see whether it moved."""
        key = (ref, platform or "")
        with self._lock:
            found = self._bases.get(key)
        try:
            if found is not None:
                if ref.digest or self.client.manifest_digest(ref) == found[0]:
                    return found[1]
            base = self.client.resolve_base(ref, platform)
        except RegistryError as exc:
            raise BuildError(f"Cannot read the base image {ref}: {exc} Check --base-image and that "
                             "the registry is reachable.") from exc
        with self._lock:
            self._bases[key] = (base.source_digest, base)
        return base

    def libc(self, base: BaseImage, emit: Emit) -> Libc:
        """The C library of ``base``, read once per digest; the first read is told to ``emit``."""
        with self._lock:
            known = self._libcs.get(base.ref)
        if known is not None:
            return known
        libc = read_base_libc(self.client, base, self.cache_dir)
        with self._lock:
            self._libcs[base.ref] = libc
        if libc.known:
            how = ("cached" if libc.cached else
                   f"read in {libc.seconds:.2f}s, {libc.bytes_read / 1e6:.1f} MB")
            emit(ev.Notice(f"base C library: {libc.describe()} (/{libc.path}, {how})"))
        else:
            manylinux = "manylinux_" + DEFAULT_GLIBC.replace(".", "_")
            emit(ev.Notice("could not tell the base image's C library (no libc found in its "
                           "layers, or they could not be read); installing wheels for glibc "
                           f"{DEFAULT_GLIBC} ({manylinux})"))
        return libc
