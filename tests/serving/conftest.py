"""Start ``fairing_magics/runtime/serve.py`` as a real subprocess on 127.0.0.1 and talk HTTP to it.

``serve_model(model, predictor=None, name="model", env=None)`` pickles the model (and
predictor) with cloudpickle into a fresh MODEL_DIR, starts the server with ``PORT=0``, reads
the port from its ``listening on`` line and waits for readiness. Every server is stopped by
its PID when the test (or module, for ``lin_server``) ends.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from tests.serving import models

SERVE_PY = Path(__file__).resolve().parents[2] / "fairing_magics" / "runtime" / "serve.py"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


def write_model_dir(folder: Path, model, predictor=None) -> Path:
    """MODEL_DIR as the deploy step writes it: model.pkl (+ predictor.pkl), pickled by value."""
    folder.mkdir(parents=True, exist_ok=True)
    cloudpickle.register_pickle_by_value(models)
    try:
        (folder / "model.pkl").write_bytes(cloudpickle.dumps(model))
        if predictor is not None:
            (folder / "predictor.pkl").write_bytes(cloudpickle.dumps(predictor))
    finally:
        cloudpickle.unregister_pickle_by_value(models)
    return folder


def command_without(modules, args):
    """``python serve.py ARGS``, in a Python where ``modules`` cannot be imported."""
    if not modules:
        return [sys.executable, *args]
    program = (
        "import runpy, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    sys.modules[name] = None  # import raises ImportError, as when not installed\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    return [sys.executable, "-c", program, *args]


class ServerProcess:
    """One running serve.py; its stdout and stderr go to ``log_path``."""

    def __init__(self, model_dir: Path, name: str = "model", env: dict | None = None, without=()):
        self.name = name
        self.log_path = model_dir.parent / (model_dir.name + ".log")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
        full_env.update({"HOST": "127.0.0.1", "PORT": "0", "FAIRING_MODEL_NAME": name})
        full_env.update(env or {})
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command_without(without, [str(SERVE_PY), str(model_dir)]),
                cwd=model_dir.parent,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.port = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log())
            if found:
                self.port = int(found.group(1))
                return self.port
            if self.process.poll() is not None:
                raise AssertionError(f"serve.py exited {self.process.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"serve.py did not listen within {START_TIMEOUT}s:\n{self.log()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.request("GET", "/readyz").status == 200:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"serve.py exited {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"serve.py was not ready within {START_TIMEOUT}s:\n{self.log()}")

    def request(self, method, path, body=None, headers=None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            reply = conn.getresponse()
            return Response(
                reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
            )
        finally:
            conn.close()

    def predict(self, instances, key="instances") -> Response:
        return self.request("POST", f"/v1/models/{self.name}:predict", {key: instances})

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM by PID, then SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


@pytest.fixture
def serve_model(tmp_path):
    """Factory: ``serve_model(model, predictor=None, name="model", env=None, ready=True,
    model_dir=None, without=())``; ``ready=None`` returns at once, ``False`` once listening;
    ``without`` names modules the server's Python must not have (numpy, pandas)."""
    started = []

    def start(
        model, predictor=None, name="model", env=None, ready=True, model_dir=None, without=()
    ):
        folder = model_dir or write_model_dir(tmp_path / f"model{len(started)}", model, predictor)
        server = ServerProcess(folder, name=name, env=env, without=without)
        started.append(server)
        if ready is None:
            return server
        server.wait_listening()
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def fit_linear(columns=None):
    """A real scikit-learn LinearRegression on 3 features (a DataFrame when ``columns``)."""
    rng = np.random.RandomState(0)
    x = rng.rand(200, 3)
    y = x @ np.array([1.5, -2.0, 3.25]) + 0.5 + rng.normal(scale=0.01, size=200)
    if columns:
        import pandas as pd

        x = pd.DataFrame(x, columns=columns)
    return LinearRegression().fit(x, y)


@pytest.fixture(scope="module")
def linear_model():
    return fit_linear()


@pytest.fixture(scope="module")
def lin_server(tmp_path_factory, linear_model):
    """One server for the module: the LinearRegression as model "lin", body limit 64 KiB."""
    folder = write_model_dir(tmp_path_factory.mktemp("lin") / "model", linear_model)
    server = ServerProcess(folder, name="lin", env={"FAIRING_MAX_BODY_BYTES": "65536"})
    try:
        server.wait_listening()
        server.wait_ready()
        yield server
    finally:
        server.stop()
