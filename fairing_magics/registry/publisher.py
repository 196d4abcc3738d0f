"""The ``Publisher`` role: put an :class:`~fairing_magics.image.image.Image` in a repository,
return its reference by digest (``registry/repository@sha256:...``).

:class:`RegistryPublisher` pushes over the registry API (:func:`~.push.push_image`) and
remembers, for its life, which blobs each repository holds: keep one per kernel, and a rebuilt
image whose base and dependency layers did not change sends only its new code layer, config and
manifest. See :mod:`fairing_magics.image.builder` for how the pipeline calls it.
"""

from __future__ import annotations

import threading
from typing import Protocol

from fairing_magics.image.image import Image
from fairing_magics.registry.client import RegistryClient
from fairing_magics.registry.push import DEFAULT_PARALLEL, ProgressCallback, push_image


class Publisher(Protocol):
    """Publishes an image and returns ``repository@sha256:...``."""

    def publish(self, image: Image, repository: str) -> str: ...


class RegistryPublisher:
    """A :class:`Publisher` that pushes to an OCI registry, only what the registry lacks.

    ``progress(done_bytes, total_bytes, what)`` is called as blobs go out (from worker threads);
    ``tag`` also tags each published image (the returned ref is by digest all the same);
    ``parallel`` bounds the concurrent blob uploads.
    """

    def __init__(self, client: RegistryClient | None = None, *, progress: ProgressCallback | None = None,
                 tag: str | None = None, parallel: int = DEFAULT_PARALLEL):
        self.client = client if client is not None else RegistryClient()
        self.progress = progress
        self.tag = tag
        self.parallel = parallel
        self.known: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def publish(self, image: Image, repository: str, *, progress: ProgressCallback | None = None) -> str:
        """Push ``image`` to ``repository`` (``registry/name``); return ``registry/name@sha256:...``."""
        with self._lock:  # one push at a time shares the known-blob set safely
            return push_image(self.client, image, repository, tag=self.tag, progress=progress or self.progress,
                              parallel=self.parallel, known=self.known)
