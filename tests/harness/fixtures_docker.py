"""pytest fixture for a Docker Engine API (loaded as a plugin by tests/conftest.py).

``docker_api`` (session): ``podman system service --time=0 unix://DIR/podman.sock`` with the
private podman configuration of :class:`~tests.harness.podman.Podman`, the test registries
(``registry``, ``auth_registry``) listed as insecure (the service reads registries.conf only
when it starts). Yields the ``DOCKER_HOST`` URL (``unix:///.../podman.sock``); the service is
stopped by its PID at the end of the session. Tests point the code at it with
``monkeypatch.setenv("DOCKER_HOST", docker_api)`` or ``docker.DockerClient(base_url=docker_api)``.

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


@pytest.fixture(scope="session")
def docker_api(tmp_path_factory, registry, auth_registry):
    need(podman_available(), "podman and runc are not installed (apt-get install podman runc)")
    need(docker_sdk_available(), "the docker SDK is not installed (pip install docker)")
    import docker

    folder = Path(tempfile.mkdtemp(prefix="fairing-docker-", dir="/tmp"))
    podman = Podman(folder / "p", insecure=(registry.host, auth_registry.host))
    socket = folder / "podman.sock"
    url = f"unix://{socket}"
    log = open(folder / "service.log", "wb")
    process = podman.popen("system", "service", "--time=0", url, stdin=subprocess.DEVNULL, stdout=log,
                           stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                log.flush()
                need(False, "podman system service exited: "
                     + (folder / "service.log").read_text(errors="replace")[-500:])
            if socket.exists():
                try:
                    docker.DockerClient(base_url=url, version="auto", timeout=5).close()
                    break
                except Exception:  # noqa: BLE001 - not answering yet
                    pass
            if time.monotonic() > deadline:
                need(False, f"podman system service did not answer on {socket} within {START_SECONDS} s")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()
        unmount_below(folder)
        shutil.rmtree(folder, ignore_errors=True)


def unmount_below(folder: Path) -> None:
    """Lazily unmount what podman left mounted under ``folder`` (overlay, shm), deepest first."""
    prefix = str(folder) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
