"""Bundle -> OCI image: deterministic layers, image config and manifest.

Layers, config and manifest are pure functions of their inputs (no network); only
:class:`AppendBuilder` reads the base image, through the registry client it is given.

- :mod:`.layer`: reproducible gzip'd tars and the :class:`Layer` value.
- :mod:`.manifest`: media types, descriptors, manifest rendering (OCI and Docker v2).
- :mod:`.image`: :class:`BaseImage`, :class:`Image`, :func:`append_layers`.
- :mod:`.layout`: where the bundle, deps, work and output folders live; the code layer.
- :mod:`.deps`: the dependency layer, installed from wheels and cached.
- :mod:`.builder`: :class:`AppendBuilder`, the ``Builder`` the pipeline calls.
"""

from fairing_magics.image.builder import AppendBuilder, Builder
from fairing_magics.image.image import BaseImage, Image, append_layers, render_config
from fairing_magics.image.layer import Layer, TarEntry, layer_from_entries, layer_from_folder
from fairing_magics.image.layout import code_layer

__all__ = [
    "AppendBuilder", "BaseImage", "Builder", "Image", "Layer", "TarEntry", "append_layers", "code_layer",
    "layer_from_entries", "layer_from_folder", "render_config",
]
