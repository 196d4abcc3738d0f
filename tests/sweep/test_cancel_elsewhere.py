"""``%fairing_cancel`` of a local sweep, or of one of its trials, from another kernel.

Two real kernels share one FAIRING_HOME: the owner runs the sweep (its cell blocks in a thread of
the test), the other lists, reads and cancels it. Every trial waits at a gate (a file) after it
printed ``waiting``, so each check waits on something it can see (a trial's log line, a record's
phase, a process gone), never on a sleep racing the machine.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from fairing_magics.run import process_alive
from tests.core.conftest import run
from tests.core.kernels import Kernel, gate_code

WAIT_SECONDS = 90


def _sweep_cell(name: str, gate: Path, *, trials: int, parallel: int) -> str:
    return (f"%%fairing_sweep --name {name} --param x=uniform:0:1 --objective m "
            f"--trials {trials} --parallel {parallel} --seed 3\n"
            "print('waiting', flush=True)\n" + gate_code(gate) + "print(f'm={x}')\n")


def _until(check, what: str):
    """Wait until ``check()`` is truthy (what the test waits for is observable); return it."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"still waiting for {what} after {WAIT_SECONDS} s")


def _waiting_trials(folder: Path) -> list[Path]:
    """The trial folders whose trial printed ``waiting`` (it is at its gate)."""
    return [log.parent for log in sorted(folder.glob("trials/*/logs.txt"))
            if "waiting" in log.read_text(encoding="utf-8")]


