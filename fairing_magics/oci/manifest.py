"""Media types and the rendering of image manifests (OCI image spec 1.0 and Docker v2 schema 2).

Both formats have the same shape (``schemaVersion`` 2, a config descriptor and a list of layer
descriptors); they differ in media types. We write the format of the base image so that its
layer descriptors can be reused as they are; an image with no base is OCI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

OCI = "oci"
DOCKER = "docker"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = {OCI: OCI_MANIFEST, DOCKER: DOCKER_MANIFEST}
CONFIG_TYPES = {OCI: OCI_CONFIG, DOCKER: DOCKER_CONFIG}
LAYER_TYPES = {OCI: OCI_LAYER_GZIP, DOCKER: DOCKER_LAYER_GZIP}
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)

# What a client accepts when it reads a manifest by tag: an index as well as an image manifest.
ACCEPT_ANY_MANIFEST = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

# gzip layers are the same bytes in both formats; only the name differs.
_EQUIVALENT_LAYER = {
    (OCI, DOCKER_LAYER_GZIP): OCI_LAYER_GZIP,
    (DOCKER, OCI_LAYER_GZIP): DOCKER_LAYER_GZIP,
}


def format_of(media_type: str) -> str:
    """``"oci"`` or ``"docker"`` for a manifest media type."""
    return DOCKER if media_type in (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST) else OCI


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about one blob."""

    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()  # foreign layers (Windows bases) only

    def to_json(self) -> dict:
        out: dict = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, body: dict) -> Descriptor:
        return cls(
            media_type=body.get("mediaType", ""), digest=body["digest"], size=int(body["size"]),
            annotations=tuple(sorted((body.get("annotations") or {}).items())),
            urls=tuple(body.get("urls") or ()),
        )

    def in_format(self, fmt: str) -> Descriptor:
        """The same blob named with the layer media type of ``fmt`` (gzip layers only)."""
        other = _EQUIVALENT_LAYER.get((fmt, self.media_type))
        return self if other is None else Descriptor(other, self.digest, self.size,
                                                     self.annotations, self.urls)


def render_manifest(fmt: str, config: Descriptor, layers: Sequence[Descriptor],
                    annotations: dict[str, str] | None = None) -> bytes:
    """The manifest bytes (canonical JSON: sorted keys, no spaces) for ``config`` and ``layers``."""
    body: dict = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPES[fmt],
        "config": config.to_json(),
        "layers": [layer.in_format(fmt).to_json() for layer in layers],
    }
    if annotations and fmt == OCI:
        body["annotations"] = dict(annotations)
    return canonical_json(body)


def canonical_json(body: object) -> bytes:
    """JSON with sorted keys and no insignificant spaces: equal values give equal bytes."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
