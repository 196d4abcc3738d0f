"""The local deployer: ``serve.py`` in a subprocess of the kernel's Python, on 127.0.0.1.

The model folder is written under ``<home>/endpoints/<name>/<digest>/`` and served by the same
``serve.py`` an image carries, with ``PORT=0`` (the server picks a free port and prints it in its
``listening on`` line, so two endpoints never race for a port). The deployer waits until
``GET /v1/models/NAME`` answers 200; if the server exits first, it raises
:class:`~fairing_magics.errors.DeployError` with the server's last lines, and nothing is left
running. The server's output goes to ``server.log`` in the folder and, line by line, to the
events (``LogLines``).

Servers are stopped with SIGTERM (serve.py finishes requests in flight and exits 0), then
SIGKILL after a grace period; every server of this kernel is stopped when the kernel exits.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.deploy.endpoint import READY, http_request, server_failure, wait_until_ready
from fairing_magics.deploy.model import SERVER_FILE, ModelPackage, write_model_folder
from fairing_magics.errors import DeployError

LOG_FILE = "server.log"
TAIL_LINES = 200
STOP_GRACE_SECONDS = 5.0
_LISTENING = re.compile(r"listening on http://([0-9.]+):(\d+)")
_RUNNING: weakref.WeakSet = weakref.WeakSet()


class LocalServer:
    """One ``serve.py`` subprocess. ``url`` is ``http://127.0.0.1:PORT`` once it listens."""

    backend = "local"

    def __init__(self, folder: Path, model_name: str, *,
                 emit: Callable[[object], None] = lambda e: None,
                 env: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.model_name = model_name
        self.url = ""
        self._emit = emit
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._listening = threading.Event()
        self._stopped = False
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRING_")}
        full_env.update({"HOST": "127.0.0.1", "PORT": "0", "FAIRING_MODEL_NAME": model_name,
                         "PYTHONUNBUFFERED": "1"})
        full_env.update(env or {})
        full_env.pop("PYTHONSTARTUP", None)
        self._log = open(self.folder / LOG_FILE, "a", encoding="utf-8", buffering=1)
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(self.folder / SERVER_FILE), str(self.folder)],
            cwd=self.folder, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        _RUNNING.add(self)
        self._reader = threading.Thread(target=self._read, name=f"fairing-serve-{model_name}",
                                        daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def detach_events(self) -> None:
        """Stop sending log lines to the deployment's panel (it ended; ``logs()`` still has
        them)."""
        self._emit = lambda event: None

    def _read(self) -> None:
        stream = self.process.stdout
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._tail.append(line)
            if not self._log.closed:
                self._log.write(line + "\n")
            if not self._listening.is_set():
                found = _LISTENING.search(line)
                if found:
                    self.url = f"http://127.0.0.1:{found.group(2)}"
                    self._listening.set()
            self._emit(ev.LogLines((line,), self.model_name))
        stream.close()
        self._listening.set()  # wake waiters: the process ended

    # -- Server protocol ---------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        if not self.url:
            raise ConnectionRefusedError("the server is not listening")
        return http_request(self.url, method, path, body, timeout)

    def logs(self, tail: int | None = None) -> str:
        if self.process.poll() is not None:
            self._reader.join(0.5)  # the last lines are still being written
        try:
            lines = (self.folder / LOG_FILE).read_text(encoding="utf-8",
                                                       errors="replace").splitlines()
        except OSError:
            lines = list(self._tail)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return "".join(line + "\n" for line in lines)

    def status(self) -> str:
        code = self.process.poll()
        if code is None:
            return READY if not self._stopped else "Stopping"
        return "Stopped" if self._stopped else f"Stopped (exit {code})"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; wait for the process and its reader."""
        self._stopped = True
        if self.process.poll() is None:
            try:
                # its own session: serve.py and children
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(STOP_GRACE_SECONDS)
        self._reader.join(STOP_GRACE_SECONDS)
        self._log.close()
        _RUNNING.discard(self)

    # -- startup -----------------------------------------------------------------------
    def wait_listening(self, timeout: float) -> None:
        """Until the server says it listens; DeployError (with the log) if it does not in time."""
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if time.monotonic() > deadline:
                raise self._failure(f"did not start listening within {timeout:g} s", timeout=True)

    def wait_ready(self, timeout: float, deadline: float | None = None) -> None:
        """Until ``GET /v1/models/NAME`` is 200 (the ``ready`` stage, with its attempts);
        DeployError (with the log) if the server exits."""
        deadline = deadline or time.monotonic() + timeout
        self.wait_listening(max(0.0, deadline - time.monotonic()))
        wait_until_ready(self.request, self.model_name, deadline=deadline, timeout=timeout,
                         ended=self._ended, pause=self._pause, failure=self._failure,
                         emit=self._emit)

    def _ended(self) -> str:
        code = self.process.poll()
        if code is None:
            return ""
        self._reader.join(2)  # the last lines are still on their way
        return f"exited with code {code}"

    def _pause(self, seconds: float) -> None:
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass

    def _failure(self, what: str, timeout: bool = False) -> DeployError:
        return server_failure(f"the model server of {self.model_name!r}", what, list(self._tail),
                              timeout=timeout)


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class LocalDeployer:
    """Serves model folders with the kernel's Python (see the module docstring)."""

    name = "local"
    stages = ("package", "start", "ready")

    def check(self, settings, **options) -> None:
        """Nothing to check: the kernel's Python is there (cluster options are ignored)."""

    def start(self, package: ModelPackage, *, name: str, settings, emit: Callable[[object], None],
              timeout: float = 120.0, **_options) -> LocalServer:
        """Write the model folder, start its server, wait until it is ready; return it.

        On failure the process is stopped and its folder kept (with ``server.log``) for reading.
        """
        version = f"{package.digest.split(':')[1][:12]}-{time.time_ns() % 10**9}"
        folder = Path(settings.home) / "endpoints" / name / version
        write_model_folder(package, folder)
        with ev.stage(emit, "start") as step:
            server = LocalServer(folder, name, emit=emit)
            emit(ev.PhaseChanged("Starting", f"pid {server.pid}"))
            deadline = time.monotonic() + timeout
            try:
                server.wait_listening(timeout)
            except BaseException:
                server.stop()  # nothing is left running; the stage fails with the error
                raise
            step.detail = f"pid {server.pid}"
        try:
            server.wait_ready(timeout, deadline)  # the "ready" stage, with its attempts
        except BaseException:
            server.stop()
            raise
        return server
