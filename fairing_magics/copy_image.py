"""``fairing-magics copy-image SRC DEST``: copy an image from one registry to another, digests kept.

For base images a build cannot reach: from the AWS China regions Docker Hub is often
unreachable, so ``python:3.11-slim`` is copied once, from any machine that reaches both, into the
user's own ECR (``--base-image`` then names the copy; see :mod:`fairing_magics.base_image`).

How (our registry client, no Docker daemon, nothing unpacked or recompressed):

1. the source manifest is read by tag or digest. An image index (manifest list) is narrowed to
   one platform (``--platform``, default ``linux/amd64``: the copy is then that platform's image
   manifest), or copied whole with every manifest it lists (``--all-platforms``: the copy is the
   same index);
2. for each image manifest, its config and layers go over one at a time per blob, a few blobs in
   parallel, the cheapest way (:func:`~fairing_magics.registry.push.transfer_blob`): skipped when
   the destination has them (``HEAD``), mounted when both repositories are on one registry,
   otherwise streamed through a temporary file and uploaded; non-distributable (foreign) layers
   are left where their ``urls`` point, as registries expect;
3. the manifests are put byte for byte, children before the index that names them, so every
   digest is the source's; then the tag (DEST's, else SRC's) points at the top one.

An Amazon ECR destination gets its repository created when missing (ECR does not create
repositories on push) and ECR tokens for both ends come from the AWS credentials; other
registries use ``~/.docker/config.json`` (``docker login``). ``ecr/NAME[:TAG]`` as DEST is
completed with the caller's account and region, as ``--registry ecr/NAME`` is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from fairing_magics.aws import create_missing_repository
from fairing_magics.errors import ConfigError, RegistryError
from fairing_magics.oci.manifest import INDEX_TYPES
from fairing_magics.oci.reference import Reference, parse_reference
from fairing_magics.registry.client import RegistryClient, platform_of, select_platform
from fairing_magics.registry.push import DEFAULT_PARALLEL, run_bounded, transfer_blob

#: ``on_blob(what, digest, size, outcome)``: one call per blob, when it is in place
#: (``outcome``: ``present``, ``mounted``, ``copied`` or ``foreign``).
BlobCallback = Callable[[str, str, int, str], None]


@dataclass(frozen=True)
class CopyResult:
    """What :func:`copy_image` did. ``target`` is the copy by digest (``repo@sha256:...``)."""

    source: str
    target: str
    tag: str
    platforms: tuple[str, ...]
    manifests: int
    outcomes: tuple[tuple[str, int], ...] = field(default=())  # (outcome, size) per blob

    @property
    def digest(self) -> str:
        return self.target.split("@", 1)[1]

    def count(self, outcome: str) -> int:
        return sum(1 for what, _ in self.outcomes if what == outcome)

    def bytes(self, outcome: str) -> int:
        return sum(size for what, size in self.outcomes if what == outcome)

    def summary(self) -> str:
        """One line: what moved and what did not."""
        parts = [f"{self.count('copied')} copied ({self.bytes('copied') / 1e6:.1f} MB)"]
        for outcome, words in (("mounted", "mounted"), ("present", "already there"),
                               ("foreign", "foreign, left at their URLs")):
            if self.count(outcome):
                parts.append(f"{self.count(outcome)} {words}")
        manifests = f"{self.manifests} manifest{'s' if self.manifests > 1 else ''}"
        return f"{len(self.outcomes)} blobs: {', '.join(parts)}; {manifests} with unchanged digests"


def copy_image(client: RegistryClient, source: str, target: str, *, platform: str | None = None,
               all_platforms: bool = False, parallel: int = DEFAULT_PARALLEL,
               on_blob: BlobCallback | None = None) -> CopyResult:
    """Copy image ``source`` to ``target`` (``registry/repository[:tag]``); see the module
    docstring. Raises :class:`ConfigError` for bad references or flags and
    :class:`RegistryError` (or :class:`~fairing_magics.errors.BuildError` for a platform the
    source lacks) on the way."""
    if platform and all_platforms:
        raise ConfigError("give --platform or --all-platforms, not both")
    src = parse_reference(source)
    dst = parse_reference(target)
    if dst.digest:
        raise ConfigError(f"DEST {target!r} names a digest: give REPOSITORY or REPOSITORY:TAG "
                          "(the copy keeps the source's digest)")
    tag = dst.tag or src.tag
    copier = _Copier(client, src, dst.with_tag(""), parallel, on_blob)
    data, media_type, digest = client.get_manifest(src)
    platforms: tuple[str, ...]
    if media_type in INDEX_TYPES and not all_platforms:
        entry = select_platform(json.loads(data), platform, f"{src}")
        child = src.with_digest(entry["digest"])
        data, media_type, digest = client.get_manifest(child)
        platforms = (platform_of(entry),)
        src = child
    elif media_type in INDEX_TYPES:
        platforms = tuple(platform_of(entry) for entry in json.loads(data).get("manifests") or [])
    else:
        platforms = (copier.image_platform(src, json.loads(data), platform),)
    create_missing_repository(dst.registry, dst.repository)
    copier.copy_manifest(src, data, media_type, digest)
    pinned = dst.with_digest(digest)
    if tag:
        client.put_manifest(dst.with_tag(tag), data, media_type)
    return CopyResult(source=str(src.with_digest(digest)), target=str(pinned), tag=tag,
                      platforms=platforms, manifests=copier.manifests,
                      outcomes=tuple(copier.outcomes))


class _Copier:
    """Copies manifests (and what they refer to) from one repository to another."""

    def __init__(self, client: RegistryClient, src: Reference, dst: Reference, parallel: int,
                 on_blob: BlobCallback | None):
        self.client = client
        self.src = src
        self.dst = dst
        self.parallel = parallel
        self.on_blob = on_blob or (lambda what, digest, size, outcome: None)
        self.manifests = 0
        self.outcomes: list[tuple[str, int]] = []
        self._claimed: set[str] = set()  # blob digests being or been transferred
        self._done: set[str] = set()  # blob digests counted in outcomes
        self._lock = threading.Lock()

    def copy_manifest(self, ref: Reference, data: bytes, media_type: str, digest: str) -> None:
        """Copy the blobs of manifest ``data`` (or, for an index, each manifest it lists), then
        put ``data`` itself under its digest."""
        if self.client.manifest_exists(self.dst.with_digest(digest)):
            # A registry stores a manifest only once everything it names is there: nothing to send.
            self._skip(json.loads(data), media_type)
            return
        body = json.loads(data)
        if media_type in INDEX_TYPES:
            for entry in body.get("manifests") or []:
                child = ref.with_digest(entry["digest"])
                child_data, child_type, child_digest = self.client.get_manifest(child)
                self.copy_manifest(child, child_data, child_type, child_digest)
        else:
            if "config" not in body or "layers" not in body:
                raise RegistryError(f"{ref} is not an image manifest "
                                    f"({media_type or 'no media type'}); schema 1 images cannot "
                                    "be copied: push it again with a current tool.")
            descriptors = [("config", body["config"])]
            descriptors += [(f"layer {i + 1}/{len(body['layers'])}", layer)
                            for i, layer in enumerate(body["layers"])]
            run_bounded(self._copy_blob, descriptors, self.parallel)
        self.client.put_manifest(self.dst.with_digest(digest), data, media_type)
        self.manifests += 1

    def _skip(self, body: dict, media_type: str) -> None:
        """Count the blobs of a manifest the destination has already (an index's manifests are
        read from the destination too: the source may be the slow one)."""
        if media_type in INDEX_TYPES:
            for entry in body.get("manifests") or []:
                child_data, child_type, _ = self.client.get_manifest(
                    self.dst.with_digest(entry["digest"]))
                self._skip(json.loads(child_data), child_type)
        else:
            for what, descriptor in [("config", body.get("config") or {}), *(
                    (f"layer {i + 1}", layer) for i, layer in enumerate(body.get("layers") or []))]:
                self._record(what, descriptor["digest"], int(descriptor["size"]), "present")
        self.manifests += 1

    def _record(self, what: str, digest: str, size: int, outcome: str) -> None:
        with self._lock:
            if digest in self._done:
                return
            self._done.add(digest)
            self.outcomes.append((outcome, size))
        self.on_blob(what, digest, size, outcome)

    def _copy_blob(self, item: tuple[str, dict]) -> None:
        what, descriptor = item
        digest, size = descriptor["digest"], int(descriptor["size"])
        with self._lock:
            if digest in self._claimed:  # a layer two platforms share goes over once
                return
            self._claimed.add(digest)
        if descriptor.get("urls"):
            # non-distributable: registries serve it from its URLs, not as a blob
            outcome = "foreign"
        else:
            outcome = transfer_blob(self.client, self.src, self.dst, digest, size)
        self._record(what, digest, size, outcome)

    def image_platform(self, ref: Reference, manifest: dict, wanted: str | None) -> str:
        """The platform of a single-platform image (from its config); a ``--platform`` it is not
        is refused."""
        config = json.loads(self.client.get_blob(ref, manifest.get("config", {}).get("digest", "")))
        found = "/".join(filter(None, (config.get("os"), config.get("architecture"),
                                       config.get("variant"))))
        if wanted and not (found == wanted or found.startswith(wanted + "/")):
            raise ConfigError(f"{ref} is a single {found or 'unknown'} image, not {wanted}: "
                              "drop --platform")
        return found

