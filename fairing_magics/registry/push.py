"""Pushing an :class:`~fairing_magics.oci.image.Image`: only the blobs the registry lacks.

:func:`push_image` does, in order:

1. ``HEAD`` the manifest by digest: when the registry has it, the image is there, nothing else
   is sent (a re-run of an unchanged cell costs one request). Skipped when ``known`` shows this
   session pushed to the repository before but never saw this image's config: it cannot be there;
2. for each blob, in parallel with a bound:
   - a base layer on the same registry is mounted from the base repository (one request; a
     refused mount, as ECR does without opt-in, falls back to copying it);
   - a base layer from another registry is copied (streamed through a temporary file) unless a
     ``HEAD`` finds it;
   - our layers and the config: a ``HEAD`` first, then an upload when missing; blobs smaller than
     ``SMALL_BLOB`` skip the ``HEAD`` (uploading them again costs less than asking);
   - blobs seen in this repository earlier in the process (``known``) are skipped outright;
3. ``PUT`` the manifest by its digest (and under ``tag`` when given), only after every blob made
   it: a push that fails leaves no manifest behind.

It returns the :class:`~fairing_magics.oci.reference.Reference` by digest
(``registry/repository@sha256:...``). ``progress(done_bytes, total_bytes, what)`` is called as
bytes go out.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable, MutableSet, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from fairing_magics.errors import RegistryError
from fairing_magics.oci.image import Image
from fairing_magics.oci.layer import Layer
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.client import RegistryClient

ProgressCallback = Callable[[int, int, str], None]
T = TypeVar("T")
SMALL_BLOB = 256 << 10
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class _Blob:
    digest: str
    size: int
    what: str
    layer: Layer | None = None  # one of ours
    data: bytes | None = None  # the config
    base: Reference | None = None  # a base layer, readable from this repository


class _Progress:
    """Sums per-blob byte counts (a retried blob starts again from 0) and reports the total."""

    def __init__(self, total: int, callback: ProgressCallback | None):
        self.total = total
        self.callback = callback
        self.done: dict[str, int] = {}
        self.lock = threading.Lock()

    def update(self, digest: str, sent: int, what: str) -> None:
        if self.callback is None:
            return
        with self.lock:
            self.done[digest] = sent
            done = sum(self.done.values())
        self.callback(min(done, self.total), self.total, what)


def _blobs_of(image: Image) -> list[_Blob]:
    blobs: list[_Blob] = []
    if image.base is not None:
        source = image.base.ref
        for i, desc in enumerate(image.base.layers):
            blobs.append(_Blob(desc.digest, desc.size,
                               f"base layer {i + 1}/{len(image.base.layers)}", base=source))
    for layer in image.layers:
        blobs.append(_Blob(layer.digest, layer.size, layer.description, layer=layer))
    config = image.config_descriptor
    blobs.append(_Blob(config.digest, config.size, "image config", data=image.config_bytes))
    seen: set[str] = set()
    unique = []
    for blob in blobs:  # an image may hold the same layer twice (e.g. an empty layer)
        if blob.digest not in seen:
            seen.add(blob.digest)
            unique.append(blob)
    return unique


def push_image(client: RegistryClient, image: Image, repository: Reference, *,
               tag: str | None = None, progress: ProgressCallback | None = None,
               parallel: int = DEFAULT_PARALLEL,
               known: MutableSet[tuple[str, str]] | None = None) -> Reference:
    """Push ``image`` to ``repository`` (``registry/name``, or with a tag: also tagged so);
    return the reference by digest, ``registry/name@sha256:...``.

    ``known`` holds ``(repository name, blob digest)`` pairs already seen in the registry; it is
    consulted and extended, so a publisher that keeps it skips ``HEAD`` requests on later pushes.
    """
    target = repository
    tag = tag or target.tag or None
    pinned = target.with_digest(image.digest)
    known = known if known is not None else set()
    # Ask whether the image is there unless we know better: in a session that pushed to this
    # repository before, an image whose config we never saw cannot be there (short of another
    # client pushing the very same bytes, which costs a re-upload of small blobs, no error).
    warm = any(name == target.name for name, _ in list(known))
    seen_config = (target.name, image.config_descriptor.digest) in known
    if (not warm or seen_config) and client.manifest_exists(pinned):
        if tag:
            client.put_manifest(target.with_tag(tag), image.manifest_bytes, image.media_type)
        if progress is not None:
            progress(0, 0, "image already in the registry")
        return pinned
    try:
        return _push_missing(client, image, target, pinned, tag, progress, parallel, known)
    except RegistryError as exc:
        if "MANIFEST_BLOB_UNKNOWN" not in exc.codes or not any(k[0] == target.name for k in known):
            raise
        # A blob we remembered was deleted since (garbage collection): forget and check them all.
        for entry in [k for k in known if k[0] == target.name]:
            known.discard(entry)
        return _push_missing(client, image, target, pinned, tag, progress, parallel, known)


def _push_missing(client: RegistryClient, image: Image, target: Reference, pinned: Reference,
                  tag: str | None, progress: ProgressCallback | None, parallel: int,
                  known: MutableSet[tuple[str, str]]) -> Reference:
    blobs = [b for b in _blobs_of(image) if (target.name, b.digest) not in known]
    meter = _Progress(sum(b.size for b in blobs), progress)

    def transfer(blob: _Blob) -> None:
        _push_blob(client, target, blob, meter)
        known.add((target.name, blob.digest))

    run_bounded(transfer, blobs, parallel)
    client.put_manifest(pinned, image.manifest_bytes, image.media_type)
    if tag:
        client.put_manifest(target.with_tag(tag), image.manifest_bytes, image.media_type)
    return pinned


def run_bounded(fn: Callable[[T], None], items: Sequence[T], parallel: int) -> None:
    """Call ``fn`` on every item, ``parallel`` at a time; the first error stops the rest and is
    raised."""
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(items))),
                              thread_name_prefix="fairing-push")
    interrupted = False
    try:
        futures = [pool.submit(fn, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and future.exception() is not None:
                for other in futures:
                    other.cancel()
                raise future.exception()
    except KeyboardInterrupt:
        # The user is waiting: do not sit out the uploads still retrying (up to ~30 s against a
        # failing registry). Queued blobs are dropped; those in flight end on their own, and
        # with no manifest pushed they are unreferenced blobs the registry collects.
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)


def _push_blob(client: RegistryClient, target: Reference, blob: _Blob, meter: _Progress) -> None:
    def sent(n: int) -> None:
        meter.update(blob.digest, n, blob.what)

    if blob.base is not None:
        transfer_blob(client, blob.base, target, blob.digest, blob.size, sent)
        return
    if blob.size >= SMALL_BLOB and client.head_blob(target, blob.digest):
        sent(blob.size)
        return
    if blob.layer is not None:
        client.upload_blob(target, blob.digest, blob.size, blob.layer.open, sent)
    else:
        data = blob.data or b""
        client.upload_blob(target, blob.digest, blob.size, lambda: _bytes_stream(data), sent)


def transfer_blob(client: RegistryClient, source: Reference, target: Reference, digest: str,
                  size: int, sent: Callable[[int], None] | None = None) -> str:
    """Put blob ``digest`` (``size`` bytes) of ``source``'s repository into ``target``'s, the
    cheapest way, and say how: ``"present"`` (the target has it), ``"mounted"`` (same registry:
    one request) or ``"copied"`` (streamed through a temporary file). ``sent(n)`` reports bytes.

    A refused mount (ECR without opt-in, no pull right on the source) and another registry both
    ``HEAD`` before copying (ECR lesson, DESIGN 7).
    """
    sent = sent or (lambda n: None)
    if source.registry == target.registry:
        if source.repository == target.repository or _try_mount(client, target, digest, source):
            sent(size)
            return "present" if source.repository == target.repository else "mounted"
    if client.head_blob(target, digest):
        sent(size)
        return "present"
    _copy_blob(client, source, digest, size, target, sent)
    return "copied"


def _try_mount(client: RegistryClient, target: Reference, digest: str, source: Reference) -> bool:
    """Mount ``digest`` from ``source``'s repository; False when the registry will not (a 202,
    or a refusal such as no pull right on the source repository), so that the caller copies it."""
    try:
        return client.mount_blob(target, digest, source)
    except RegistryError as exc:
        if exc.temporary or exc.status not in (400, 401, 403, 404, 405):
            raise
        return False


def _bytes_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


def _copy_blob(client: RegistryClient, source: Reference, digest: str, size: int, target: Reference,
               sent: Callable[[int], None]) -> None:
    """Stream blob ``digest`` from ``source``'s repository into ``target`` through a temporary
    file."""
    with tempfile.TemporaryFile(prefix="fairing-blob-") as spool:
        response = client.open_blob(source, digest)
        try:
            for chunk in response.iter_content(1 << 20):
                spool.write(chunk)
        finally:
            response.close()
        spool.flush()
        if spool.tell() != size:
            raise RegistryError(f"Blob {digest} of {source.name} came in at {spool.tell()} bytes, "
                                f"not {size}; try again.", temporary=True)

        def reopen() -> BinaryIO:
            spool.seek(0)
            return _Unclosable(spool)

        client.upload_blob(target, digest, size, reopen, sent)


class _Unclosable:
    """Lets the transport 'close' the body without closing the shared temporary file."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.stream.seek(offset, whence)

    def close(self) -> None:
        pass
