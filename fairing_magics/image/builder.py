""":class:`AppendBuilder`: the builder that needs no daemon.

A builder (:class:`~fairing_magics.image.roles.Builder`) makes the image of a *source* on a base
image, as a :class:`~fairing_magics.image.roles.BuildRequest` says. The builders:

- :class:`AppendBuilder` (``--builder append``, the default): a training bundle;
- :class:`~fairing_magics.image.serving.ServingBuilder`: a model's serving image, the append
  builder with another :class:`~fairing_magics.image.layout.Payload`;
- :class:`~fairing_magics.image.docker_builder.DockerBuilder` (``--builder docker``): a
  training bundle, built by a Docker Engine.

:class:`AppendBuilder` appends our layers to a base image, the way ko and Jib do, with nothing
run in the image: the base's layers stay where they are (the publisher mounts them), and two
layers are added:

1. the dependency layer (``/fairing/deps``): the payload's pinned requirements, installed from
   wheels for the base's Python, platform and C library (read from the base's layers once per
   digest, :mod:`.base`), from the request's package index (:mod:`.package_index`); cached,
   see :mod:`.deps`;
2. the payload's own layer: the bundle (:mod:`.layout`), or the model folder (:mod:`.serving`).

Every daemonless image goes through :meth:`AppendBuilder.append`, so a training image and a
serving image get the same index and the same wheel target by construction.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import redact
from fairing_magics.image.base import BaseResolver, base_python
from fairing_magics.image.deps import Target, dependency_layer, python_minor
from fairing_magics.image.layout import Payload, bundle_payload
from fairing_magics.image.roles import BuildRequest, Emit, quiet
from fairing_magics.oci.image import BaseImage, Image, append_layers
from fairing_magics.oci.layer import Layer
from fairing_magics.registry.client import RegistryClient


class AppendBuilder:
    """A :class:`~fairing_magics.image.roles.Builder` that appends a dependency layer and a
    payload's layer to a base image.

    ``client`` reads the base image (None: only empty bases, for tests); ``bases``: a
    :class:`~fairing_magics.image.base.BaseResolver` to share with other builders (default: one
    of its own); ``installer`` is ``auto`` (uv when present), ``uv`` or ``pip``; ``cache_dir``
    holds the dependency layers and C library answers (default ``~/.cache/fairing-magics``).
    """

    def __init__(self, client: RegistryClient | None = None, *, bases: BaseResolver | None = None,
                 cache_dir: str | Path | None = None, installer: str = "auto"):
        self.bases = bases or BaseResolver(client, cache_dir=cache_dir)
        self.cache_dir = cache_dir
        self.installer = installer

    def build(self, source: Bundle, request: BuildRequest, emit: Emit = quiet) -> Image:
        """The image that runs the training bundle ``source``."""
        return self.append(bundle_payload(source), request, emit)

    def append(self, payload: Payload, request: BuildRequest, emit: Emit = quiet) -> Image:
        """The image of ``payload`` on the request's base.

        The target of the dependency layer: the request's Python, else the base's
        ``PYTHON_VERSION``, else the payload's; the request's platform, else the base's, else
        ``linux/amd64``; the base's C library.
        """
        ref, platform = request.base, request.platform
        base = guess = self.bases.cached(ref, platform) if ref else None
        pending = None
        if ref and guess is None:
            base = self.bases.resolve(ref, platform)
        elif ref:
            # Check the tag while the layers are made: the check's round trip costs no time.
            pending = _in_thread(lambda: self.bases.resolve(ref, platform))
        own = payload.layer()
        deps = self._deps_layer(payload, base, request, emit)
        if pending is not None:
            resolved = pending()
            if resolved is not base:  # the tag moved: the target may have changed too
                base = resolved
                deps = self._deps_layer(payload, base, request, emit)
        if base is not None:
            emit(ev.Notice(f"base image {ref} -> {base.ref}"))
        layers = [layer for layer in (deps, own) if layer is not None]
        config = payload.config(base.env if base else {}, with_deps=deps is not None)
        return append_layers(base, layers, **config)

    def _deps_layer(self, payload: Payload, base: BaseImage | None, request: BuildRequest,
                    emit: Emit) -> Layer | None:
        if not payload.requirements:
            return None
        index = request.index
        if index.url or index.extra_urls:
            emit(ev.Notice(f"packages from {redact(index.shown)}"))
        return dependency_layer(payload.requirements, self._target(payload, base, request, emit),
                                cache_dir=self.cache_dir, installer=self.installer, index=index)

    def _target(self, payload: Payload, base: BaseImage | None, request: BuildRequest,
                emit: Emit) -> Target:
        """The wheels' target: Python, platform and C library (see :meth:`append`)."""
        python = request.python or base_python(base) or python_minor(payload.python)
        platform = request.platform or (base.platform if base else "linux/amd64")
        libc = self.bases.libc(base, emit) if base is not None else None
        fields = {libc.family: libc.version} if libc is not None and libc.known else {}
        return Target(python=python_minor(python), platform=platform, **fields)


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
