"""OCI distribution client: auth, one transport with retries, the registry operations, push.

It sits on :mod:`fairing_magics.oci` (references, manifests, layers, images are values there)
and knows nothing of what builds an image.

- :mod:`.auth`: :class:`Keychain` (explicit, credential hooks, ~/.docker/config.json),
  challenges.
- :mod:`.transport`: :class:`Transport`, the one place of TLS policy and retries.
- :mod:`.client`: :class:`RegistryClient`, one method per registry operation.
- :mod:`.push`: :func:`push_image`, only the blobs the registry lacks.
- :mod:`.publisher`: :class:`RegistryPublisher`, which remembers the blobs pushed.
"""

from fairing_magics.registry.auth import CredentialHook, Keychain
from fairing_magics.registry.client import RegistryClient
from fairing_magics.registry.publisher import RegistryPublisher
from fairing_magics.registry.push import push_image
from fairing_magics.registry.transport import RetryPolicy, Transport

__all__ = [
    "CredentialHook", "Keychain", "RegistryClient", "RegistryPublisher", "RetryPolicy",
    "Transport", "push_image",
]
