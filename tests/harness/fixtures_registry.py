"""pytest fixtures for the registry services (loaded as a plugin by tests/conftest.py).

Session-scoped: ``registry`` (plain HTTP), ``auth_registry`` (htpasswd basic auth),
``tls_registry`` (self-signed TLS for 127.0.0.1), ``token_registry`` (bearer tokens from a
:class:`~tests.harness.registry.TokenServer`), each Debian's ``docker-registry`` on a free
port; ``registry_client`` (our client, the plain registry named insecure); ``base_image`` (the
debootstrap Python rootfs pushed to ``registry`` as one layer by our client: a
:class:`~tests.harness.base_image.PushedBase` with a digest ref). Per test: ``fault_proxy``, a
:class:`~tests.harness.registry.FaultProxy` in front of ``registry`` (set ``fault_proxy.plan``).
"""

from __future__ import annotations

import pytest

from tests.harness import need
from tests.harness.registry import FaultProxy, registry_available, start_registry


def _start(tmp_path_factory, name: str, **kwargs):
    need(registry_available(), "docker-registry is not installed (apt-get install docker-registry)")
    return start_registry(tmp_path_factory.mktemp(name), **kwargs)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    server = _start(tmp_path_factory, "registry")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    server = _start(tmp_path_factory, "auth-registry", auth=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory):
    server = _start(tmp_path_factory, "tls-registry", tls=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    server = _start(tmp_path_factory, "token-registry", token=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_client(registry):
    from fairing_magics.registry import Keychain, RegistryClient, Transport

    return RegistryClient(Transport(Keychain(docker_config={}),
                                    insecure_registries=[registry.host]))


@pytest.fixture(scope="session")
def base_image(registry, registry_client):
    from tests.harness.base_image import push_python_base, rootfs_ready

    need(rootfs_ready(), "the Python base needs debootstrap as root (apt-get install debootstrap) "
                         "or a cached rootfs")
    return push_python_base(registry_client, registry.host)


@pytest.fixture
def fault_proxy(registry):
    proxy = FaultProxy(registry.host)
    yield proxy
    proxy.stop()
