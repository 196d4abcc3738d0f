"""pytest fixture for a Docker Engine API (loaded as a plugin by tests/conftest.py).

``docker_api`` (session): ``podman system service --time=0 unix://DIR/podman.sock`` with the
private podman configuration of :class:`~tests.harness.podman.Podman`, the test registries
(``registry``, ``auth_registry``) listed as insecure (the service reads registries.conf only
when it starts). Yields the ``DOCKER_HOST`` URL (``unix:///.../podman.sock``); the service is
stopped by its PID at the end of the session. Tests point the code at it with
``monkeypatch.setenv("DOCKER_HOST", docker_api)`` or ``docker.DockerClient(base_url=docker_api)``.
:class:`DockerAPI` is the same service outside pytest (``benchmarks/bench_push.py``).

The podman folder lives under a SHORT path (``/tmp/fairing-docker-XXXXXXXX``), not pytest's
tmp_path: with a long root (e.g. ``/tmp/pytest-of-root/pytest-238/docker-api0/podman``) podman
4.3's service never sees its containers exit (no ``cleanup`` after ``died``, state stays
``stopped``), so ``logs --follow`` and ``wait`` hang. At the end its overlay mounts are
unmounted and the folder removed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.harness import need
from tests.harness.podman import Podman, podman_available

START_SECONDS = 30


def docker_sdk_available() -> bool:
    try:
        import docker  # noqa: F401
    except ImportError:
        return False
    return True


class DockerAPI:
    """``podman system service`` serving the Docker Engine API on ``url``
    (``unix://.../podman.sock``).

    ``insecure``: registries the engine reaches over plain HTTP. Stop it with :meth:`stop` (by
    PID; its mounts are undone and its folder removed). Raises RuntimeError when it does not start.
    """

    def __init__(self, insecure: tuple[str, ...] = (), start_seconds: float = START_SECONDS):
        import docker

        self.folder = Path(tempfile.mkdtemp(prefix="fairing-docker-", dir="/tmp"))
        self.podman = Podman(self.folder / "p", insecure=insecure)
        self.socket = self.folder / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.log_path = self.folder / "service.log"
        self._log = open(self.log_path, "wb")
        self.process = self.podman.popen("system", "service", "--time=0", self.url,
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_seconds
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError("podman system service exited: "
                                   + self.log_path.read_text(errors="replace")[-500:])
            if self.socket.exists():
                try:
                    docker.DockerClient(base_url=self.url, version="auto", timeout=5).close()
                    return
                except Exception:  # noqa: BLE001 - not answering yet
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"podman system service did not answer on {self.socket} within "
                                   f"{start_seconds} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        unmount_below(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_api(registry, auth_registry):
    need(podman_available(), "podman and runc are not installed (apt-get install podman runc)")
    need(docker_sdk_available(), "the docker SDK is not installed (pip install docker)")
    try:
        service = DockerAPI(insecure=(registry.host, auth_registry.host))
    except RuntimeError as exc:
        need(False, str(exc))
    yield service.url
    service.stop()


def unmount_below(folder: Path) -> None:
    """Lazily unmount what podman left mounted under ``folder`` (overlay, shm), deepest first."""
    prefix = str(folder) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
