"""The local backend: the bundle runs in a fresh Python subprocess, never in the kernel.

It runs exactly what a container would run (``fairing_bootstrap.py`` on the bundle) with the
kernel's Python, in a clean temporary working folder, and streams stdout and stderr (merged, so
their order is kept) line by line as they are written. Outputs and errors come back through the
run folder, which has the same layout as run storage (``runs/<run>/outputs.pkl``, ``error.json``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.backends import Launch
from fairing_magics.backends.lines import LineEvents, LineSplitter
from fairing_magics.capture.bundle import BOOTSTRAP_NAME
from fairing_magics.displays import RESULT_FILE, load_result
from fairing_magics.errors import ConfigError, FairingTimeout, JobFailed, RunCancelled
from fairing_magics.run import (
    Run,
    cancel_request,
    end_children,
    end_process,
    load_record,
    process_alive,
    request_cancel,
    settle_record,
)

READ_CHUNK = 1 << 16
GATHER_SECONDS = 0.02
TERM_GRACE_SECONDS = 3.0
#: How long ``%fairing_cancel`` of another kernel's sweep waits for that kernel to end it.
OWNER_ANSWER_SECONDS = 30.0


class LocalBackend:
    """Runs bundles as subprocesses of the kernel's Python."""

    name = "local"
    stages = ("capture", "run")
    flag_groups = ("run",)
    interrupt = "cancel"  # nobody else would stop the process

    def validate(self, request) -> None:
        """Nothing to refuse beyond the flags every backend checks."""

    def check(self, request) -> None:
        """Nothing to check: the kernel's Python is there."""

    def describe_plan(self, request, bundle) -> list[str]:
        return ["Would run: a fresh Python subprocess running fairing_bootstrap.py on the bundle."]

    def run_location(self, request) -> dict:
        return {}

    def list_runs(self, settings) -> str:
        return ""  # every local run has its run folder

    def reattach(self, name, settings, open_run, *, namespace=None) -> None:
        return None  # a local run ends with its kernel: its folder holds what it said

    def cancel(self, name: str, settings, *, record: Mapping | None = None,
               folder: Path | None = None) -> str | None:
        """Stop a run of another kernel on this machine: leave word in its run folder
        (:func:`~fairing_magics.run.request_cancel`), which its kernel reads and stops it as its
        Cancel button would, and end its process (that kernel, if alive, reports it Cancelled).
        A sweep has no process of its own: its kernel stops its trials and ends it Cancelled;
        this waits for that, and ends the trials' processes itself if the kernel is gone or
        does not answer within ``OWNER_ANSWER_SECONDS``."""
        if folder is None:
            return None
        record = record or {}
        process = record.get("process") or {}
        owner = record.get("owner") or {}
        host = process.get("host") or owner.get("host")
        if host and host != socket.gethostname():
            what = "sweep" if (record.get("where") or {}).get("sweep") else "run"
            raise ConfigError(f"{what} {name} runs on another machine ({host}): cancel it from "
                              f"a kernel there (%fairing_cancel {name})")
        running = process_alive(process)
        request_cancel(folder, f"%fairing_cancel in another kernel (pid {os.getpid()})")
        if process:
            ended = end_process(process)  # its kernel may have been quicker, from the word
            if running:
                ended = f"its process (pid {process['pid']}) was ended"
            return f"{name}: {ended}; its kernel reports it Cancelled"
        return _await_owner(name, Path(folder), owner)

    def list_schedules(self, settings, remembered) -> str:
        return ""  # no schedules: a local run happens once

    def cancel_schedule(self, name: str, settings, remembered) -> None:
        return None

    def doctor(self, settings, *, kind: str, namespace: str = "", runtime_ref: str = "") -> list:
        return []  # the kernel's own Python runs it

    def start(self, launch: Launch, run: Run) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"fairing-{run.name}-"))
        env = dict(os.environ)
        env.update(launch.env)
        env["FAIRING_OUTPUT_DIR"] = str(run.folder)
        env["FAIRING_RUN_NAME"] = run.name
        env["PYTHONUNBUFFERED"] = "1"
        env["FAIRING_PARENT_PID"] = str(os.getpid())  # the run ends itself if this kernel dies
        storage = launch.settings.storage
        if storage.startswith("s3://"):  # the run folder also goes to S3, as on a cluster
            env["FAIRING_STORAGE"] = storage
        else:
            env.pop("FAIRING_STORAGE", None)
        env.pop("PYTHONSTARTUP", None)
        command = [sys.executable, "-u", str(Path(launch.bundle_dir) / BOOTSTRAP_NAME),
                   str(launch.bundle_dir)]
        run.emit(ev.StageChanged("run", "running"))
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        run.set_process(proc.pid)
        run.emit(ev.PhaseChanged(ev.RUNNING, f"pid {proc.pid}"))
        state = _ProcessState(proc)
        run.set_canceller(lambda: state.stop("cancelled"))
        if launch.timeout:
            timer = threading.Timer(launch.timeout, state.stop, args=("timeout",))
            timer.daemon = True
            timer.start()
            state.timer = timer
        thread = threading.Thread(target=_follow, args=(proc, state, run, workdir, launch),
                                  name=f"fairing-local-{run.name}", daemon=True)
        thread.start()


