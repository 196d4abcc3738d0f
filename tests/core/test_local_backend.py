"""The local backend through a real IPython shell: outputs, failures, streaming, timeout,
cancel, interrupt, --no-wait, and the run-listing magics."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.local import pump_lines
from fairing_magics.errors import FairingTimeout, JobFailed, RunCancelled
from tests.core.conftest import run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_pid(r) -> int:
    match = re.search(r"pid (\d+)", r.logs() + "".join(r.tail()))
    if match:
        return int(match.group(1))
    raise AssertionError("no pid")


def test_outputs_come_back_and_code_runs_in_another_process(shell, capsys):
    run(shell, "import os\nbase = 10\ndef double(v):\n    return 2 * v")
    result = run(shell, "%%fairing_train --outputs answer,child\nanswer = double(base) + 1\n"
                        "child = os.getpid()\nprint('answer is', answer)")
    assert result.success, result.error_in_exec
    assert shell.user_ns["answer"] == 21
    assert shell.user_ns["child"] != os.getpid()
    out = capsys.readouterr().out
    assert "answer is 21" in out and "Succeeded" in out
    assert result.result.status == "Succeeded"
    assert result.result.outputs == {"answer": 21, "child": shell.user_ns["child"]}


def test_remote_exception_fails_the_cell_with_remote_traceback(shell, capsys):
    run(shell, "def explode(v):\n    raise ValueError(f'bad value {v}')")
    result = run(shell, "%%fairing_train\nprint('before')\nexplode(3)")
    assert not result.success
    err = result.error_in_exec
    assert isinstance(err, JobFailed)
    assert "ValueError: bad value 3" in str(err)
    assert "explode" in err.remote_traceback and "raise ValueError" in err.remote_traceback
    out = capsys.readouterr().out
    assert "before" in out and "Traceback" in out and "Failed" in out


def test_lines_stream_while_the_program_runs(shell):
    seen: list[tuple[float, str]] = []
    result = run(shell, "%%fairing_train --no-wait\nimport time\nprint('first')\ntime.sleep(1.5)\n"
                        "print('second')")
    assert result.success
    r = result.result
    r.subscribe(lambda e: isinstance(e, ev.LogLines)
                and seen.extend((time.monotonic(), line) for line in e.lines))
    r.wait(30)
    ended = time.monotonic()
    lines = r.logs().splitlines()
    assert lines.index("first") < lines.index("second")
    second_at = [t for t, text in seen if text == "second"]
    assert second_at and ended - second_at[0] < 1.0
    assert "first" in r.logs()


def test_no_wait_returns_at_once_and_wait_gives_outputs(shell):
    started = time.monotonic()
    result = run(shell, "%%fairing_train --no-wait --outputs v\nimport time\ntime.sleep(2)\nv = 42")
    assert result.success and time.monotonic() - started < 1.5
    r = result.result
    assert r.status in ("Pending", "Running")
    r.wait(30)
    assert r.status == "Succeeded" and r.outputs == {"v": 42}


def test_timeout_stops_the_process_and_fails_the_cell(shell):
    result = run(shell, "%%fairing_train --timeout 3\nimport os, time\n"
                        "print('pid', os.getpid(), flush=True)\n"
                        "time.sleep(60)")
    assert not result.success
    assert isinstance(result.error_in_exec, FairingTimeout)
    assert "--timeout 3" in str(result.error_in_exec)
    r = shell.magics_manager.registry["FairingMagics"].runs.all()[-1]
    assert r.status == "TimedOut"
    assert not _pid_alive(_run_pid(r))


def test_cancel_magic_stops_a_run(shell, capsys):
    result = run(shell, "%%fairing_train --no-wait --name sleeper\nimport os, time\n"
                        "print('pid', os.getpid(), flush=True)\ntime.sleep(60)")
    r = result.result
    deadline = time.monotonic() + 10
    while "pid" not in r.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = _run_pid(r)
    assert run(shell, f"%fairing_cancel {r.name}").success
    assert r.status == "Cancelled"
    assert not _pid_alive(pid)
    with pytest.raises(RunCancelled):
        r.wait(1)


def test_kernel_interrupt_stops_the_subprocess_and_fails_the_cell(shell):
    timer = threading.Timer(1.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    result = run(shell, "%%fairing_train\nimport os, time\nprint('pid', os.getpid(), flush=True)\n"
                        "time.sleep(60)")
    timer.join()
    assert not result.success
    assert isinstance(result.error_in_exec, RunCancelled)
    assert ("interrupted" in str(result.error_in_exec)
            and "nothing is left running" in str(result.error_in_exec))
    r = shell.magics_manager.registry["FairingMagics"].runs.all()[-1]
    assert r.status == "Cancelled"
    assert not _pid_alive(_run_pid(r))


def test_jobs_and_logs_magics(shell, capsys):
    result = run(shell, "%%fairing_train --name hello\nprint('hello from the run')")
    assert result.success
    name = result.result.name
    capsys.readouterr()
    assert run(shell, "%fairing_jobs").success
    table = capsys.readouterr().out
    assert "NAME" in table and name in table and "Succeeded" in table and "local" in table
    assert run(shell, f"%fairing_logs {name}").success
    assert "hello from the run" in capsys.readouterr().out
    assert run(shell, "%fairing_logs hello").success  # the --name finds the latest run
    assert "hello from the run" in capsys.readouterr().out
    missing = run(shell, "%fairing_logs nosuchrun")
    assert (not missing.success
            and "%fairing_jobs --all lists the recorded runs" in str(missing.error_in_exec))


def test_pump_lines_keeps_utf8_and_partial_lines_whole():
    read_fd, write_fd = os.pipe()
    batches: list[tuple[str, ...]] = []
    thread = threading.Thread(target=pump_lines, args=(read_fd, batches.append, 3))
    thread.start()
    data = "héllo wörld\r\nsecond 日本\nno newline".encode()
    for i in range(0, len(data), 2):  # split inside multi-byte characters
        os.write(write_fd, data[i:i + 2])
    os.close(write_fd)
    thread.join(5)
    os.close(read_fd)
    assert [line for batch in batches for line in batch] == ["héllo wörld", "second 日本",
                                                             "no newline"]
