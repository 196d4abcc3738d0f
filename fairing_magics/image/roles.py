"""The two roles of the build path, ``Builder`` and ``Publisher``, and what a builder is asked.

ko's shape (``build.Interface`` and ``publish.Interface``): one method each, and a feature is a
new implementation, never a second path. :class:`BuildRequest` is decided once per build by
:meth:`~fairing_magics.image.publish.ImageService.publish` and handed to whichever builder
builds; what a builder returns is what its publisher takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fairing_magics.image.package_index import PackageIndex
from fairing_magics.oci.reference import Reference

Emit = Callable[[object], None]
ProgressCallback = Callable[[int, int, str], None]


def quiet(event: object) -> None:
    """The ``emit`` of a build nobody watches: drops every event."""


@dataclass(frozen=True)
class BuildRequest:
    """What a builder is asked for, the same for every builder.

    ``base``: the base image (None: an empty base, for tests); ``python``: the wheels' Python
    minor version (None: the base's, else the source's); ``platform``: ``os/arch`` (None: the
    base's, else ``linux/amd64``); ``index``: where the requirements are installed from.
    """

    base: Reference | None
    python: str | None = None
    platform: str | None = None
    index: PackageIndex = PackageIndex()


class Builder(Protocol):
    """Builds the image of ``source`` (a bundle or a model) as ``request`` says, and tells
    ``emit`` what the user should see (the resolved base, the engine's output). The result is
    what the builder's publisher takes; its ``summary`` is one line for the panel."""

    def build(self, source, request: BuildRequest, emit: Emit = quiet): ...


class Publisher(Protocol):
    """Puts what its builder made in ``repository`` (also as ``tag`` when given) and returns
    it by digest; ``progress(done_bytes, total_bytes, what)`` as bytes go out."""

    def publish(self, image, repository: Reference, *, tag: str = "",
                progress: ProgressCallback | None = None) -> Reference: ...
