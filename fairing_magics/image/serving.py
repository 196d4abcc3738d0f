"""The serving image of a model: the base, its dependency layer, and the model folder.

The image is made by :class:`ServingBuilder`, which is the append builder with the model folder
as its :class:`~fairing_magics.image.layout.Payload`: the same base resolution, package index
and wheel target (Python, platform, C library) as a training image, by construction. Layers:

- the dependency layer of the model's pinned requirements at ``/fairing/deps`` (shared with
  training images and cached);
- a small model layer at ``/fairing/model``: the model folder with ``serve.py``
  (:mod:`fairing_magics.deploy.model` makes it).

The image runs ``python3 /fairing/model/serve.py /fairing/model`` and its config sets
``PORT=8080``: the port belongs to the image, so a pod spec does not repeat it (and a platform
that hands a container its port through ``PORT`` can). It is labelled with the model's digest.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Protocol

from fairing_magics.image.builder import AppendBuilder
from fairing_magics.image.layout import Payload
from fairing_magics.image.roles import BuildRequest, Emit, quiet
from fairing_magics.oci.image import Image
from fairing_magics.oci.layer import entries_from_members

MODEL_DIR = "/fairing/model"
SERVING_PORT = 8080
MODEL_DIGEST_LABEL = "fairing.model.digest"


class ServedModel(Protocol):
    """A model folder ready to serve (:class:`~fairing_magics.deploy.model.ModelPackage`)."""

    members: Mapping[str, bytes]
    requirements: tuple[str, ...]
    description: str

    @property
    def digest(self) -> str: ...


def model_payload(package: ServedModel) -> Payload:
    """The model folder as a :class:`Payload`: its layer at ``/fairing/model``, ``serve.py`` as
    Cmd, ``PORT=8080``."""
    short = package.digest.split(":", 1)[1][:12]
    return Payload(
        requirements=tuple(package.requirements),
        python=f"{sys.version_info[0]}.{sys.version_info[1]}",  # the kernel pickled the model
        entries=tuple(entries_from_members(package.members, MODEL_DIR)),
        description=f"fairing-magics: model layer, {package.description} ({short}) at {MODEL_DIR}",
        env=(("PORT", str(SERVING_PORT)), ("PYTHONUNBUFFERED", "1"),
             ("FAIRING_MODEL_DIR", MODEL_DIR)),
        cmd=("python3", f"{MODEL_DIR}/serve.py", MODEL_DIR),
        workdir=MODEL_DIR,
        labels=((MODEL_DIGEST_LABEL, package.digest),),
    )


class ServingBuilder:
    """A :class:`~fairing_magics.image.roles.Builder` of serving images: ``append`` builds
    them (share the kernel's append builder: its resolved bases and C libraries)."""

    def __init__(self, append: AppendBuilder):
        self.append = append

    def build(self, source: ServedModel, request: BuildRequest, emit: Emit = quiet) -> Image:
        """The serving image of the model folder ``source``."""
        return self.append.append(model_payload(source), request, emit)
