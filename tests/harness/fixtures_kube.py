"""pytest fixtures for the kube services (loaded as a plugin by tests/conftest.py).

- ``kube_cluster`` (session): the Kubernetes API emulator with a podman kubelet and a real
  registry. Yields a :class:`tests.harness.kube.cluster.KubeCluster`: ``.kubeconfig`` (path, one
  context ``emulator``, namespace ``default``), ``.api_url``, ``.emulator`` (fault hooks:
  ``drop_log_streams()``, ``drop_log_streams_after(lines, times)``, ``hold_requests(seconds,
  path, method, count, when)``, ``fail_requests(status,
  count, path, method)``, ``expire_watches()``, ``deny(verb, resource, ...)``,
  ``remove_crd(name)`` / ``add_crd(name)``), ``.registry_host``, ``.builder`` (a Podman that
  may push to that registry) and ``.python_image()`` (the python3 image's reference there).
- ``kube_api`` (function): a fresh emulator with no kubelet (pods stay Pending) for fast API
  tests; same object shape, no registry. Fault hooks set on it die with the test.

Both play Kubernetes 1.36 and admit objects by the real upstream schemas of
``shared/conformance-schemas`` (the newest CRDs installed; ``KubeEmulator(kubernetes_version=...)``
and ``tests.harness.kube.trainer_crds`` for others): see :mod:`tests.harness.kube.fieldvalidation`.

Tests using ``kube_cluster`` share one cluster: use your own namespace and undo the fault rules
you set (``cluster.emulator.faults.clear()``, in a ``finally``).
"""

from __future__ import annotations

import shutil

import pytest

from tests.harness import need
from tests.harness.kube.cluster import start_api_only, start_kube_cluster
from tests.harness.podman import podman_available
from tests.harness.rootfs import CACHE_ROOT, ROOTFS_VERSION, debootstrap_available


def kube_cluster_available() -> tuple[bool, str]:
    if not podman_available():
        return False, "podman and runc are not installed (apt-get install -y podman runc)"
    if shutil.which("docker-registry") is None:
        return False, "docker-registry is not installed (apt-get install -y docker-registry)"
    cached = (CACHE_ROOT / ROOTFS_VERSION / "rootfs.tar").exists()
    if not cached and not debootstrap_available():
        return False, "no cached python rootfs and debootstrap is unavailable (needs root)"
    return True, ""


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory):
    """The session's emulated cluster (see the module docstring)."""
    ok, reason = kube_cluster_available()
    need(ok, reason)
    cluster = start_kube_cluster(tmp_path_factory.mktemp("kube-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube_api(tmp_path):
    """A fresh API-only emulator (no kubelet, no registry)."""
    cluster = start_api_only(tmp_path / "kube-api")
    try:
        yield cluster
    finally:
        cluster.stop()
