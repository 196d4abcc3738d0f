"""OCI values: what an image *is*, with no network and nothing above them.

The bottom floor of the image path (go-containerregistry's ``pkg/name`` and ``pkg/v1``): values
and pure transforms that the registry client moves and the builders make. Nothing here imports
the registry, a builder or the network.

- :mod:`.reference`: :class:`Reference`, parsed once at the edge (``parse_reference``) and
  passed down typed.
- :mod:`.manifest`: media types, :class:`Descriptor`, manifest rendering (OCI and Docker v2).
- :mod:`.layer`: reproducible gzip'd tars and the :class:`Layer` value.
- :mod:`.image`: :class:`BaseImage`, :class:`Image`, :func:`append_layers`.
"""

from fairing_magics.oci.image import BaseImage, Image, append_layers, render_config
from fairing_magics.oci.layer import Layer, TarEntry, layer_from_entries, layer_from_folder
from fairing_magics.oci.manifest import Descriptor
from fairing_magics.oci.reference import Reference, parse_reference

__all__ = [
    "BaseImage", "Descriptor", "Image", "Layer", "Reference", "TarEntry", "append_layers",
    "layer_from_entries", "layer_from_folder", "parse_reference", "render_config",
]
