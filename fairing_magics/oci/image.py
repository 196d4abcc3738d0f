"""The :class:`Image` value: a base image plus the layers we append, with its config and manifest.

Everything here is pure: :func:`append_layers` renders the new image config (diff_ids, one
history entry naming each layer, Env, Cmd, WorkingDir, labels) from the base's config and
returns an immutable :class:`Image` whose manifest bytes and digest are computed once, on first
use. Nothing touches the network; the registry client resolves a :class:`BaseImage` and pushes
an :class:`Image`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from fairing_magics.oci.layer import Layer, source_date_epoch
from fairing_magics.oci.manifest import (
    CONFIG_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI,
    Descriptor,
    canonical_json,
    format_of,
    render_manifest,
)
from fairing_magics.oci.reference import Reference

HISTORY_COMMENT = "fairing-magics"
# Fields of a Docker config that describe how the *base* was built; they are not ours to keep.
_BUILD_ONLY_FIELDS = ("container", "container_config", "docker_version", "id", "parent")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BaseImage:
    """A base image resolved to one platform: its reference by digest, config and layer
    descriptors.

    ``ref`` names the platform's image manifest by digest (``registry/repository@sha256:...``),
    the value to print and to record: it never moves, unlike a tag.
    """

    ref: Reference
    media_type: str
    config_bytes: bytes
    layers: tuple[Descriptor, ...]
    #: What the tag pointed at when it was read (an index, maybe): a moved tag shows here.
    source_digest: str = field(default="", compare=False)

    @cached_property
    def config(self) -> dict:
        return json.loads(self.config_bytes)

    @property
    def format(self) -> str:
        return format_of(self.media_type)

    @property
    def platform(self) -> str:
        """``os/architecture[/variant]`` read from the config (``linux/amd64`` when unknown)."""
        cfg = self.config
        plat = f"{cfg.get('os') or 'linux'}/{cfg.get('architecture') or 'amd64'}"
        return plat + (f"/{cfg['variant']}" if cfg.get("variant") else "")

    @property
    def env(self) -> dict[str, str]:
        return env_to_dict((self.config.get("config") or {}).get("Env") or [])


def env_to_dict(env: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


@dataclass(frozen=True)
class Image:
    """An image ready to push: the base's blobs (by descriptor) and our layers (by content).

    ``config_bytes`` is the final image config. ``digest`` is the sha256 of the manifest bytes,
    the image's identity: ``repository@digest`` refers to exactly this image.
    """

    format: str
    config_bytes: bytes
    layers: tuple[Layer, ...] = ()
    base: BaseImage | None = None
    annotations: tuple[tuple[str, str], ...] = field(default=())

    @cached_property
    def config(self) -> dict:
        return json.loads(self.config_bytes)

    @cached_property
    def config_descriptor(self) -> Descriptor:
        return Descriptor(CONFIG_TYPES[self.format], sha256_digest(self.config_bytes),
                          len(self.config_bytes))

    def layer_descriptor(self, layer: Layer) -> Descriptor:
        return Descriptor(LAYER_TYPES[self.format], layer.digest, layer.size)

    @property
    def base_layers(self) -> tuple[Descriptor, ...]:
        return self.base.layers if self.base is not None else ()

    @cached_property
    def manifest_bytes(self) -> bytes:
        ours = [self.layer_descriptor(layer) for layer in self.layers]
        descriptors = [*self.base_layers, *ours]
        return render_manifest(self.format, self.config_descriptor, descriptors,
                               dict(self.annotations))

    @property
    def media_type(self) -> str:
        return MANIFEST_TYPES[self.format]

    @cached_property
    def digest(self) -> str:
        """``sha256:...`` of the manifest: the image's identity in a registry."""
        return sha256_digest(self.manifest_bytes)

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})

    @property
    def summary(self) -> str:
        """What was built, in a few words: the number of layers we added."""
        return f"{len(self.layers)} layers"

    @property
    def size(self) -> int:
        """Total compressed size of every blob the manifest refers to."""
        return (sum(d.size for d in self.base_layers) + sum(layer.size for layer in self.layers)
                + len(self.config_bytes))


def format_created(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def render_config(base_config: Mapping | None, layers: Sequence[Layer], *,
                  env: Mapping[str, str] | None = None,
                  cmd: Sequence[str] | None = None, entrypoint: Sequence[str] | None = None,
                  workdir: str | None = None, labels: Mapping[str, str] | None = None,
                  created: int | None = None) -> bytes:
    """The image config (canonical JSON) of ``base_config`` with ``layers`` appended.

    ``env`` sets or replaces variables (the base's others are kept, in order). ``cmd`` replaces
    the base's Cmd and, since the base's Entrypoint would prefix it, the Entrypoint too (with
    ``entrypoint``, or nothing). Each layer gets a history entry whose ``created_by`` is the
    layer's description. ``created`` defaults to ``SOURCE_DATE_EPOCH`` (or 0), so that the
    config, hence the image digest, depends on content only.
    """
    cfg: dict = (copy.deepcopy(dict(base_config)) if base_config
                 else {"architecture": "amd64", "os": "linux"})
    for name in _BUILD_ONLY_FIELDS:
        cfg.pop(name, None)
    stamp = format_created(source_date_epoch() if created is None else created)
    cfg["created"] = stamp
    run = dict(cfg.get("config") or {})
    if env:
        current = env_to_dict(run.get("Env") or [])
        current.update(env)
        run["Env"] = [f"{k}={v}" for k, v in current.items()]
    if cmd is not None:
        run["Cmd"] = list(cmd)
        if entrypoint:
            run["Entrypoint"] = list(entrypoint)
        else:
            run.pop("Entrypoint", None)
    elif entrypoint is not None:
        run["Entrypoint"] = list(entrypoint)
    if workdir is not None:
        run["WorkingDir"] = workdir
    if labels:
        merged = dict(run.get("Labels") or {})
        merged.update(labels)
        run["Labels"] = merged
    cfg["config"] = run
    rootfs = dict(cfg.get("rootfs") or {"type": "layers"})
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [layer.diff_id for layer in layers]
    cfg["rootfs"] = rootfs
    history = list(cfg.get("history") or [])
    history.extend({"created": stamp, "created_by": layer.description, "comment": HISTORY_COMMENT}
                   for layer in layers)
    cfg["history"] = history
    return canonical_json(cfg)


def append_layers(base: BaseImage | None, layers: Sequence[Layer], **config_changes) -> Image:
    """A new :class:`Image`: ``base`` (or nothing) plus ``layers``, config changed as
    :func:`render_config` describes (``env``, ``cmd``, ``entrypoint``, ``workdir``, ``labels``)."""
    fmt = base.format if base is not None else OCI
    config_bytes = render_config(base.config if base is not None else None, layers,
                                 **config_changes)
    return Image(format=fmt, config_bytes=config_bytes, layers=tuple(layers), base=base)
