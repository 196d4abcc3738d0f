"""Kubernetes log-follow benchmark (issue 6, item 7).

200,000 lines of one container's log, served by the API emulator (``follow=true&timestamps=true``,
chunked HTTP on 127.0.0.1), followed by :class:`~fairing_magics.backends.kubernetes.follow.
ContainerLogFollower` through the official client's connection pool, batched by the
:class:`~fairing_magics.backends.kubernetes.follow.LineBatcher` into a
:class:`~fairing_magics.run.Run` (log file on disk, last lines in memory) and a real
:class:`~fairing_magics.ui.jobview.JobView` (ipywidgets objects, 1,000 lines shown).

Baseline, same run, same URL: raw ``requests`` streaming (``iter_lines``), counting the lines and
nothing else (the floor of reading this HTTP stream in Python). A third row follows the same log
while the emulator drops the stream three times (every 50,000 lines): reconnect + replay cost.

Figures: lines/s (best of REPEATS, no tracemalloc) and peak Python memory during the follow
(tracemalloc, one more run). Run: ``python benchmarks/bench_kube_logs.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairing_magics import events as ev  # noqa: E402
from fairing_magics.backends.kubernetes.follow import (  # noqa: E402
    ContainerLogFollower,
    LineBatcher,
)
from fairing_magics.kube.access import client_retries, load_cluster_access  # noqa: E402
from fairing_magics.kube.client import ClusterClient  # noqa: E402
from fairing_magics.run import Run  # noqa: E402
from tests.harness.kube.cluster import start_api_only  # noqa: E402
from tests.harness.kube.resources import find_type  # noqa: E402

N_LINES = 200_000
REPEATS = 3
POD = find_type("", "v1", "pods")


def prepare(folder: Path):
    cluster = start_api_only(folder / "kube")
    emu = cluster.emulator
    access = load_cluster_access(kubeconfig=cluster.kubeconfig,
                                 retries=client_retries(backoff_factor=0))
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(access.api_client)
    core.create_namespaced_pod("default", {
        "metadata": {"name": "bench"}, "spec": {"containers": [{"name": "train", "image": "x"}]}},
        _preload_content=False)

    def finished(pod):
        pod["status"] = {"phase": "Succeeded", "containerStatuses": [{
            "name": "train", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                     "startedAt": "2024-01-01T00:00:00Z"}}}]}
    emu.store.mutate(POD, "default", "bench", finished)
    pod = emu.store.find(POD, "default", "bench")
    log = emu.logbook.start("default", "bench", "train", pod["metadata"]["uid"])
    start = time.time_ns()
    for i in range(N_LINES):  # typical training output: ~60 bytes, some non-ASCII
        log.append(f"epoch {i // 1000:4d} step {i:6d} loss {1 / (i + 1):.6f} — ok\n".encode(),
                   at_ns=start + i * 1000)
    log.close()
    return cluster, emu, access, ClusterClient(access)


def follow_raw_requests(access) -> int:
    import requests

    config = access.api_client.configuration
    url = (f"{config.host}/api/v1/namespaces/default/pods/bench/log"
           "?container=train&follow=true&timestamps=true")
    headers = {k: v["value"] for k, v in
               ((a["key"], a) for a in config.auth_settings().values())}
    count = 0
    with requests.get(url, headers=headers, stream=True, timeout=60) as response:
        response.raise_for_status()
        for _ in response.iter_lines(chunk_size=1 << 16):
            count += 1
    return count


def follow_into_panel(emu, client, folder: Path, drops: int = 0) -> tuple[int, int]:
    from fairing_magics.ui.jobview import JobView

    run = Run(f"bench-{time.monotonic_ns()}", "kubernetes", folder / str(time.monotonic_ns()))
    view = JobView(title=run.name, backend="kubernetes", stages=("run",), log_lines=1000)
    run.subscribe(view.handle)
    batcher = LineBatcher(run.emit)
    if drops:
        emu.drop_log_streams_after(N_LINES // (drops + 1), times=drops)
    follower = ContainerLogFollower(
        client, "default", "bench", "train", lambda lines: batcher.add("bench", lines),
        pod_state=lambda: emu.store.find(POD, "default", "bench"), stop=threading.Event())
    follower.run()
    batcher.close()
    view.close()
    run.finish(ev.SUCCEEDED, "done")
    run.close()
    assert run.line_count == N_LINES, (run.line_count, N_LINES)
    return run.line_count, follower.reconnects


def measure(fn, *args) -> tuple[float, float]:
    """(best lines/s over REPEATS, peak MiB under tracemalloc in one more run)."""
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn(*args)
        rates.append(N_LINES / (time.perf_counter() - started))
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return max(rates), peak / 2**20, statistics.median(rates)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cluster, emu, access, client = prepare(folder)
        try:
            assert follow_raw_requests(access) == N_LINES
            base_rate, base_mem, base_med = measure(follow_raw_requests, access)
            ours_rate, ours_mem, ours_med = measure(follow_into_panel, emu, client, folder)
            drop_rate, drop_mem, drop_med = measure(follow_into_panel, emu, client, folder, 3)
        finally:
            access.close()
            cluster.stop()
    print(f"{N_LINES:,} log lines from the API emulator (best of {REPEATS}; median in brackets)")
    print(f"  baseline, raw requests iter_lines:     {base_rate:>9,.0f} lines/s "
          f"[{base_med:,.0f}]  peak {base_mem:6.1f} MiB")
    print(f"  follower -> batcher -> Run + JobView:  {ours_rate:>9,.0f} lines/s "
          f"[{ours_med:,.0f}]  peak {ours_mem:6.1f} MiB  ({ours_rate / base_rate:.2f}x baseline)")
    print(f"  same, stream dropped 3 times:          {drop_rate:>9,.0f} lines/s "
          f"[{drop_med:,.0f}]  peak {drop_mem:6.1f} MiB  ({drop_rate / base_rate:.2f}x baseline)")


if __name__ == "__main__":
    main()