def _record(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def _start_sweep(owner: Kernel, cell: str, home: Path, name: str):
    """Run ``cell`` in ``owner`` from a thread; its (reply, output) land in the returned dict."""
    result: dict = {}

    def execute():
        result["reply"], result["out"] = owner.execute(cell, timeout=WAIT_SECONDS * 2)

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    folder = _until(lambda: next((home / "runs").glob(f"{name}-*"), None), "the sweep's folder")
    return thread, result, folder


def test_cancel_from_another_kernel_stops_the_sweep_its_trials_and_starts_no_more(tmp_path):
    home = tmp_path / "home"
    owner = Kernel(tmp_path)
    other = None
    try:
        owner.execute("%load_ext fairing_magics")
        thread, result, folder = _start_sweep(
            owner, _sweep_cell("held", tmp_path / "never", trials=4, parallel=2), home, "held")
        trials = _until(lambda: (lambda found: found if len(found) == 2 else None)(
            _waiting_trials(folder)), "two trials at their gate")
        processes = [_record(trial)["process"] for trial in trials]
        assert all(process_alive(p) for p in processes)

        other = Kernel(tmp_path)
        other.execute("%load_ext fairing_magics")
        _, jobs = other.execute("%fairing_jobs --all")
        assert folder.name in jobs and "Running" in jobs
        _, logs = other.execute(f"%fairing_logs {folder.name}")
        assert f"trial 1 ({folder.name}-1) Running" in logs
        assert f"[fairing] {folder.name} Running" in logs

        reply, said = other.execute(f"%fairing_cancel {folder.name}")
        assert reply["content"]["status"] == "ok", said
        lines = [line for line in said.splitlines() if line]
        assert len(lines) == 1, said
        assert lines[0].startswith(f"{folder.name}: its kernel (pid {owner.pid}) ended it "
                                   "Cancelled; "), said
        assert "2 trials: 2 Killed" in lines[0]

        record = _record(folder)
        assert record["phase"] == "Cancelled"
        assert record["summary"].startswith(
            f"cancelled by %fairing_cancel in another kernel (pid {other.pid})")
        assert not any(process_alive(p) for p in processes)  # the trials' processes ended
        assert len(list(folder.glob("trials/*"))) == 2  # no trial started after the cancel
        thread.join(WAIT_SECONDS)
        assert result["reply"]["content"]["status"] == "error"  # the sweep's cell fails...
        assert f"cancelled from %fairing_cancel in another kernel (pid {other.pid})" in \
            result["out"]  # ...saying who stopped it
        assert any("fairing-summary" in value and "Cancelled" in value
                   and "another kernel" in value for value in owner.values())  # its panel
        assert process_alive({"pid": owner.pid})  # the sweep's kernel itself lives on
        _, status = owner.execute("print('still here')")
        assert "still here" in status
    finally:
        owner.stop()
        if other is not None:
            other.stop()


def test_cancel_of_one_trial_from_another_kernel_the_sweep_goes_on(tmp_path):
    home, gate = tmp_path / "home", tmp_path / "gate"
    owner = Kernel(tmp_path)
    other = None
    try:
        owner.execute("%load_ext fairing_magics")
        thread, result, folder = _start_sweep(
            owner, _sweep_cell("one", gate, trials=3, parallel=1), home, "one")
        first = _until(lambda: _waiting_trials(folder), "the first trial at its gate")[0]
        process = _record(first)["process"]

        other = Kernel(tmp_path)
        other.execute("%load_ext fairing_magics")
        reply, said = other.execute(f"%fairing_cancel {first.name}")
        assert reply["content"]["status"] == "ok", said
        assert said.strip() == (f"{first.name}: its process (pid {process['pid']}) was ended; "
                                "its kernel reports it Cancelled"), said
        assert not process_alive(process)
        # the sweep goes on: the next trial starts (and waits at the gate too)
        _until(lambda: len(_waiting_trials(folder)) == 2, "the second trial at its gate")
        gate.touch()
        thread.join(WAIT_SECONDS)
        assert result["reply"]["content"]["status"] == "ok", result["out"]
        table = json.loads((folder / "trials.json").read_text(encoding="utf-8"))
        statuses = {row["name"]: row["status"] for row in table}
        assert statuses == {first.name: "Killed", f"{folder.name}-2": "Succeeded",
                            f"{folder.name}-3": "Succeeded"}
        killed = next(row for row in table if row["name"] == first.name)
        assert killed["message"] == (f"cancelled by %fairing_cancel in another kernel "
                                     f"(pid {other.pid}); the sweep goes on")
        assert _record(folder)["phase"] == "Succeeded"
        assert _record(first)["phase"] == "Cancelled"
    finally:
        owner.stop()
        if other is not None:
            other.stop()


def test_a_sweep_whose_kernel_is_gone_is_lost_and_its_trials_are_ended(tmp_path):
    home = tmp_path / "home"
    owner = Kernel(tmp_path)
    other = None
    try:
        owner.execute("%load_ext fairing_magics")
        owner.client.execute(_sweep_cell("orphan", tmp_path / "never", trials=2, parallel=2))
        folder = _until(lambda: next((home / "runs").glob("orphan-*"), None), "the sweep")
        trials = _until(lambda: (lambda found: found if len(found) == 2 else None)(
            _waiting_trials(folder)), "two trials at their gate")
        processes = [_record(trial)["process"] for trial in trials]
        kernel_pid = owner.pid
        gone, owner = owner, None
        gone.stop()  # the kernel is killed; its trials are in sessions of their own
        _until(lambda: process_alive({"pid": kernel_pid}) is False, "the kernel gone")

        other = Kernel(tmp_path)
        other.execute("%load_ext fairing_magics")
        reply, said = other.execute(f"%fairing_cancel {folder.name}")
        assert reply["content"]["status"] == "ok", said
        assert said.startswith(f"{folder.name} already ended: Lost (its kernel (pid "
                               f"{kernel_pid}) is gone; "), said
        assert not any(process_alive(p) for p in processes)
        assert _record(folder)["phase"] == "Lost"
        _, jobs = other.execute("%fairing_jobs --all")
        assert folder.name in jobs and "Lost" in jobs
    finally:
        if owner is not None:
            owner.stop()
        if other is not None:
            other.stop()


def test_a_sweep_of_another_machine_is_refused_naming_the_machine(shell, tmp_path):
    folder = tmp_path / "home" / "runs" / "far-abc123"
    folder.mkdir(parents=True)
    host = socket.gethostname() + "-elsewhere"
    (folder / "run.json").write_text(json.dumps({
        "name": "far-abc123", "backend": "local", "phase": "Running", "started_at": time.time(),
        "owner": {"pid": 4242, "host": host, "start": "1"}, "process": None,
        "where": {"sweep": True}}), encoding="utf-8")
    result = run(shell, "%fairing_cancel far-abc123")
    assert not result.success
    assert str(result.error_in_exec) == (f"sweep far-abc123 runs on another machine ({host}): "
                                         "cancel it from a kernel there "
                                         "(%fairing_cancel far-abc123)")
    assert not (folder / "cancel.json").exists()  # no word left for a kernel that cannot read it
