"""A whole emulated cluster for tests and benchmarks: registry + podman kubelet + emulator.

    cluster = start_kube_cluster(folder)       # or the pytest fixture ``kube_cluster``
    image = cluster.python_image()             # 127.0.0.1:PORT/fairing-test/python:3.11
    config.load_kube_config(str(cluster.kubeconfig))
    ...
    cluster.stop()

The registry is Debian's ``docker-registry`` (plain HTTP on 127.0.0.1); the kubelet pulls with
``--tls-verify=false``. Two podman stores are used: one to build/push test images, one for
the kubelet, so every pod's image really travels through the registry.
"""

from __future__ import annotations

import fcntl
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.podman import Podman

from .emulator import KubeEmulator

PYTHON_REPOSITORY = "fairing-test/python"
PYTHON_TAG = "3.11"


@dataclass
class KubeCluster:
    """What the ``kube_cluster`` fixture yields."""

    emulator: KubeEmulator
    kubeconfig: Path
    folder: Path
    registry: object | None = None  # tests.harness.registry.RegistryServer
    builder: object | None = None  # Podman used to push test images
    _images: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return self.emulator.api_url

    @property
    def registry_host(self) -> str:
        assert self.registry is not None, "this cluster has no registry (API-only)"
        return self.registry.host

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` for this cluster (from the kubeconfig)."""
        from kubernetes import config
        return config.new_client_from_config(str(self.kubeconfig))

    def python_image(self, repository: str = PYTHON_REPOSITORY, tag: str = PYTHON_TAG) -> str:
        """Reference of a python3 image (Debian bookworm rootfs) in the test registry.

        The first call on a machine imports the rootfs with podman and pushes it to a scratch
        registry whose storage is cached under ``~/.cache`` (about 30 s); later sessions copy
        that storage into their registry (about 1 s).
        """
        ref = f"{self.registry_host}/{repository}:{tag}"
        with self._lock:
            if ref not in self._images:
                seed = ensure_registry_seed(self.builder, repository, tag)
                shutil.copytree(seed, self.registry.folder / "data", dirs_exist_ok=True)
                if self.registry.manifest_status(repository, tag) != 200:
                    raise RuntimeError(f"seeded image {ref} is not served by the registry")
                self._images[ref] = ref
        return ref

    def stop(self) -> None:
        """Stop the emulator (and its containers), then the registry; by PID."""
        self.emulator.stop()
        if self.registry is not None:
            self.registry.stop()


def start_api_only(folder: str | Path, **emulator_options) -> KubeCluster:
    """An emulator without kubelet or registry: pods stay Pending. Fast (milliseconds)."""
    folder = Path(folder)
    emu = KubeEmulator(folder / "emulator", **emulator_options).start()
    return KubeCluster(emulator=emu, kubeconfig=emu.write_kubeconfig(folder / "kubeconfig"),
                       folder=folder)


def start_kube_cluster(folder: str | Path, **emulator_options) -> KubeCluster:
    """Registry + kubelet podman + emulator, all on 127.0.0.1 under ``folder``.

    The kubelet's podman gets a cached read-only image store holding the python image's
    layer, so its pulls still go to the registry but skip unpacking 125 MB (1.5 s, not 10 s).
    """
    from tests.harness.registry import start_registry
    folder = Path(folder)
    builder = Podman(folder / "builder-podman")
    stores = (str(ensure_image_store(builder)),)
    registry = start_registry(folder / "registry")
    try:
        builder.add_insecure(registry.host)
        kubelet_podman = KubeletPodman(folder / "kubelet-podman", insecure=(registry.host,),
                                       image_stores=stores)
        emu = KubeEmulator(folder / "emulator", podman=kubelet_podman, **emulator_options).start()
    except Exception:
        registry.stop()
        raise
    return KubeCluster(emulator=emu, kubeconfig=emu.write_kubeconfig(folder / "kubeconfig"),
                       folder=folder, registry=registry, builder=builder)


def ensure_registry_seed(podman, repository: str = PYTHON_REPOSITORY,
                         tag: str = PYTHON_TAG) -> Path:
    """Registry storage holding the python image, cached by rootfs version (built once)."""
    from tests.harness.registry import start_registry
    from tests.harness.rootfs import CACHE_ROOT, ROOTFS_VERSION, ensure_python_rootfs
    root = CACHE_ROOT / f"registry-seed-{ROOTFS_VERSION}-{repository.replace('/', '_')}-{tag}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(str(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions build it once
        if (root / "data").exists():
            return root / "data"
        scratch = Path(str(root) + ".tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        registry = start_registry(scratch)
        try:
            ref = f"{registry.host}/{repository}:{tag}"
            podman.add_insecure(registry.host)
            podman.run("import", "--change", 'CMD=["python3"]', str(ensure_python_rootfs()), ref,
                       timeout=600)
            podman.run("push", "--tls-verify=false", ref, timeout=600)
            podman.run("rmi", ref, check=False)
        finally:
            registry.stop()
        root.mkdir(exist_ok=True)
        (scratch / "data").rename(root / "data")
        shutil.rmtree(scratch, ignore_errors=True)
        return root / "data"


def ensure_image_store(podman) -> Path:
    """A containers-storage graphroot with the python image pulled, cached (built once)."""
    from tests.harness.registry import start_registry
    from tests.harness.rootfs import CACHE_ROOT, ROOTFS_VERSION
    root = CACHE_ROOT / f"image-store-{ROOTFS_VERSION}"
    seed = ensure_registry_seed(podman)
    with open(str(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "ready").exists():
            return root / "podman" / "root"
        shutil.rmtree(root, ignore_errors=True)
        registry = start_registry(root / "registry")
        try:
            shutil.copytree(seed, root / "registry" / "data", dirs_exist_ok=True)
            store = Podman(root / "podman", insecure=(registry.host,))
            store.run("pull", "--quiet", "--tls-verify=false",
                      f"{registry.host}/{PYTHON_REPOSITORY}:{PYTHON_TAG}", timeout=600)
        finally:
            registry.stop()
        shutil.rmtree(root / "registry", ignore_errors=True)
        (root / "ready").write_text("ok\n")
        return root / "podman" / "root"


class KubeletPodman(Podman):
    """Podman whose storage also reads layers from read-only ``image_stores``."""

    def __init__(self, root, insecure=(), image_stores=()):
        self.image_stores = tuple(image_stores)
        super().__init__(root, insecure)

    def _write_config(self) -> None:
        super()._write_config()
        if self.image_stores:
            stores = ", ".join(f'"{s}"' for s in self.image_stores)
            with open(self.root / "storage.conf", "a") as f:
                f.write(f"[storage.options]\nadditionalimagestores = [{stores}]\n")
