"""serve.py in a real container (podman, the Debian Python base): PID 1, no numpy, stop = SIGTERM.

The container gets serve.py, cloudpickle (pure Python, copied from this environment) and the
model directory as read-only volumes, runs with ``--network host`` on a free 127.0.0.1 port,
and must answer predictions, then exit 0 on ``podman stop`` well before podman's SIGKILL.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import cloudpickle
import pytest

from tests.harness import need
from tests.harness.podman import Podman, podman_available
from tests.harness.rootfs import (
    CACHE_ROOT,
    ROOTFS_VERSION,
    debootstrap_available,
    ensure_python_rootfs,
)
from tests.serving.conftest import SERVE_PY, write_model_dir

IMAGE = "localhost/fairing-serve-test-base:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    need(podman_available(), "podman and runc are not installed (apt-get install -y podman runc)")
    rootfs_cached = (CACHE_ROOT / ROOTFS_VERSION / "rootfs.tar").exists()
    need(
        rootfs_cached or debootstrap_available(),
        "the Python base needs debootstrap as root (apt-get install debootstrap) "
        "or a cached rootfs",
    )
    engine = Podman(tmp_path_factory.mktemp("podman"))
    engine.run("import", str(ensure_python_rootfs()), IMAGE, timeout=300)
    yield engine
    # removes the image and unmounts the overlay store, so pytest can delete the folder
    engine.run("system", "reset", "--force", check=False, timeout=120)


@pytest.mark.e2e
def test_serve_py_in_a_container_predicts_and_stops_on_sigterm(podman, tmp_path):
    model_dir = write_model_dir(tmp_path / "model", lambda rows: [sum(row) for row in rows])
    port = free_port()
    name = f"fairing-serve-test-{os.getpid()}"
    log_path = tmp_path / "container.log"
    with open(log_path, "wb") as log:
        process = podman.popen(
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            "host",
            "-v",
            f"{SERVE_PY.parent}:/srv:ro",
            "-v",
            f"{Path(cloudpickle.__file__).parent}:/deps/cloudpickle:ro",
            "-v",
            f"{model_dir}:/model:ro",
            "-e",
            "PYTHONPATH=/deps",
            "-e",
            "HOST=127.0.0.1",
            "-e",
            f"PORT={port}",
            "-e",
            "FAIRING_MODEL_NAME=sums",
            IMAGE,
            "python3",
            "/srv/serve.py",
            "/model",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready in" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/v1/models/sums:predict", json.dumps({"instances": [[1, 2], [3, 4]]}))
        reply = conn.getresponse()
        assert (reply.status, json.loads(reply.read())) == (200, {"predictions": [3, 7]})
        conn.close()

        started = time.monotonic()
        podman.run("stop", "-t", "20", name, timeout=60)
        assert process.wait(30) == 0
        assert time.monotonic() - started < 15, "serve.py ignored SIGTERM as PID 1"
        log = log_path.read_text(errors="replace")
        assert re.search(r'"POST /v1/models/sums:predict HTTP/1.1" 200', log)
        assert log.rstrip().endswith("fairing-serve: stopped")
    finally:
        if process.poll() is None:
            podman.run("rm", "-f", name, check=False)
            process.wait(30)
