""":class:`RegistryPublisher`: puts an :class:`~fairing_magics.oci.image.Image` in a repository
over the registry API and returns its reference by digest (``registry/repository@sha256:...``).

It pushes with :func:`~.push.push_image` and remembers, for its life, which blobs each
repository holds: keep one per kernel, and a rebuilt image whose base and dependency layers did
not change sends only its new code layer, config and manifest. It is the publisher of the
daemonless builders (:mod:`fairing_magics.image.publish` says how the pipeline calls it).
"""

from __future__ import annotations

import threading

from fairing_magics.oci.image import Image
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.client import RegistryClient
from fairing_magics.registry.push import DEFAULT_PARALLEL, ProgressCallback, push_image


class RegistryPublisher:
    """Pushes images to an OCI registry, only what the registry lacks.

    ``parallel`` bounds the concurrent blob uploads; the blobs seen in each repository are
    remembered across calls (one push at a time shares them safely).
    """

    def __init__(self, client: RegistryClient, *, parallel: int = DEFAULT_PARALLEL):
        self.client = client
        self.parallel = parallel
        self.known: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def publish(self, image: Image, repository: Reference, *, tag: str = "",
                progress: ProgressCallback | None = None) -> Reference:
        """Push ``image`` to ``repository`` (also as ``tag`` when given); return it by digest.

        ``progress(done_bytes, total_bytes, what)`` is called as blobs go out (from worker
        threads)."""
        with self._lock:
            return push_image(self.client, image, repository, tag=tag or None, progress=progress,
                              parallel=self.parallel, known=self.known)
