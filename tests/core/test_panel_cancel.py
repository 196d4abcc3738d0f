"""The panel's Cancel button while a ``%%fairing_train`` cell waits, in a real ipykernel.

A kernel is started with jupyter_client (no browser); the tests find the JobView's Cancel
button from the iopub ``comm_open`` of its ``ButtonModel`` and send the very message a browser
sends on a click. They check the cell fails at once with one line, the run's process is gone,
and execute requests queued meanwhile run after the cell, in order (or are aborted, as Jupyter
does after a failed cell), and that the kernel interrupt still cancels a run.

They run against whichever ipykernel the interpreter has (7.4 in CI); for ipykernel 6, run them from
a virtualenv holding it: ``PYTHONPATH=. VENV/bin/python -m pytest tests/core/test_panel_cancel.py``
(all pass with 6.31).
"""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel


def slow_cell(name: str, flags: str = "") -> str:
    """A run that writes its pid to HOME/<name>.pid, then sleeps long."""
    return (f"%%fairing_train --name {name} {flags}\nimport os, time\n"
            f"open(os.path.join(os.environ['PID_DIR'], '{name}.pid'), 'w')"
            ".write(str(os.getpid()))\n"
            "time.sleep(90)")


class Kernel:
    """A real ipykernel with fairing_magics loaded and FAIRING_UI=widget."""

    def __init__(self, home: Path, cwd: Path):
        env = {**os.environ, "FAIRING_HOME": str(home), "FAIRING_UI": "widget", "PID_DIR": str(cwd)}
        self.home = home
        self.cwd = cwd
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd))
        self.iopub: list[dict] = []
        self.replies: dict[str, dict] = {}
        reply = self.run("%load_ext fairing_magics")
        assert reply["content"]["status"] == "ok", reply

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    # -- messages -------------------------------------------------------------------------
    def execute(self, code: str, **kwargs) -> str:
        return self.kc.execute(code, **kwargs)

    def run(self, code: str, timeout: float = 60, **kwargs) -> dict:
        return self.reply(self.execute(code, **kwargs), timeout)

    def reply(self, msg_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while msg_id not in self.replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no execute_reply for {msg_id} in {timeout} s")
            try:
                msg = self.kc.get_shell_msg(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.replies[msg["parent_header"].get("msg_id", "")] = msg
        self.drain_iopub()
        return self.replies[msg_id]

    def drain_iopub(self, timeout: float = 0.05) -> None:
        while True:
            try:
                self.iopub.append(self.kc.get_iopub_msg(timeout=timeout))
            except queue.Empty:
                return

    def wait_iopub(self, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for msg in self.iopub[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.iopub)
            self.drain_iopub(timeout=0.2)
        raise AssertionError("no such iopub message")

    def cancel_button(self, parent_id: str) -> str:
        """The comm id of the Cancel button the cell ``parent_id`` displayed."""
        msg = self.wait_iopub(lambda m: m["msg_type"] == "comm_open"
                              and m["parent_header"].get("msg_id") == parent_id
                              and m["content"]["data"]["state"].get("_model_name") == "ButtonModel")
        return msg["content"]["comm_id"]

    def button_states(self, comm_id: str) -> list[dict]:
        """The widget's state after each message the kernel sent for it (open, then updates)."""
        self.drain_iopub()
        merged: dict = {}
        states = []
        for m in self.iopub:
            if m["msg_type"] in ("comm_open", "comm_msg") and m["content"]["comm_id"] == comm_id \
                    and "state" in m["content"]["data"]:
                merged = {**merged, **m["content"]["data"]["state"]}
                states.append(merged)
        return states

    def click(self, comm_id: str) -> None:
        """What a browser sends when the button is clicked (ipywidgets' ButtonView)."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id,
                                               "data": {"method": "custom",
                                                        "content": {"event": "click"}}})
        self.kc.shell_channel.send(msg)

    def child_pid(self, name: str, timeout: float = 60) -> int:
        """The pid the run wrote."""
        deadline = time.monotonic() + timeout
        path = self.cwd / f"{name}.pid"
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text())
            time.sleep(0.1)
        raise AssertionError(f"run {name} printed no pid")

    def outputs_of(self, msg_id: str) -> str:
        self.drain_iopub()
        parts = []
        for m in self.iopub:
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream":
                parts.append(m["content"]["text"])
            elif m["msg_type"] == "error":
                parts.append(m["content"]["ename"] + ": " + m["content"]["evalue"])
        return "".join(parts)


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path / "home", tmp_path)
    yield k
    k.close()


def test_cancel_click_ends_waiting_cell_and_queued_cells_run_after_in_order(kernel):
    cell = kernel.execute(slow_cell("slow"), stop_on_error=False)
    button = kernel.cancel_button(cell)
    pid = kernel.child_pid("slow")
    queued = [kernel.execute("x = 1\nprint('x is', x)"), kernel.execute("print('then', x + 1)")]
    time.sleep(0.5)  # the queued requests reach the kernel while the cell blocks
    clicked = time.monotonic()
    kernel.click(button)
    reply = kernel.reply(cell, timeout=15)
    took = time.monotonic() - clicked
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "RunCancelled"
    assert reply["content"]["evalue"].startswith("cancelled from the panel: run slow-")
    assert took < 5, f"the cell ended {took:.1f} s after the click"
    assert _gone(pid), "the run's process is still alive"
    first, second = (kernel.reply(q, timeout=15) for q in queued)
    assert first["content"]["status"] == second["content"]["status"] == "ok"
    count = reply["content"]["execution_count"]
    assert ((first["content"]["execution_count"], second["content"]["execution_count"])
            == (count + 1, count + 2))
    assert kernel.outputs_of(queued[0]) == "x is 1\n"
    assert kernel.outputs_of(queued[1]) == "then 2\n"
    states = kernel.button_states(button)
    assert any(s.get("description") == "Cancelling" for s in states)
    assert not any("interrupt" in s.get("description", "") for s in states)  # the button worked


def test_cells_queued_behind_a_cancelled_cell_are_aborted_as_after_any_failed_cell(kernel):
    cell = kernel.execute(slow_cell("abort"))  # stop_on_error, as "Run All" sends
    button = kernel.cancel_button(cell)
    kernel.child_pid("abort")
    queued = kernel.execute("print('must not run')")
    time.sleep(0.5)
    kernel.click(button)
    assert kernel.reply(cell, timeout=15)["content"]["status"] == "error"
    assert kernel.reply(queued, timeout=15)["content"]["status"] == "aborted"
    assert kernel.outputs_of(queued) == ""
    after = kernel.run("print('kernel still works')", timeout=15)
    assert after["content"]["status"] == "ok"
    assert "kernel still works" in kernel.outputs_of(after["parent_header"]["msg_id"])


def test_kernel_interrupt_still_cancels_a_local_run(kernel):
    cell = kernel.execute(slow_cell("intr"), stop_on_error=False)
    kernel.cancel_button(cell)
    pid = kernel.child_pid("intr")
    kernel.km.interrupt_kernel()
    reply = kernel.reply(cell, timeout=20)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "RunCancelled"
    assert "interrupted during run" in reply["content"]["evalue"]
    assert _gone(pid)
    assert kernel.run("print(40 + 2)", timeout=15)["content"]["status"] == "ok"


def test_no_wait_run_is_cancelled_by_its_button(kernel):
    cell = kernel.execute(slow_cell("bg", "--no-wait"))
    button = kernel.cancel_button(cell)
    assert kernel.reply(cell, timeout=30)["content"]["status"] == "ok"
    pid = kernel.child_pid("bg")
    kernel.run("bg_run = _")
    kernel.click(button)
    check = kernel.run("bg_run.wait_done(15)\nprint(bg_run.status)", timeout=30)
    assert kernel.outputs_of(check["parent_header"]["msg_id"]).strip() == "Cancelled"
    assert _gone(pid)
    states = kernel.button_states(button)
    assert states[0].get("disabled") is False and states[0].get("description") == "Cancel"


def test_without_a_pump_the_button_says_to_interrupt_instead(kernel):
    """Where widget events cannot reach a blocked kernel (no pump fits it), the button is honest."""
    kernel.run("import fairing_magics.ui.comm_pump as cp\ncp.open_comm_pump = lambda: None")
    cell = kernel.execute(slow_cell("honest"), stop_on_error=False)
    button = kernel.cancel_button(cell)
    pid = kernel.child_pid("honest")
    time.sleep(0.5)
    states = kernel.button_states(button)
    assert any(s.get("disabled") is True
               and s.get("description") == "■ interrupt the kernel to stop"
               for s in states), states
    kernel.km.interrupt_kernel()
    assert kernel.reply(cell, timeout=20)["content"]["ename"] == "RunCancelled"
    assert _gone(pid)
