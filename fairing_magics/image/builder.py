"""The ``Builder`` role: Bundle + base image -> :class:`~fairing_magics.image.image.Image`.

:class:`AppendBuilder` appends our layers to a base image, the way ko and Jib do, with no Docker
daemon and nothing run in the image: the base's layers stay where they are (the publisher mounts
them), and two layers are added:

1. the dependency layer (``/fairing/deps``): the bundle's pinned requirements, plus cloudpickle
   when the bundle carries values or outputs (the runtime needs it), installed from wheels for
   the base's Python, platform and C library (read from the base's layers once per digest,
   :mod:`.libc`), from the package index of :mod:`.package_index`; cached, see :mod:`.deps`;
2. the code layer (``/fairing/bundle``): the bundle itself, see :mod:`.layout`.

How the pipeline calls it, for ``%%fairing_train --image-only --registry R --base-image B``::

    from fairing_magics.image.builder import AppendBuilder
    from fairing_magics.registry import Keychain, RegistryClient, Transport
    from fairing_magics.registry.publisher import RegistryPublisher

    client = RegistryClient(Transport(Keychain(hooks=[ecr_credentials]),   # hooks: aws module
                                      insecure_registries=config.insecure_registries))
    image = AppendBuilder(client, log=view.status).build(bundle, B, python=None, platform=None)
    ref = RegistryPublisher(client, progress=view.progress).publish(image, R)
    print(ref)                                                  # R@sha256:...

Share one client (and keep the builder and publisher) for the kernel's life: the base
resolution, auth tokens and the set of blobs known to be in the registry are remembered, so a
code-only change costs a handful of small requests and an unchanged cell one.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import BuildError, RegistryError, redact
from fairing_magics.image.deps import DEFAULT_GLIBC, Target, dependency_layer, python_minor
from fairing_magics.image.image import BaseImage, Image, append_layers
from fairing_magics.image.layout import code_layer, runtime_changes


class Builder(Protocol):
    """Builds the image that runs a bundle."""

    def build(self, bundle: Bundle, base_ref: str | None, *, python: str | None = None,
              platform: str | None = None) -> Image: ...


def _requirement_name(requirement: str) -> str:
    name = requirement.strip()
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " ", "@"):
        name = name.split(sep, 1)[0]
    return name.strip().lower().replace("_", "-")


def runtime_requirements(bundle: Bundle) -> list[str]:
    """The bundle's requirements, plus this kernel's cloudpickle when the bundle pickles anything."""
    reqs = [r for r in bundle.requirements if r.strip()]
    if (bundle.pickle or bundle.outputs) and "cloudpickle" not in {_requirement_name(r) for r in reqs}:
        import cloudpickle

        reqs.append(f"cloudpickle=={cloudpickle.__version__}")
    return reqs


def base_python(base: BaseImage | None) -> str | None:
    """The base image's Python minor version when its config says (``PYTHON_VERSION`` of the
    official images), else None."""
    if base is None:
        return None
    version = base.env.get("PYTHON_VERSION", "")
    return python_minor(version) if version[:2] == "3." else None


class AppendBuilder:
    """A :class:`Builder` that appends a dependency layer and a code layer to a base image.

    ``client`` is a :class:`~fairing_magics.registry.client.RegistryClient` (to read the base);
    ``log`` receives one-line messages for the user (the resolved base digest);
    ``installer`` is ``auto`` (uv when present), ``uv`` or ``pip``; ``index`` the
    :class:`~fairing_magics.image.package_index.PackageIndex` (None: decided by
    :func:`~fairing_magics.image.package_index.choose_index` from pip's configuration at each build).
    """

    def __init__(self, client=None, *, cache_dir: str | Path | None = None, installer: str = "auto",
                 log: Callable[[str], None] | None = None, index=None):
        if client is None:
            from fairing_magics.registry.client import RegistryClient

            client = RegistryClient()
        self.client = client
        self.cache_dir = cache_dir
        self.installer = installer
        self.log = log or (lambda message: None)
        self.index = index
        self._libcs: dict[str, object] = {}
        self._bases: dict[tuple[str, str], tuple[str, BaseImage]] = {}
        self._lock = threading.Lock()

    def resolve_base(self, base_ref: str, platform: str | None = None) -> BaseImage:
        """The base image for ``platform``, pinned to a digest. A digest ref is read once per
        builder; a tag costs one ``HEAD`` to see whether it moved."""
        from fairing_magics.registry.reference import parse_reference

        ref = parse_reference(base_ref)
        key = (str(ref), platform or "")
        with self._lock:
            cached = self._bases.get(key)
        try:
            if cached is not None:
                if ref.digest:
                    return cached[1]
                if self.client.manifest_digest(ref) == cached[0]:
                    return cached[1]
            base = self.client.resolve_base(ref, platform)
            tag_digest = base.source_digest
        except RegistryError as exc:
            raise BuildError(f"Cannot read the base image {base_ref}: {exc} Check --base-image and that "
                             "the registry is reachable.") from exc
        with self._lock:
            self._bases[key] = (tag_digest, base)
        return base

    def build(self, bundle: Bundle, base_ref: str | None, *, python: str | None = None,
              platform: str | None = None) -> Image:
        """The image that runs ``bundle`` on ``base_ref`` (None: an empty base, for tests).

        The target of the dependency layer: ``python`` (minor version, e.g. ``3.11``), else the
        base's ``PYTHON_VERSION``, else the bundle's (the kernel's) Python; ``platform`` (e.g.
        ``linux/arm64``), else the base's, else ``linux/amd64``.
        """
        guess = self._cached_base(base_ref, platform) if base_ref else None
        pending = None
        if base_ref and guess is None:
            base = self.resolve_base(base_ref, platform)
        elif base_ref:
            # Check the tag while the layers are made: the check's round trip costs no time.
            pending = _in_thread(lambda: self.resolve_base(base_ref, platform))
            base = guess
        else:
            base = None
        code = code_layer(bundle)
        deps = self._deps_layer(bundle, base, python, platform)
        if pending is not None:
            resolved = pending()
            if resolved is not base:  # the tag moved: the target may have changed too
                base = resolved
                deps = self._deps_layer(bundle, base, python, platform)
        if base is not None:
            self.log(f"base image {base_ref} -> {base.ref}")
        layers = [layer for layer in (deps, code) if layer is not None]
        return append_layers(base, layers, **runtime_changes(bundle, base.env if base else {}, with_deps=deps is not None))

    def _cached_base(self, base_ref: str, platform: str | None) -> BaseImage | None:
        from fairing_magics.registry.reference import parse_reference

        with self._lock:
            cached = self._bases.get((str(parse_reference(base_ref)), platform or ""))
        return cached[1] if cached is not None else None

    def _deps_layer(self, bundle: Bundle, base: BaseImage | None, python: str | None, platform: str | None):
        from fairing_magics.image.package_index import choose_index

        requirements = runtime_requirements(bundle)
        if not requirements:
            return None
        default = f"{sys.version_info[0]}.{sys.version_info[1]}"
        version = python or base_python(base) or python_minor(bundle.python or default)
        index = self.index if self.index is not None else choose_index()
        if index.url or index.extra_urls:
            self.log(f"packages from {redact(index.shown)}")
        target = Target(python=python_minor(version), platform=platform or (base.platform if base else "linux/amd64"),
                        **self._libc_of(base))
        return dependency_layer(requirements, target, cache_dir=self.cache_dir, installer=self.installer, index=index)

    def _libc_of(self, base: BaseImage | None) -> dict[str, str]:
        """``Target`` fields for ``base``'s C library, read once per digest (:mod:`.libc`)."""
        from fairing_magics.image.libc import read_base_libc

        if base is None:
            return {}
        with self._lock:
            libc = self._libcs.get(base.ref)
        if libc is None:
            libc = read_base_libc(self.client, base, self.cache_dir)
            with self._lock:
                self._libcs[base.ref] = libc
            if libc.known:
                how = "cached" if libc.cached else f"read in {libc.seconds:.2f}s, {libc.bytes_read / 1e6:.1f} MB"
                self.log(f"base C library: {libc.describe()} (/{libc.path}, {how})")
            else:
                self.log(f"could not tell the base image's C library (no libc found in its layers, or they could "
                         f"not be read); "
                         f"installing wheels for glibc {DEFAULT_GLIBC} (manylinux_{DEFAULT_GLIBC.replace('.', '_')})")
        if libc.family == "musl":
            return {"musl": libc.version}
        if libc.family == "glibc":
            return {"glibc": libc.version}
        return {}


def _in_thread(fn):
    """Run ``fn`` in a thread; return a callable that waits for its result (or raises its error)."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="fairing-base-check", daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    return wait
