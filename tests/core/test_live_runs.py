"""Watching a run live, through real kernels: progress frames in the widget state while the run
is held mid-way, metrics and their chart, the text a headless notebook keeps, and a run whose
kernel was killed (SIGKILL) found Lost with its log by a new kernel."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from fairing_magics.run import process_alive
from tests.core.conftest import run
from tests.core.kernels import Kernel, gate_code


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path)
    try:
        yield k
    finally:
        k.stop()


def _held_run(kernel: Kernel, code: str, gate: Path, seen, timeout: float = 120):
    """Run ``code`` (a %%fairing_train cell held at ``gate``); open the gate when ``seen(kernel)``
    is true. Returns (reply, output, what seen() returned first)."""
    found: list = []

    def watch(k):
        if not found:
            value = seen(k)
            if value:
                found.append(value)
                gate.write_text("open")

    reply, out = kernel.execute(code, watch=watch, timeout=timeout)
    return reply, out, found[0] if found else None


def _live(kernel: Kernel) -> list[str]:
    return [v for v in kernel.values() if 'class="fairing-live"' in v]


def test_tqdm_frames_reach_the_widget_while_the_run_is_held_mid_way(kernel, tmp_path):
    gate = tmp_path / "gate-tqdm"
    code = ("%%fairing_train --name tq\n"
        "from tqdm import tqdm\n"
        "for i in tqdm(range(10), desc='train', mininterval=0):\n"
        "    if i == 5:\n" + gate_code(gate, "        ") +
        "print('after the loop')\n")
    kernel.execute("%load_ext fairing_magics")

    def mid_way(k):
        frames = [v for v in _live(k) if "train:  50%" in v and "5/10" in v]
        header = [v for v in k.values() if "fairing-header" in v and 'data-fraction="0.5000"' in v
                  and "Running" in v]
        return frames and header and (frames[0], header[0])

    reply, out, seen = _held_run(kernel, code, gate, mid_way)
    assert reply["content"]["status"] == "ok", out
    assert seen, ("the 5/10 frame never reached the widget while the run was held:\n"
                  f"{kernel.values()}")
    frame, header = seen
    assert "\r" not in frame and "\x1b" not in frame  # a clean frame, no raw control codes
    assert "train" in header and "50%" in header and "ETA" in header
    logs = json.loads(kernel.execute("import json, glob\nprint(json.dumps([open(p).read() for p in "
                                     "glob.glob('home/runs/tq-*/logs.txt')]))")[1])
    assert len(logs) == 1
    lines = logs[0].splitlines()
    assert lines[0].startswith("train: 100%|") and "10/10" in lines[0]  # one line: the last frame
    assert lines[1:] == ["after the loop"]


def test_keras_style_progbar_frames_reach_the_widget_while_held(kernel, tmp_path):
    gate = tmp_path / "gate-keras"
    kernel.execute("%load_ext fairing_magics")
    code = ("%%fairing_train --name progbar\n"
            "import sys\n"
            "print('Epoch 1/2')\n"
            "width = 0\n"
            "for step in range(1, 11):\n"
            "    bar = f'{step:2d}/10 [' + '=' * (step - 1) + '>' + '.' * (10 - step)"
            " + f'] - ETA: {10 - step}s - loss: {1 / step:.4f}'\n"
            "    sys.stdout.write('\\b' * width + '\\r' + bar)\n"
            "    sys.stdout.flush()\n"
            "    width = len(bar)\n"
            "    if step == 4:\n" + gate_code(gate, "        ") +
            "sys.stdout.write('\\n')\n")

    def mid_way(k):
        frames = [v for v in _live(k) if " 4/10 [===&gt;......] - ETA: 6s - loss: 0.2500" in v]
        return frames and [v for v in k.values() if 'data-fraction="0.4000"' in v]

    reply, out, seen = _held_run(kernel, code, gate, mid_way)
    assert reply["content"]["status"] == "ok", out
    assert seen, f"the 4/10 progbar frame never reached the widget while held:\n{_live(kernel)}"
    charts = [v for v in kernel.values() if "fairing-chart" in v]
    # the final frame's "loss: 0.1000" at epoch 1
    assert charts and 'data-metric="loss"' in charts[-1]


def test_metric_lines_and_log_metric_give_run_metrics_and_the_chart(shell):
    result = run(shell, "%%fairing_train --name metrics\nimport fairing_magics\n"
                        "for epoch in range(5):\n"
                        "    print(f'epoch={epoch} loss={0.41 + (4 - epoch) / 10:.2f}')\n"
                        "    fairing_magics.log_metric('accuracy', 0.5 + epoch / 10, step=epoch)\n"
                        "print('{\"step\": 9, \"lr\": 0.001}')\n")
    assert result.success, result.error_in_exec
    r = result.result
    frame = r.metrics
    assert list(frame.columns) == ["step", "name", "value", "source", "time"]
    loss = frame[frame.name == "loss"]
    assert loss.step.tolist() == [0, 1, 2, 3, 4] and loss.value.iloc[-1] == pytest.approx(0.41)
    assert (frame[frame.name == "accuracy"].value.tolist()
            == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9]))
    assert frame[frame.name == "lr"].step.tolist() == [9]
    stored = [json.loads(line) for line in (r.folder / "metrics.jsonl").read_text().splitlines()]
    assert len(stored) == 11 and {"name", "value", "step", "time"} <= set(stored[0])
    from fairing_magics import events as ev
    from fairing_magics.ui.jobview import JobView

    view = JobView(title=r.name, backend="local", stages=("capture", "run"))
    view.handle(ev.MetricPoints(tuple(ev.MetricPoint(s["name"], s["value"], s["step"])
                                      for s in stored)))
    view.handle(ev.Finished(ev.SUCCEEDED, "ok", 1.0))
    assert 'data-metric="loss"' in view.chart.value and 'data-metric="accuracy"' in view.chart.value
    assert view.chart.value.count("<polyline") == 2  # lr has one point: a dot
    record = json.loads((r.folder / "run.json").read_text())
    assert record["metrics"]["loss"] == pytest.approx(0.41) and record["phase"] == "Succeeded"


def test_a_killed_kernel_leaves_a_lost_run_with_its_log(tmp_path):
    first = Kernel(tmp_path)
    gate = tmp_path / "never-opened"
    try:
        first.execute("%load_ext fairing_magics")
        reply, out = first.execute("%%fairing_train --no-wait --name orphan\n"
                                   "for i in range(3):\n"
                                   "    print('line', i, flush=True)\n" + gate_code(gate))
        assert reply["content"]["status"] == "ok", out
        folder = next((tmp_path / "home" / "runs").glob("orphan-*"))
        deadline = time.monotonic() + 60
        while "line 2" not in (folder / "logs.txt").read_text() and time.monotonic() < deadline:
            # waiting for the lines to be written, not racing the run: it waits at its gate
            time.sleep(0.05)
        record = json.loads((folder / "run.json").read_text())
        assert record["phase"] == "Running" and record["process"]["pid"]
        os.kill(first.pid, signal.SIGKILL)
        first.manager.provisioner.process.wait(30)
    finally:
        first.stop()

    second = Kernel(tmp_path)
    try:
        second.execute("%load_ext fairing_magics")
        _, jobs = second.execute("%fairing_jobs --all")
        assert folder.name in jobs and "Lost" in jobs, jobs
        _, logs = second.execute(f"%fairing_logs {folder.name}")
        assert "line 0\nline 1\nline 2\n" in logs and "Lost" in logs and "is gone" in logs, logs
        _, mine = second.execute("%fairing_jobs")
        assert "No runs in this kernel yet" in mine and "--all lists the 1 recorded runs" in mine
    finally:
        second.stop()
    record = json.loads((folder / "run.json").read_text())
    assert record["phase"] == "Lost" and record["finished_at"] >= record["started_at"]
    deadline = time.monotonic() + 30
    while process_alive(record["process"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(record["process"]), "the orphaned run process is still running"


def test_a_remote_traceback_shows_once_in_the_panel_and_not_again_below_it(kernel):
    kernel.execute("%load_ext fairing_magics")
    kernel.execute("def explode(v):\n    raise ValueError(f'bad value {v}')")
    reply, out = kernel.execute("%%fairing_train --name tb\nprint('before')\nexplode(3)")
    assert reply["content"]["status"] == "error"
    import html
    import re

    shown = " ".join(html.unescape(re.sub("<[^>]+>", "", v)) for v in kernel.values()
                     if "<pre" in v)
    assert (shown.count("Traceback (most recent call last)") == 1
            and "ValueError: bad value 3" in shown)
    error = reply["content"]
    assert error["ename"] == "JobFailed" and "ValueError: bad value 3" in error["evalue"]
    assert "Traceback" not in "\n".join(error["traceback"])  # the panel showed it: not repeated
    summary = [v for v in kernel.values() if "fairing-summary" in v][-1]
    assert "(ValueError, exit code 1)" in summary


def test_records_kept_in_s3_storage_are_read_from_a_kernel_without_the_local_folder(
        shell, aws, tmp_path, capsys):
    import shutil

    from fairing_magics.storage import S3Storage

    S3Storage("fairing-runs").ensure_bucket()
    assert run(shell, "%fairing_config --storage s3://fairing-runs/team").success
    result = run(shell, "%%fairing_train --name stored\nfor epoch in range(3):\n"
                        "    print(f'epoch={epoch} loss={1 / (epoch + 1)}')")
    assert result.success, result.error_in_exec
    name = result.result.name
    keys = {o["Key"] for o in S3Storage("fairing-runs", "team")._client.list_objects_v2(
        Bucket="fairing-runs", Prefix=f"team/runs/{name}/")["Contents"]}
    assert {f"team/runs/{name}/{f}" for f in ("run.json", "logs.txt", "metrics.jsonl")} <= keys
    shutil.rmtree(tmp_path / "home")  # another machine: no local record of the run
    shell.run_cell("%unload_ext fairing_magics")
    shell.extension_manager.loaded.discard("fairing_magics")
    assert run(shell, "%load_ext fairing_magics").success
    # the same storage
    assert run(shell, "%fairing_config --storage s3://fairing-runs/team").success
    capsys.readouterr()
    assert run(shell, f"%fairing_logs {name}").success
    shown = capsys.readouterr().out
    assert "epoch=2 loss=0.333" in shown and f"[fairing] {name} Succeeded: succeeded in" in shown


def test_jobs_lists_this_kernels_runs_newest_limit_and_all(shell, capsys):
    names = []
    for i in range(3):
        result = run(shell, f"%%fairing_train --name lim{i}\nprint({i})")
        assert result.success
        names.append(result.result.name)
    capsys.readouterr()
    assert run(shell, "%fairing_jobs --limit 2").success
    table = capsys.readouterr().out
    assert names[0] not in table and names[1] in table and names[2] in table
    assert "(1 older runs not shown: --limit 3)" in table
    header, *rows = [line for line in table.splitlines() if line and not line.startswith("(")]
    assert header.split() == ["NAME", "BACKEND", "STATUS", "START", "DURATION", "SUMMARY"]
    for row in rows:  # one duration: the table's is the summary's
        duration = row.split("Succeeded")[1].split()[2:4]
        assert f"succeeded in {' '.join(duration)}" in row
    bad = run(shell, "%fairing_jobs --limit 0")
    assert not bad.success and "--limit 0" in str(bad.error_in_exec)


def test_cancel_from_a_new_kernel_stops_another_kernels_run(tmp_path):
    gate = tmp_path / "never"
    owner = Kernel(tmp_path)
    other = None
    try:
        owner.execute("%load_ext fairing_magics")
        reply, out = owner.execute("%%fairing_train --no-wait --name held\n"
                                   "print('waiting', flush=True)\n"
                                   + gate_code(gate))
        assert reply["content"]["status"] == "ok", out
        folder = next((tmp_path / "home" / "runs").glob("held-*"))
        deadline = time.monotonic() + 60
        while "waiting" not in (folder / "logs.txt").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # the run prints, then waits at its gate: no race
        other = Kernel(tmp_path)
        other.execute("%load_ext fairing_magics")
        reply, said = other.execute(f"%fairing_cancel {folder.name}")
        assert reply["content"]["status"] == "ok", said
        assert "was ended; its kernel reports it Cancelled" in said
        _, status = owner.execute("r = _\nr.wait_done(30)\nprint(r.status, '|', r.summary)")
        assert status.startswith("Cancelled | cancelled after"), status
        headers = [v for v in owner.values() if "fairing-header" in v and folder.name in v]
        assert "Cancelled" in headers[-1]  # the --no-wait panel kept updating after its cell ended
        _, jobs = other.execute("%fairing_jobs --all")
        assert folder.name in jobs and "Cancelled" in jobs
    finally:
        owner.stop()
        if other is not None:
            other.stop()
