"""A real Jupyter kernel driven over its channels, with the widget models it sends kept up to date.

Tests see what a front end would see: every ``comm_open``/``comm_msg`` state update of the
panel's widgets, as they arrive, while a cell runs. Liveness checks never race the run: the
cell waits at a *gate* (a file) that the test opens once it saw what it checks.
"""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

from jupyter_client import KernelManager

ROOT = Path(__file__).resolve().parents[2]
GATE_SECONDS = 60


def gate_code(path: Path, indent: str = "") -> str:
    """Code that waits (up to a minute) until ``path`` exists: the run is held for the test."""
    return (f"{indent}while not __import__('os').path.exists({str(path)!r}):\n"
            f"{indent}    __import__('time').sleep(0.02)\n")


class Kernel:
    """A python3 kernel in its own process (stopped by :meth:`stop`), importing this tree."""

    def __init__(self, folder: Path, **env: str):
        environ = dict(os.environ)
        environ.update({"PYTHONPATH": str(ROOT), "FAIRING_HOME": str(folder / "home")})
        environ.pop("FAIRING_UI", None)  # the default ui: widgets in a kernel
        environ.update(env)
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=environ, cwd=str(folder))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.models: dict[str, dict] = {}
        self.outputs: list[dict] = []  # the last execute's outputs, as a saved notebook keeps them

    @property
    def pid(self) -> int:
        return self.manager.provisioner.process.pid

    def execute(self, code: str, *, watch=None, timeout: float = 120) -> tuple[dict, str]:
        """Run ``code``; return its reply and its text output (streams, text/plain, errors).
        ``watch(kernel)`` is called after every message while the cell runs."""
        msg_id = self.client.execute(code)
        text = []
        self.outputs = []
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            try:
                msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer within {timeout} s; output so far:\n"
                                     f"{''.join(text)}") from None
            kind, content = msg["msg_type"], msg["content"]
            if kind == "comm_open":
                self.models[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
            elif kind == "comm_msg" and content.get("data", {}).get("method") == "update":
                self.models.setdefault(content["comm_id"], {}).update(
                    content["data"].get("state", {}))
            elif msg["parent_header"].get("msg_id") == msg_id:
                if kind == "stream":
                    text.append(content["text"])
                elif kind in ("display_data", "execute_result", "update_display_data"):
                    text.append(content["data"].get("text/plain", "") + "\n")
                    self._keep_output(kind, content)
                elif kind == "error":
                    text.append("\n".join(content["traceback"]) + "\n")
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
            if watch is not None:
                watch(self)
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:  # a late reply of an earlier request
            reply = self.client.get_shell_msg(timeout=timeout)
        return reply, "".join(text)

    def _keep_output(self, kind: str, content: dict) -> None:
        """As a front end keeps outputs: an update replaces the output of its display id."""
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "update_display_data":
            for output in self.outputs:
                if (output.get("transient") or {}).get("display_id") == display_id:
                    output.update(data=content["data"], metadata=content.get("metadata", {}))
            return
        self.outputs.append({"output_type": kind, **content})

    def states(self, model_name: str) -> list[dict]:
        """The state of every widget model of that kind, as the front end has it now."""
        return [state for state in self.models.values() if state.get("_model_name") == model_name]

    def values(self, model_name: str = "HTMLModel") -> list[str]:
        """The ``value`` of every widget model of that kind, as the front end has it now."""
        return [state.get("value", "") for state in self.models.values()
                if state.get("_model_name") == model_name]

    def stop(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            self.manager.shutdown_kernel(now=True)
