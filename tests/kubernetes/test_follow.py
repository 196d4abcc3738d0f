"""Log following: lines cut at newline bytes, the reconnect cursor, the batcher (pure), and the
follower and pod watcher over real HTTP against the API emulator (no kubelet: the tests write
the container's log into the emulator's log book themselves, which is fast and exact)."""

from __future__ import annotations

import threading
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.follow import (
    ContainerLogFollower,
    LineBatcher,
    LineSplitter,
    LogCursor,
    PodWatcher,
    admit_lines,
    timestamp_key,
)
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.kube.client import ClusterClient
from tests.harness.kube.resources import find_type

POD = find_type("", "v1", "pods")


# -- pure parts -----------------------------------------------------------------------------------


def test_timestamp_keys_order_like_times_not_like_text():
    # Go's RFC3339Nano trims trailing zeros: as text "05Z" > "05.1Z", as times it is earlier.
    a, b, c = (timestamp_key(s) for s in (b"2024-01-02T03:04:05Z", b"2024-01-02T03:04:05.1Z",
                                          b"2024-01-02T03:04:05.123456789Z"))
    assert a < b < c
    assert b"2024-01-02T03:04:05Z" > b"2024-01-02T03:04:05.1Z"  # why text will not do
    assert timestamp_key(b"2024-01-02T03:04:06Z") > c
    assert timestamp_key(b"hello") is None


def test_splitter_never_cuts_a_utf8_character():
    text = "naïve € 日本\nsecond ✓\npartial"
    data = text.encode()
    for cut in range(1, len(data)):
        splitter = LineSplitter()
        lines = splitter.feed(data[:cut]) + splitter.feed(data[cut:])
        assert [line.decode() for line in lines] == ["naïve € 日本", "second ✓"]
        assert splitter.rest().decode() == "partial"


def stamped(lines: list[tuple[str, str]]) -> list[bytes]:
    return [f"{ts} {text}".encode() for ts, text in lines]


def test_cursor_skips_the_replay_of_a_server_that_rounds_sinceTime_down():
    t1, t2, t3 = "2024-01-01T00:00:01.5Z", "2024-01-01T00:00:01.7Z", "2024-01-01T00:00:02.1Z"
    log = [(t1, "a"), (t2, "b"), (t2, "c"), (t2, "d"), (t3, "e"), (t3, "f")]
    cursor = LogCursor()
    # The first stream delivers a, b, c and drops in the middle of the lines stamped t2.
    assert admit_lines(stamped(log[:3]), cursor) == ["a", "b", "c"]
    assert cursor.since_time == t2
    cursor.reconnect()
    # The server answers from 00:00:01 (rounded down): a, b, c come again and are skipped.
    assert admit_lines(stamped(log), cursor) == ["d", "e", "f"]
    assert cursor.replayed == 3
    # A later line with an equal timestamp is new once the replay is over.
    assert admit_lines(stamped([(t3, "g")]), cursor) == ["g"]


def test_cursor_keeps_lines_without_timestamps_and_strips_carriage_returns():
    cursor = LogCursor()
    assert admit_lines([b"2024-01-01T00:00:01Z progress\r", b"no stamp here"], cursor) == [
        "progress", "no stamp here"]


def test_batcher_keeps_order_per_source_and_bounds_what_waits():
    got: list[ev.LogLines] = []
    slow = threading.Event()

    def emit(event):
        got.append(event)
        slow.wait(0.001)

    batcher = LineBatcher(emit, gather_seconds=0.005, max_pending=100)
    for i in range(1000):
        batcher.add("worker-0", [f"w{i}"])
        batcher.add("chief-0", [f"c{i}"])
    batcher.close()
    for source, prefix in (("worker-0", "w"), ("chief-0", "c")):
        lines = [line for e in got if e.source == source for line in e.lines]
        assert lines == [f"{prefix}{i}" for i in range(1000)]
    assert max(len(e.lines) for e in got) <= 100  # a batch never exceeds the bound
    assert len(got) < 1000  # lines travel in batches, not one event each


# -- over HTTP, against the API emulator -----------------------------------------------------


@pytest.fixture
def api(kube_api):
    """The emulator, the official client's CoreV1Api (the test's own hands on the cluster) and
    our ClusterClient (what the follower and the watcher use)."""
    from kubernetes.client import CoreV1Api

    access = load_cluster_access(kubeconfig=kube_api.kubeconfig,
                                 retries=client_retries(backoff_factor=0))
    yield kube_api.emulator, CoreV1Api(access.api_client), ClusterClient(access)
    access.close()


def make_pod(emu, core, name: str, state: dict, labels: dict | None = None) -> dict:
    core.create_namespaced_pod("default", {
        "metadata": {"name": name, "labels": labels or {"fairing.dev/run": "r1"}},
        "spec": {"containers": [{"name": "train", "image": "x"}]}}, _preload_content=False)
    set_state(emu, name, state)
    return emu.store.find(POD, "default", name)


