"""OCI distribution client: names, auth, one transport with retries, push.

- :mod:`.reference`: :func:`parse_reference`, :class:`Reference` (docker.io defaults, ports, digests).
- :mod:`.auth`: :class:`Keychain` (explicit, credential hooks, ~/.docker/config.json), challenges.
- :mod:`.transport`: :class:`Transport`, the one place of TLS policy and retries.
- :mod:`.client`: :class:`RegistryClient`, one method per registry operation.
- :mod:`.push`: :func:`push_image`, only the blobs the registry lacks.
- :mod:`.publisher`: :class:`RegistryPublisher`, the ``Publisher`` the pipeline calls.
"""

from fairing_magics.registry.auth import CredentialHook, Keychain
from fairing_magics.registry.client import RegistryClient
from fairing_magics.registry.publisher import Publisher, RegistryPublisher
from fairing_magics.registry.push import push_image
from fairing_magics.registry.reference import Reference, parse_reference
from fairing_magics.registry.transport import RetryPolicy, Transport

__all__ = [
    "CredentialHook", "Keychain", "Publisher", "Reference", "RegistryClient", "RegistryPublisher", "RetryPolicy",
    "Transport", "parse_reference", "push_image",
]
