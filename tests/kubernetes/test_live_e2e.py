"""Watching a cluster run live (emulated API server, real podman containers): every replica's
progress bar frames reach the run while the job is held mid-way, each replica gets its own
progress, the stage timeline has schedule and pull from the pods, and logs.txt keeps one line
per bar (its last frame).

Deterministic: the replicas wait mid-loop for a gate, an HTTP server of the test on 127.0.0.1
(pods use the host's network) that answers 200 only once the test saw what it checks.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from fairing_magics import events as ev
from tests.kubernetes.test_backend_e2e import Kube, kube  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

REPLICAS = ("chief-0", "worker-0")


class Gate:
    """``GET /`` answers 404 until :meth:`open`, then 200."""

    def __init__(self):
        gate = self
        self.opened = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_response(200 if gate.opened.is_set() else 404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self):
        self.opened.set()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_every_replicas_progress_frames_are_live_and_the_timeline_has_schedule_and_pull(
        kube: Kube):  # noqa: F811
    gate = Gate()
    cell = ("import sys, time, urllib.request\n"
            "for i in range(1, 11):\n"
            "    bar = '#' * i + ' ' * (10 - i)\n"
            "    sys.stderr.write(f'\\rtrain: {i * 10:3d}%|{bar}| "
            "{i}/10 [00:01<00:02,  5.00it/s]')\n"
            "    sys.stderr.flush()\n"
            "    while i == 5:\n"
            "        try:\n"
            f"            urllib.request.urlopen({gate.url!r}, timeout=2)\n"
            "            break\n"
            "        except OSError:\n"
            "            time.sleep(0.05)\n"
            "sys.stderr.write('\\n')\n"
            "print('loss=0.25')\n")
    try:
        run, events = kube.train(cell, name="live", kind="tfjob", workers=1)
        deadline = time.monotonic() + 180
        held = False
        while time.monotonic() < deadline and not run.done:
            live = {e.source: e.lines for e in list(events)
                    if isinstance(e, ev.LiveLines) and e.lines}
            if all(any("5/10" in row for row in live.get(r, ())) for r in REPLICAS) and \
                    all(run.progress.get(r) is not None and run.progress[r].done == 5
                        for r in REPLICAS) \
                    and run.phase == ev.RUNNING and run.stages.get("pull", ("",))[0] == "done":
                held = True
                break
            time.sleep(0.05)  # looking at what arrived; the replicas wait at the gate meanwhile
        assert held, f"frames seen: {[e for e in events if isinstance(e, ev.LiveLines)][-6:]}"
        assert not run.done and run.stages["schedule"][0] == "done"
        gate.open()
        run.wait(180)
    finally:
        gate.close()
    assert run.status == ev.SUCCEEDED
    for replica in REPLICAS:
        lines = [line for line in run.logs().splitlines() if line.startswith(f"[{replica}]")]
        assert lines == [f"[{replica}] train: 100%|##########| 10/10 [00:01<00:02,  5.00it/s]",
                         f"[{replica}] loss=0.25"], lines
    assert {(p.name, p.source)
            for e in events if isinstance(e, ev.MetricPoints) for p in e.points} == {
        ("loss", r) for r in REPLICAS}
    record = run.record()
    names = [stage["name"] for stage in record["stages"]]
    assert names == ["capture", "build", "push", "submit", "schedule", "pull", "run"]
    assert all(stage["state"] == "done" for stage in record["stages"])