def set_state(emu, name: str, state: dict) -> None:
    phase = ("Running" if "running" in state else
             "Succeeded" if state.get("terminated", {}).get("exitCode") == 0 else
             "Failed" if "terminated" in state else "Pending")

    def update(pod):
        pod["status"] = {"phase": phase, "containerStatuses": [
            {"name": "train", "state": state, "image": "x", "imageID": "", "ready": False,
             "restartCount": 0}]}
    emu.store.mutate(POD, "default", name, update)


def follow_in_thread(emu, client: ClusterClient, name: str,
                     got: list) -> tuple[ContainerLogFollower, threading.Thread]:
    stop = threading.Event()
    follower = ContainerLogFollower(client, "default", name, "train", got.extend,
                                    pod_state=lambda: emu.store.find(POD, "default", name),
                                    stop=stop)
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    follower.stop_event = stop
    return follower, thread


def test_follower_reconnects_after_drops_without_losing_or_repeating(api):
    emu, core, client = api
    pod = make_pod(emu, core, "p1", {"running": {"startedAt": "2024-01-01T00:00:00Z"}})
    log = emu.logbook.start("default", "p1", "train", pod["metadata"]["uid"])
    emu.drop_log_streams_after(100, times=3)  # three streams in a row end after 100 lines
    got: list[str] = []
    follower, thread = follow_in_thread(emu, client, "p1", got)
    same = time.time_ns()
    for i in range(1000):
        # Groups of 7 lines share one timestamp: a drop inside a group must not repeat any.
        log.append(f"line {i} ✓\n".encode(), at_ns=same + (i // 7) * 1000)
    emu.wait_for(lambda: len(got) >= 1000, 20, what="every line")
    emu.drop_log_streams()  # and once more, while it waits for new lines
    time.sleep(0.3)
    log.append(b"after the last drop\n", at_ns=same + 10**9)
    log.close()
    set_state(emu, "p1", {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "startedAt": "2024-01-01T00:00:00Z"}})
    thread.join(10)
    assert not thread.is_alive()
    assert got == [f"line {i} ✓" for i in range(1000)] + ["after the last drop"]
    assert follower.reconnects >= 4
    assert follower.cursor.replayed > 0  # the replays came and were skipped


def test_follower_waits_for_a_container_to_start(api):
    emu, core, client = api
    pod = make_pod(emu, core, "p2", {"waiting": {"reason": "ContainerCreating"}})
    got: list[str] = []
    follower, thread = follow_in_thread(emu, client, "p2", got)
    time.sleep(0.7)  # the API answers 400 "waiting to start" meanwhile
    log = emu.logbook.start("default", "p2", "train", pod["metadata"]["uid"])
    set_state(emu, "p2", {"running": {"startedAt": "2024-01-01T00:00:00Z"}})
    log.append(b"hello\n")
    log.append(b"no newline at the end")
    log.close()
    set_state(emu, "p2", {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "startedAt": "2024-01-01T00:00:00Z"}})
    thread.join(10)
    assert got == ["hello", "no newline at the end"]


def test_follower_gives_up_on_a_container_that_never_ran(api):
    emu, core, client = api
    make_pod(emu, core, "p3", {"waiting": {"reason": "ErrImagePull"}})
    got: list[str] = []
    _, thread = follow_in_thread(emu, client, "p3", got)
    time.sleep(0.3)
    set_state(emu, "p3", {"terminated": {"exitCode": 128, "reason": "ContainerCannotRun"}})
    thread.join(5)
    assert not thread.is_alive() and got == []


def test_pod_watcher_sees_pods_appear_change_and_go_also_after_an_expired_watch(api):
    emu, core, client = api
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    watcher = PodWatcher(client, "default", "fairing.dev/run=r1",
                         on_pod=lambda p: seen.append((p["metadata"]["name"],
                                                       (p.get("status") or {}).get("phase", ""))),
                         on_pod_deleted=lambda p: seen.append((p["metadata"]["name"], "DELETED")),
                         stop=stop, timeout_seconds=5)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.synced.wait(5)
        make_pod(emu, core, "w1", {"running": {}})
        make_pod(emu, core, "other", {"running": {}}, labels={"fairing.dev/run": "r2"})
        emu.wait_for(lambda: ("w1", "Running") in seen, 5)
        emu.expire_watches()  # 410 Gone: the watcher lists again and goes on
        make_pod(emu, core, "w2", {"running": {}})
        emu.wait_for(lambda: ("w2", "Running") in seen, 5)
        core.delete_namespaced_pod("w1", "default", grace_period_seconds=0,
                                   _preload_content=False)
        emu.wait_for(lambda: ("w1", "DELETED") in seen, 5)
        assert all(name != "other" for name, _ in seen)
        assert watcher.relists >= 2
        assert {p["metadata"]["name"] for p in watcher.snapshot()} == {"w2"}
    finally:
        started = time.monotonic()
        watcher.close()
        thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 2  # no wait for the server