def _await_owner(name: str, folder: Path, owner: Mapping) -> str:
    """Wait for the kernel ``owner`` to end the run of ``folder`` after word of a cancel (or to
    be gone); one line saying what was done."""
    deadline = time.monotonic() + OWNER_ANSWER_SECONDS
    while True:
        record = load_record(folder) or {}
        if record.get("phase") in ev.FINAL_PHASES:
            summary = record.get("summary") or "-"
            if summary.startswith("cancelled by") and "; " in summary:
                summary = summary.split("; ", 1)[1]  # who: this kernel
            return (f"{name}: its kernel (pid {owner.get('pid')}) ended it {record['phase']}; "
                    f"{summary}")
        if process_alive(owner) is False:
            settled = settle_record(folder, record)
            return f"{name}: {settled.get('phase')}: {settled.get('summary') or '-'}"
        if time.monotonic() > deadline:
            ended = end_children(folder)
            return (f"{name}: its kernel (pid {owner.get('pid')}) has not answered in "
                    f"{OWNER_ANSWER_SECONDS:g} s; {ended} running trial process"
                    f"{'es were' if ended != 1 else ' was'} ended; it ends the sweep Cancelled "
                    "when it does")
        time.sleep(0.1)


class _ProcessState:
    """Why a process ended early (cancelled or timed out), and how to stop it."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.reason = ""
        self.timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.proc.poll() is not None or self.reason:
                return
            self.reason = reason
        _terminate_group(self.proc)


def _terminate_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(TERM_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pump_lines(fd: int, deliver, chunk: int = READ_CHUNK, gather_seconds: float = GATHER_SECONDS, *,
               on_live=None) -> None:
    """Read ``fd`` until EOF and call ``deliver(lines)`` with each batch of finished lines, and
    ``on_live(live_rows, markers)`` after each batch: the rows still being redrawn and the
    runtime's stage markers (:mod:`fairing_magics.backends.lines`;
    :class:`~fairing_magics.backends.lines.LineEvents` turns both into events).

    Output shows up as soon as it is written: a batch is delivered at most ``gather_seconds``
    after its first byte arrived, earlier when a full chunk is waiting. Gathering for a few
    milliseconds turns a program that flushes every line into a few hundred batches a second
    instead of one event per line.
    """
    splitter = LineSplitter()
    eof = False
    while not eof:
        data = os.read(fd, chunk)
        if not data:
            break
        parts = [data]
        size = len(data)
        deadline = time.monotonic() + gather_seconds
        while size < chunk:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                break
            more = os.read(fd, chunk - size)
            if not more:
                eof = True
                break
            parts.append(more)
            size += len(more)
        splitter.pass_on(b"".join(parts), deliver, on_live)
    last = splitter.close()
    if last:
        deliver(last)
    if on_live is not None:
        on_live((), splitter.take_markers())


def _follow(proc: subprocess.Popen, state: _ProcessState, run: Run, workdir: Path,
            launch: Launch) -> None:
    started = time.monotonic()
    try:
        events = LineEvents(run.emit)
        pump_lines(proc.stdout.fileno(), events.lines, on_live=events.live)
        returncode = proc.wait()
    finally:
        proc.stdout.close()
        if state.timer is not None:
            state.timer.cancel()
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    _finish(run, returncode, state.reason, seconds, launch)


def _finish(run: Run, returncode: int, reason: str, seconds: float, launch: Launch) -> None:
    elsewhere = cancel_request(run.folder) if returncode != 0 else ""
    if reason == "cancelled" or elsewhere:
        if elsewhere and not run.cancelled_by:
            run.cancelled_by = elsewhere
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.CANCELLED, lambda took: f"cancelled after {took}",
                   error=RunCancelled(f"run {run.name} was cancelled; its process was stopped",
                                      phase=ev.CANCELLED, last_lines=tuple(run.tail())))
        return
    if reason == "timeout":
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.TIMED_OUT, f"stopped by --timeout {launch.timeout:g} s",
                   error=FairingTimeout(f"run {run.name} took longer than --timeout "
                                        f"{launch.timeout:g} s and was stopped; raise --timeout "
                                        "or make the cell faster"))
        return
    finish_from_exit(run, returncode, seconds)


def finish_from_exit(run: Run, returncode: int, seconds: float) -> None:
    """End ``run`` from its program's exit code and its run folder: the ``--outputs`` from
    ``outputs.pkl`` and the cell's final value from ``result.pkl`` on success, else the error
    from ``error.json`` (any backend whose program writes into ``run.folder`` ends this way)."""
    if returncode == 0:
        outputs = {}
        path = run.folder / "outputs.pkl"
        if run.requested_outputs and path.exists():
            import cloudpickle

            outputs = cloudpickle.loads(path.read_bytes())
        result_path = run.folder / RESULT_FILE
        result = load_result(result_path.read_bytes() if result_path.exists() else None,
                             lambda text: run.emit(ev.Notice(text, "warning")))
        run.emit(ev.StageChanged("run", "done", seconds))
        names = ", ".join(outputs) if outputs else "no outputs"
        run.finish(ev.SUCCEEDED, lambda took: f"succeeded in {took} ({names})", outputs=outputs,
                   result=result)
        return
    run.emit(ev.StageChanged("run", "failed", seconds))
    error = error_from_output(run, run.folder, returncode)
    why = error.reason if error.reason and not error.reason.startswith("exit code") else ""
    run.finish(ev.FAILED, lambda took: f"failed after {took} ({why + ', ' if why else ''}"
                                       f"exit code {returncode})",
               error=error)


def error_from_output(run: Run, folder: Path, returncode: int) -> JobFailed:
    """The JobFailed for a run whose program exited non-zero, from its ``error.json`` if any."""
    try:
        info = json.loads((folder / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    last = tuple(run.tail())
    if info.get("kind") == "cell":
        return JobFailed(
            f"the cell raised {info.get('type')}: {info.get('message')} (run {run.name}; "
            f"the remote traceback is above, the full log in run.logs())",
            reason=info.get("type", ""), last_lines=last,
            remote_traceback=info.get("traceback", ""))
    if info.get("kind") == "bundle":
        return JobFailed(f"run {run.name} could not start its program: {info.get('message')}",
                         reason="BundleError", last_lines=last)
    return JobFailed(f"run {run.name} exited with code {returncode}; last lines:\n"
                     + "\n".join(last[-10:]),
                     reason=f"exit code {returncode}", last_lines=last)
