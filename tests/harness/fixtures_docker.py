"""pytest fixture for a Docker Engine API (loaded as a plugin by tests/conftest.py).

``docker_api`` (session): ``podman system service --time=0 unix://DIR/podman.sock`` with the
private podman configuration of :class:`~tests.harness.podman.Podman`, the test registries
(``registry``, ``auth_registry``) listed as insecure (the service reads registries.conf only
when it starts). Yields the ``DOCKER_HOST`` URL (``unix:///.../podman.sock``); the service is
stopped by its PID at the end of the session. Tests point the code at it with
``monkeypatch.setenv("DOCKER_HOST", docker_api)`` or ``docker.DockerClient(base_url=docker_api)``.
"""

from __future__ import annotations

import subprocess
import time

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

    folder = tmp_path_factory.mktemp("docker-api")
    podman = Podman(folder / "podman", insecure=(registry.host, auth_registry.host))
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
