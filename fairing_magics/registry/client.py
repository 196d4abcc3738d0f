"""Registry operations of the OCI distribution spec, one method each, over one :class:`Transport`.

Reading: :meth:`RegistryClient.get_manifest`, :meth:`~RegistryClient.resolve_base` (an index is
narrowed to one platform, ``linux/amd64`` unless told), :meth:`~RegistryClient.get_blob`.
Writing: :meth:`~RegistryClient.head_blob`, :meth:`~RegistryClient.mount_blob` (cross-repository
mount; a refused mount returns False so the caller uploads instead),
:meth:`~RegistryClient.upload_blob` (monolithic ``POST`` + ``PUT``, or chunked ``PATCH`` s for
big blobs), :meth:`~RegistryClient.put_manifest`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urljoin

from fairing_magics.errors import BuildError, RegistryError
from fairing_magics.oci.image import BaseImage
from fairing_magics.oci.manifest import ACCEPT_ANY_MANIFEST, INDEX_TYPES, Descriptor
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.auth import repository_scope
from fairing_magics.registry.transport import Transport

CHUNK_THRESHOLD = 64 << 20  # blobs larger than this are sent in chunks
CHUNK_SIZE = 16 << 20
DEFAULT_PLATFORM = "linux/amd64"

Opener = Callable[[], BinaryIO]
ByteCallback = Callable[[int], None]  # called with the number of bytes sent so far for one blob


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _CountingReader:
    """A file-like body that reports the bytes read (for progress) and knows its length."""

    def __init__(self, stream: BinaryIO, length: int, on_bytes: ByteCallback | None):
        self.stream = stream
        self.length = length
        self.done = 0
        self.on_bytes = on_bytes

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        remaining = self.length - self.done
        if remaining <= 0:
            return b""
        data = self.stream.read(remaining if size is None or size < 0 else min(size, remaining))
        self.done += len(data)
        if self.on_bytes is not None and data:
            self.on_bytes(self.done)
        return data

    def close(self) -> None:
        self.stream.close()


def parse_platform(text: str) -> tuple[str, str, str]:
    """``linux/arm64/v8`` -> (os, architecture, variant)."""
    parts = (text or DEFAULT_PLATFORM).split("/")
    if len(parts) < 2:
        raise BuildError(f"--platform {text!r} is not OS/ARCH (for example linux/amd64).")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def platform_of(entry: dict) -> str:
    """``os/architecture[/variant]`` of an index entry (``unknown/unknown`` for attestations)."""
    plat = entry.get("platform") or {}
    return "/".join(filter(None, (plat.get("os"), plat.get("architecture"), plat.get("variant"))))


def select_platform(index: dict, platform: str | None, what: str) -> dict:
    """The entry of ``index`` (a parsed image index / manifest list) for ``platform`` (default
    ``linux/amd64``; a variant is matched only when asked for); :class:`BuildError` naming the
    platforms it has when there is none. ``what`` starts the message (``The base image REF``)."""
    want_os, want_arch, want_variant = parse_platform(platform or DEFAULT_PLATFORM)
    for entry in index.get("manifests") or []:
        plat = entry.get("platform") or {}
        if plat.get("os") == want_os and plat.get("architecture") == want_arch and \
                (not want_variant or plat.get("variant", "") == want_variant):
            return entry
    found = sorted({platform_of(entry) for entry in index.get("manifests") or []})
    raise BuildError(f"{what} has no {platform or DEFAULT_PLATFORM} variant "
                     f"(it has: {', '.join(found) or 'none'}). Pick one with --platform.")


class RegistryClient:
    """Speaks the distribution API to any registry through one :class:`Transport`."""

    def __init__(self, transport: Transport | None = None):
        self.transport = transport if transport is not None else Transport()

    # -- small helpers -------------------------------------------------------------------

    def _url(self, ref: Reference, path: str) -> str:
        return self.transport.url(ref.api_host, f"/v2/{ref.repository}{path}")

    @staticmethod
    def _scopes(ref: Reference, actions: str, *extra: str) -> tuple[str, ...]:
        return (repository_scope(ref.repository, actions), *extra)

    # -- reading -------------------------------------------------------------------------

    def get_manifest(self, ref: Reference,
                     accept: str = ACCEPT_ANY_MANIFEST) -> tuple[bytes, str, str]:
        """``(bytes, media_type, digest)`` of the manifest ``ref`` names (tag or digest)."""
        response = self.transport.request(
            "GET", self._url(ref, f"/manifests/{ref.identifier}"), scopes=self._scopes(ref, "pull"),
            headers={"Accept": accept}, what=f"reading the manifest of {ref}")
        data = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = json.loads(data).get("mediaType", "")
        digest = sha256_digest(data)
        if ref.digest and ref.digest != digest:
            raise RegistryError(f"The manifest of {ref} does not match its digest (got {digest}); "
                                "the registry or a proxy altered it.", url=response.url)
        return data, media_type, digest

    def manifest_exists(self, ref: Reference) -> bool:
        """True when the registry has the manifest ``ref`` names (one HEAD)."""
        response = self.transport.request(
            "HEAD", self._url(ref, f"/manifests/{ref.identifier}"),
            scopes=self._scopes(ref, "pull"),
            headers={"Accept": ACCEPT_ANY_MANIFEST}, ok=(200, 404), what=f"checking {ref}")
        response.close()
        return response.status_code == 200

    def manifest_digest(self, ref: Reference) -> str:
        """The digest the registry gives the manifest ``ref`` names (one HEAD; a GET if it says
        none)."""
        response = self.transport.request(
            "HEAD", self._url(ref, f"/manifests/{ref.identifier}"),
            scopes=self._scopes(ref, "pull"),
            headers={"Accept": ACCEPT_ANY_MANIFEST}, what=f"checking {ref}")
        response.close()
        digest = response.headers.get("Docker-Content-Digest", "")
        return digest or self.get_manifest(ref)[2]

    def get_blob(self, ref: Reference, digest: str) -> bytes:
        """The bytes of blob ``digest`` in ``ref``'s repository, checked against the digest."""
        response = self.transport.request("GET", self._url(ref, f"/blobs/{digest}"),
                                          scopes=self._scopes(ref, "pull"),
                                          what=f"reading blob {digest[:19]}")
        data = response.content
        if sha256_digest(data) != digest:
            raise RegistryError(f"Blob {digest} of {ref.name} does not match its digest.",
                                url=response.url)
        return data

    def open_blob(self, ref: Reference, digest: str):
        """A streamed response for blob ``digest`` (read ``.raw``; close it)."""
        return self.transport.request("GET", self._url(ref, f"/blobs/{digest}"),
                                      scopes=self._scopes(ref, "pull"),
                                      stream=True, what=f"reading blob {digest[:19]}")

    def resolve_base(self, ref: Reference, platform: str | None = None) -> BaseImage:
        """The base image ``ref`` names, for one platform, pinned to its manifest digest."""
        data, media_type, digest = self.get_manifest(ref)
        source_digest = digest
        if media_type in INDEX_TYPES:
            ref = ref.with_digest(select_platform(json.loads(data), platform,
                                                  f"The base image {ref}")["digest"])
            data, media_type, digest = self.get_manifest(ref)
        manifest = json.loads(data)
        if "config" not in manifest or "layers" not in manifest:
            raise BuildError(f"The base image {ref} is not an image manifest ({media_type}); "
                             "it may be a schema 1 image: push it again with a current tool.")
        config_digest = manifest["config"]["digest"]
        config_bytes = self.get_blob(ref, config_digest)
        layers = tuple(Descriptor.from_json(layer) for layer in manifest["layers"])
        return BaseImage(ref=ref.with_digest(digest),
                         media_type=media_type or manifest.get("mediaType", ""),
                         config_bytes=config_bytes, layers=layers, source_digest=source_digest)

    # -- writing -------------------------------------------------------------------------

    def head_blob(self, ref: Reference, digest: str) -> bool:
        """True when blob ``digest`` is in ``ref``'s repository."""
        response = self.transport.request("HEAD", self._url(ref, f"/blobs/{digest}"),
                                          scopes=self._scopes(ref, "pull,push"), ok=(200, 404),
                                          what=f"checking blob {digest[:19]}")
        response.close()
        return response.status_code == 200

    def mount_blob(self, ref: Reference, digest: str, source: Reference) -> bool:
        """Mount blob ``digest`` from ``source``'s repository (same registry) into ``ref``'s.

        True when mounted; False when the registry refused (ECR without opt-in, a source we may
        not read): the caller then uploads the blob.
        """
        response = self.transport.request(
            "POST", self._url(ref, "/blobs/uploads/"),
            params={"mount": digest, "from": source.repository},
            scopes=self._scopes(ref, "pull,push", repository_scope(source.repository, "pull")),
            headers={"Content-Length": "0"}, ok=(201, 202), what=f"mounting blob {digest[:19]}")
        response.close()
        if response.status_code == 202:  # an upload session was opened instead: leave it to expire
            return False
        return True

    def upload_blob(self, ref: Reference, digest: str, size: int, opener: Opener,
                    on_bytes: ByteCallback | None = None, chunk_size: int = CHUNK_SIZE,
                    chunk_threshold: int = CHUNK_THRESHOLD) -> None:
        """Upload blob ``digest`` (``size`` bytes, read from ``opener()``) into ``ref``'s
        repository."""
        scopes = self._scopes(ref, "pull,push")
        response = self.transport.request("POST", self._url(ref, "/blobs/uploads/"), scopes=scopes,
                                          headers={"Content-Length": "0"}, ok=(202,),
                                          what=f"starting the upload of blob {digest[:19]}")
        location = urljoin(response.url, response.headers["Location"])
        response.close()
        if size > chunk_threshold:
            location = self._send_chunks(location, size, opener, on_bytes, chunk_size, scopes,
                                         digest)
            body: object = b""
            headers = {"Content-Length": "0", "Content-Type": "application/octet-stream"}
        else:
            def body():
                return _CountingReader(opener(), size, on_bytes)
            headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            response = self.transport.request("PUT", location, params={"digest": digest},
                                              scopes=scopes, headers=headers, body=body, ok=(201,),
                                              what=f"uploading blob {digest[:19]}")
            response.close()
        except RegistryError as exc:
            # A reset after the registry stored the blob makes the retried PUT find no session:
            # the blob is there all the same.
            if (exc.status == 404 and "BLOB_UPLOAD_UNKNOWN" in exc.codes
                    and self.head_blob(ref, digest)):
                return
            raise

    def _send_chunks(self, location: str, size: int, opener: Opener, on_bytes: ByteCallback | None,
                     chunk_size: int, scopes: tuple[str, ...], digest: str) -> str:
        offset = 0
        while offset < size:
            length = min(chunk_size, size - offset)
            start = offset

            def chunk(start=start, length=length):
                stream = opener()
                stream.seek(start)
                return _CountingReader(stream, length,
                                       (lambda n, s=start: on_bytes(s + n)) if on_bytes else None)

            response = self.transport.request(
                "PATCH", location, scopes=scopes, body=chunk, ok=(202,),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(length),
                         "Content-Range": f"{start}-{start + length - 1}"},
                what=f"uploading blob {digest[:19]} (bytes {start}-{start + length - 1})")
            location = urljoin(response.url, response.headers["Location"])
            response.close()
            offset += length
        return location

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """PUT ``data`` as the manifest ``ref`` names (a tag or its digest); return its digest."""
        digest = sha256_digest(data)
        response = self.transport.request(
            "PUT", self._url(ref, f"/manifests/{ref.identifier}"),
            scopes=self._scopes(ref, "pull,push"),
            headers={"Content-Type": media_type}, body=data, ok=(201,),
            what=f"putting the manifest of {ref.name}")
        response.close()
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != digest:
            raise RegistryError(f"The registry stored the manifest of {ref.name} under {returned}, "
                                f"not {digest}: it rewrote it. Use another registry.",
                                url=response.url)
        return digest
