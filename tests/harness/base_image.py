"""The Python base image of the tests, pushed to the test registry with OUR registry client.

The debootstrap rootfs (:func:`tests.harness.rootfs.ensure_python_rootfs`, Debian bookworm,
``/usr/bin/python3`` 3.11) is gzip'd once (cached next to it, gzip header mtime 0) and pushed as
a single layer with a minimal config. :func:`push_platform_index` also makes a multi-platform
index (linux/amd64 = that image, linux/arm64 = a tiny placeholder image) to test platform
selection.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
from dataclasses import dataclass

from fairing_magics.oci.image import append_layers
from fairing_magics.oci.layer import Layer, TarEntry, layer_from_entries
from fairing_magics.oci.manifest import OCI_INDEX, canonical_json
from fairing_magics.oci.reference import parse_reference
from fairing_magics.registry.client import RegistryClient
from fairing_magics.registry.push import push_image
from tests.harness.rootfs import ensure_python_rootfs

BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class PushedBase:
    """The base image in the test registry: ``ref`` by digest, ``tag_ref`` by tag, ``index_ref``
    a multi-platform index whose linux/amd64 entry is ``ref``."""

    ref: str
    tag_ref: str
    index_ref: str
    layer_digest: str
    registry: str


def python_base_layer() -> Layer:
    """The rootfs as one gzip'd layer, compressed once and cached beside the rootfs tar."""
    tar_path = ensure_python_rootfs()
    gz_path = tar_path.with_name("rootfs.tar.gz")
    meta_path = tar_path.with_name("rootfs.tar.gz.json")
    with open(tar_path.with_name(".gzlock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (gz_path.exists() and meta_path.exists()):
            compressed, uncompressed = hashlib.sha256(), hashlib.sha256()
            tmp = gz_path.with_suffix(".tmp")
            with open(tar_path, "rb") as src, open(tmp, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                   compresslevel=6) as gz:
                    while chunk := src.read(1 << 20):
                        uncompressed.update(chunk)
                        gz.write(chunk)
            with open(tmp, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    compressed.update(chunk)
            meta = {"digest": "sha256:" + compressed.hexdigest(),
                    "diff_id": "sha256:" + uncompressed.hexdigest(), "size": tmp.stat().st_size}
            os.replace(tmp, gz_path)
            meta_path.write_text(json.dumps(meta))
        meta = json.loads(meta_path.read_text())
    return Layer(description="debootstrap --variant=minbase --include=python3 bookworm",
                 path=gz_path, known=(meta["digest"], meta["diff_id"], meta["size"]))


def push_python_base(client: RegistryClient, registry: str, repository: str = "base/python",
                     tag: str = "3.11") -> PushedBase:
    """Push the Python base to ``registry/repository:tag``; also push a platform index for it."""
    layer = python_base_layer()
    image = append_layers(None, [layer], env=BASE_ENV, cmd=["python3"])
    name = f"{registry}/{repository}"
    ref = str(push_image(client, image, parse_reference(name), tag=tag))
    index_ref = push_platform_index(client, name, image.digest, len(image.manifest_bytes),
                                    image.media_type, tag=f"{tag}-multi")
    return PushedBase(ref=ref, tag_ref=f"{name}:{tag}", index_ref=index_ref,
                      layer_digest=layer.digest, registry=registry)


def push_platform_index(client: RegistryClient, name: str, amd64_digest: str, amd64_size: int,
                        media_type: str, tag: str) -> str:
    """Push an OCI index (arm64 placeholder first, then amd64) and return ``name:tag``."""
    arm_layer = layer_from_entries([TarEntry("etc/arm64-placeholder", data=b"not a real base\n")],
                                   "placeholder")
    arm = append_layers(None, [arm_layer], cmd=["true"])
    arm_cfg = dict(arm.config, architecture="arm64", variant="v8")
    arm = type(arm)(format=arm.format, config_bytes=canonical_json(arm_cfg), layers=arm.layers)
    push_image(client, arm, parse_reference(name))
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": arm.media_type, "digest": arm.digest, "size": len(arm.manifest_bytes),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": media_type, "digest": amd64_digest, "size": amd64_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }
    client.put_manifest(parse_reference(f"{name}:{tag}"), canonical_json(index), OCI_INDEX)
    return f"{name}:{tag}"


def rootfs_ready() -> bool:
    """True when the rootfs is cached or can be built here (debootstrap as root)."""
    from tests.harness.rootfs import CACHE_ROOT, ROOTFS_VERSION, debootstrap_available

    return (CACHE_ROOT / ROOTFS_VERSION / "rootfs.tar").exists() or debootstrap_available()

