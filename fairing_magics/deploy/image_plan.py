"""The ``--dry-run`` lines of an endpoint's serving image, said alike by every deployer that
builds one (docker and kubernetes): the registry (and ECR's actions), the base, the layers, the
package index of the dependency layer and the warnings the build would give."""

from __future__ import annotations

from fairing_magics.base_image import image_notices
from fairing_magics.deploy.model import ModelPackage
from fairing_magics.image.publish import describe_index, describe_registry_plan
from fairing_magics.image.serving import MODEL_DIR


def describe_serving_image(package: ModelPackage | None, settings) -> list[str]:
    """What would be built and pushed for ``package`` (None: a model read when deploying)."""
    packages = (", ".join(package.requirements) if package is not None
                else "the model's pinned packages")
    lines = ["", *describe_registry_plan(settings.registry),
             f"Base image: {settings.base_image} (resolved to a digest at build time)",
             f"Layers: base, dependencies ({packages}), model folder with serve.py at {MODEL_DIR}",
             describe_index(settings)]
    for notice in image_notices(settings.base_image, settings.registry, settings.index_url,
                                settings.extra_index_urls):
        lines.extend(["", "Warning: " + notice])
    return lines
