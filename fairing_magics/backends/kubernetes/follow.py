"""Following a run on the cluster: its pods as they appear, and every container's log.

Log lines (:class:`ContainerLogFollower`):

- read with ``follow=true&timestamps=true`` as a stream (:meth:`ClusterClient.open_log
  <fairing_magics.kube.client.ClusterClient.open_log>`) and cut at ``\\n`` *bytes* before
  decoding, so a UTF-8 character is never split (Fairing decoded raw 1024-byte chunks and
  printed broken characters);
- a stream that drops (connection reset, a chunked body cut short, an API server restart) is
  opened again with ``sinceTime`` = the timestamp of the last line received. The API server (or
  the kubelet behind it) may round that time down to the second, so the replay that comes back
  is filtered by :class:`LogCursor`: lines older than the last one are skipped, and of the lines
  carrying exactly the last timestamp, as many as were already delivered. Nothing is lost and
  nothing is shown twice;
- a container that has not started yet (``400 ... is waiting to start``) is waited for; one that
  is gone (404) ends its follower.

Lines travel through a :class:`LineBatcher`: followers add lines, and every few milliseconds the
batcher hands each source's lines to the run as one ``LogLines`` event. Memory stays bounded: a
follower that gets far ahead of a slow panel waits for it.

Pods (:class:`PodWatcher`): list, then watch from the list's ``resourceVersion`` with a label
selector; an expired watch (410 Gone) or a dropped one is listed again. Each change calls
``on_pod(pod_dict)``; deletions call ``on_pod_deleted(pod_dict)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import urllib3

from fairing_magics import events as ev
from fairing_magics.backends.lines import Terminal, marker_event
from fairing_magics.errors import ClusterError
from fairing_magics.kube import status as st
from fairing_magics.kube.api_resources import POD
from fairing_magics.kube.client import ClusterClient, close_response

GATHER_SECONDS = 0.02
MAX_PENDING_LINES = 20_000
READ_CHUNK = 1 << 16
RECONNECT_SECONDS = 0.2
WAITING_POLL_SECONDS = 0.5


# -- log lines ------------------------------------------------------------------------------------


def timestamp_key(stamp: bytes) -> tuple[bytes, int] | None:
    """An orderable key for an RFC 3339 timestamp as the kubelet writes them (UTC, ``Z``).

    ``2024-01-02T03:04:05.5Z`` -> ``(b"2024-01-02T03:04:05", 500000000)``. Trailing zeros of the
    fraction are trimmed by Go's RFC3339Nano, so the text alone does not sort; this does.
    None when ``stamp`` is not such a timestamp.
    """
    if len(stamp) < 20 or stamp[4:5] != b"-" or stamp[10:11] != b"T":
        return None
    main, rest = stamp[:19], stamp[19:]
    frac = 0
    if rest.startswith(b"."):
        digits = rest[1:].rstrip(b"Z")
        end = 0
        while end < len(digits) and 48 <= digits[end] <= 57:
            end += 1
        frac = int((digits[:end] + b"000000000")[:9] or b"0")
    return main, frac


class LogCursor:
    """Where a log stream got to, so a reconnect neither loses nor repeats a line.

    While live, it only remembers the timestamp of the last line (as the server wrote it) and
    how many lines in a row carried it: a container's log is in time order, so that is all a
    reconnect needs. After :meth:`reconnect`, :meth:`admit` refuses the replay: lines older than
    the last delivered one, and the first ``count`` lines carrying exactly its timestamp; the
    first line past them ends the replay.
    """

    def __init__(self) -> None:
        self.last_stamp = b""  # the last line's timestamp, as received
        self.count = 0  # lines delivered in a row that carry exactly ``last_stamp``
        self._replay_key: tuple[bytes, int] | None = None
        self._skip = 0
        self.replayed = 0  # lines refused as replays (for tests and benchmarks)

    @property
    def since_time(self) -> str | None:
        return self.last_stamp.decode("ascii", "replace") or None

    @property
    def replaying(self) -> bool:
        return self._replay_key is not None

    def reconnect(self) -> None:
        if self.last_stamp:
            self._replay_key, self._skip = timestamp_key(self.last_stamp), self.count

    def admit(self, stamp: bytes | None) -> bool:
        """Is the line stamped ``stamp`` (None: no timestamp) new? Updates the position."""
        if stamp is None:
            return True
        if self._replay_key is not None:
            key = timestamp_key(stamp)
            if key is not None and (key < self._replay_key
                                    or (key == self._replay_key and self._skip > 0)):
                if key == self._replay_key:
                    self._skip -= 1
                self.replayed += 1
                return False
            self._replay_key = None
        self.see(stamp, 1)
        return True

    def see(self, stamp: bytes, n: int) -> None:
        """``n`` more lines stamped ``stamp`` were delivered."""
        if stamp == self.last_stamp:
            self.count += n
        else:
            self.last_stamp, self.count = stamp, n


class LineSplitter:
    """Bytes in, complete lines out (split at ``\\n`` bytes, so UTF-8 stays whole)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines

    def rest(self) -> bytes:
        """The unterminated last line (at a clean end of the stream)."""
        rest, self._pending = self._pending, b""
        return rest

    def discard(self) -> None:
        """Forget a partial line (the stream dropped; the replay brings it whole)."""
        self._pending = b""


def _stamp_of(raw: bytes) -> bytes | None:
    """The RFC 3339 timestamp the API server put before the line (``timestamps=true``)."""
    space = raw.find(b" ")
    if space >= 20 and raw[10:11] == b"T":
        return raw[:space]
    return None


def admit_lines(raw_lines: list[bytes], cursor: LogCursor) -> list[str]:
    """Decode timestamped lines, keeping only those the cursor has not delivered yet.

    The common case (no replay pending) costs one ``find`` per line and one UTF-8 decode per
    batch; lines are checked one by one only while a replay is being skipped.
    """
    kept: list[bytes] = []
    start = 0
    while cursor.replaying and start < len(raw_lines):
        if cursor.admit(_stamp_of(raw_lines[start])):
            kept.append(raw_lines[start])
        start += 1
    rest = raw_lines[start:] if start else raw_lines
    _advance(cursor, rest)
    return _decode(kept + rest if kept else rest)


def _advance(cursor: LogCursor, raw_lines: list[bytes]) -> None:
    """Move the cursor past ``raw_lines`` (all admitted): their last timestamp and its run."""
    if not raw_lines:
        return
    last = _stamp_of(raw_lines[-1])
    if last is None:
        return
    run = 1
    for raw in reversed(raw_lines[:-1]):
        if not raw.startswith(last) or _stamp_of(raw) != last:
            break
        run += 1
    if run == len(raw_lines) and last == cursor.last_stamp:
        cursor.count += run
    else:
        cursor.last_stamp, cursor.count = last, run


def _decode(raw_lines: list[bytes]) -> list[str]:
    bodies = []
    for raw in raw_lines:
        space = raw.find(b" ")
        bodies.append(raw[space + 1:] if space >= 20 and raw[10:11] == b"T" else raw)
    text = b"\n".join(bodies).decode("utf-8", "replace")  # never splits: \n is ASCII
    if "\r" in text:
        return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return text.split("\n") if bodies else []


class LineBatcher:
    """Gathers lines per source and emits them as ``LogLines`` every ``gather_seconds``.

    ``add`` is called by follower threads; a background thread flushes. When more than
    ``max_pending`` lines wait, the adding thread flushes itself (and so waits for the sink).
    Emission is serialized, so each source's lines keep their order.
    """

    def __init__(self, emit: Callable[[object], None], *, gather_seconds: float = GATHER_SECONDS,
                 max_pending: int = MAX_PENDING_LINES, name: str = "fairing-log-batcher"):
        self._emit = emit
        self._gather = gather_seconds
        self._max = max_pending
        self._pending: dict[str, list[str]] = {}
        self._live: dict[str, tuple[str, ...]] = {}  # newest live rows per source, not yet emitted
        self._count = 0
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def add(self, source: str, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock:
            self._pending.setdefault(source, []).extend(lines)
            self._count += len(lines)
            full = self._count >= self._max
        if full:
            self.flush()
        else:
            self._wake.set()

    def live(self, source: str, rows: tuple[str, ...], markers=()) -> None:
        """The rows of ``source`` still being redrawn (emitted after its lines, newest only) and
        the runtime's markers (stages, displays: emitted at once, after the lines added before
        them)."""
        with self._lock:
            self._live[source] = rows
        self._wake.set()
        events = [e for e in (marker_event(marker, source) for marker in markers) if e is not None]
        if events:
            with self._emit_lock:
                self._flush_pending()
                for event in events:
                    self._emit(event)

    def flush(self) -> None:
        with self._emit_lock:
            self._flush_pending()

    def _flush_pending(self) -> None:
        """Emit what waits (with the emit lock held)."""
        with self._lock:
            pending, self._pending, self._count = self._pending, {}, 0
            live, self._live = self._live, {}
        for source, lines in pending.items():
            self._emit(ev.LogLines(tuple(lines), source=source))
        for source, rows in live.items():
            self._emit(ev.LiveLines(rows, source=source))

    def close(self) -> None:
        """Flush what is left and stop the thread."""
        self._closed.set()
        self._wake.set()
        self._thread.join(5)
        self.flush()

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait()
            if self._closed.is_set():
                break
            time.sleep(self._gather)  # let a few more lines arrive: one event for many lines
            self._wake.clear()
            self.flush()


def read_stream(response, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """The body of a streaming urllib3 response, as it arrives."""
    yield from response.stream(chunk, decode_content=True)


class ContainerLogFollower:
    """Follows one container's log into ``deliver(lines)`` until it has ended.

    ``pod_state()`` returns the pod's latest dict (from the pod watcher) or None when the pod is
    gone. ``stop`` ends following early (cancel, detach at the end of the run).
    """

    def __init__(self, client: ClusterClient, namespace: str, pod: str, container: str,
                 deliver: Callable[[list[str]], None], *, pod_state: Callable[[], dict | None],
                 stop: threading.Event, notice: Callable[[str, str], None] = lambda t, lvl: None,
                 on_live: Callable[[tuple[str, ...], list[str]], None] | None = None):
        self.client, self.namespace, self.pod, self.container = client, namespace, pod, container
        self.pod_state, self.stop, self.notice = pod_state, stop, notice
        self._deliver_finished, self.on_live = deliver, on_live
        self.terminal = Terminal()  # \r frames, colours, cursor moves: see backends/lines.py
        self.cursor = LogCursor()
        self.reconnects = 0
        self.lines = 0

    def deliver(self, lines: list[str]) -> None:
        """Lines as the log holds them, through the terminal: finished lines on, live rows aside,
        the runtime's markers in their place among the lines."""
        parts = self.terminal.feed_in_order("\n".join(lines) + "\n") if lines else ()
        for finished, markers in parts:
            if finished:
                self._deliver_finished(list(finished))
            if markers and self.on_live is not None:
                self.on_live(self.terminal.live(), markers)
        if self.on_live is not None:
            self.on_live(self.terminal.live(), [])

    def _close_terminal(self) -> None:
        rest = self.terminal.close()
        if rest:
            self._deliver_finished(list(rest))
        if self.on_live is not None:
            self.on_live((), self.terminal.take_markers())

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._close_terminal()

    def _run(self) -> None:
        splitter = LineSplitter()
        opened_once = False
        failures = 0
        finished_refusals = 0
        while not self.stop.is_set():
            pod = self.pod_state()
            if pod is None and opened_once:
                return
            try:
                response = self.client.open_log(self.pod, self.container,
                                                namespace=self.namespace,
                                                since_time=self.cursor.since_time)
            except ClusterError as e:
                if e.status is None:  # refused, reset: try again shortly
                    failures += 1
                    self.stop.wait(min(5.0, RECONNECT_SECONDS * failures))
                    continue
                if e.status == 404:
                    return  # the pod is gone, and its log with it
                if e.status == 400:  # waiting to start, or already gone from the kubelet
                    if pod is None:
                        return
                    if st.container_finished(pod, self.container):
                        finished_refusals += 1
                        if not st.container_started(pod, self.container) or finished_refusals > 3:
                            return  # it never ran (pull failure, config error), or its log is gone
                    self.stop.wait(WAITING_POLL_SECONDS)
                    continue
                if e.status in (401, 403):
                    self.notice(e.message, "error")
                    return
                failures += 1
                if failures in (3, 30):
                    self.notice(f"cannot read the log of {self.pod}/{self.container} "
                                f"({e.status} {e.reason}); still trying", "warning")
                self.stop.wait(min(5.0, RECONNECT_SECONDS * failures))
                continue
            opened_once = True
            clean = False
            try:
                for data in read_stream(response):
                    lines = admit_lines(splitter.feed(data), self.cursor)
                    if lines:
                        self.lines += len(lines)
                        self.deliver(lines)
                    if self.stop.is_set():
                        return
                clean = True
            except (urllib3.exceptions.HTTPError, OSError):  # a dropped stream: reconnect below
                clean = False
            finally:
                close_response(response)
            if clean:
                rest = splitter.rest()
                failures = 0
                pod = self.pod_state()
                if pod is None or st.container_finished(pod, self.container):
                    if rest:
                        lines = admit_lines([rest], self.cursor)
                        self.lines += len(lines)
                        self.deliver(lines)
                    return
                if rest:  # ended mid-line while still running: the replay brings it whole
                    pass
            splitter.discard()
            self.cursor.reconnect()
            self.reconnects += 1
            self.stop.wait(RECONNECT_SECONDS if clean else 0.05)


# -- pods -----------------------------------------------------------------------------------------


class PodWatcher:
    """Keeps ``pods`` (name -> dict) current for one label selector; calls back on changes."""

    def __init__(self, client: ClusterClient, namespace: str, selector: str, *,
                 on_pod: Callable[[dict], None], on_pod_deleted: Callable[[dict], None],
                 stop: threading.Event, timeout_seconds: int = 30):
        self.client, self.namespace, self.selector = client, namespace, selector
        self.on_pod, self.on_pod_deleted, self.stop = on_pod, on_pod_deleted, stop
        self.timeout_seconds = timeout_seconds
        self.pods: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.relists = 0
        self.synced = threading.Event()
        self._response = None

    def close(self) -> None:
        """Stop watching now: set ``stop`` and close the open watch (its thread ends at once)."""
        self.stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # urllib3 >= 2.3: unblocks a read in another thread
            except Exception:  # noqa: BLE001 - older urllib3, or already closed
                pass
            try:
                response.close()
            except Exception:  # noqa: BLE001
                pass

    def get(self, name: str) -> dict | None:
        with self.lock:
            return self.pods.get(name)

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.pods.values())

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                rv = self._relist()
                self.synced.set()
                failures = 0
                while not self.stop.is_set():
                    rv = self._watch(rv)
                    if rv is None:
                        break  # expired: list again
            except Exception:  # noqa: BLE001 - the API hiccuped: list again after a pause
                failures += 1
                self.stop.wait(min(5.0, 0.2 * failures))

    def _relist(self) -> str:
        body = self.client.list(POD, namespace=self.namespace, label_selector=self.selector)
        self.relists += 1
        items = body.get("items") or []
        for pod in items:
            pod.setdefault("kind", "Pod")
        names = {p["metadata"]["name"] for p in items}
        with self.lock:
            gone = [p for n, p in self.pods.items() if n not in names]
            for pod in gone:
                del self.pods[pod["metadata"]["name"]]
            for pod in items:
                self.pods[pod["metadata"]["name"]] = pod
        for pod in gone:
            self.on_pod_deleted(pod)
        for pod in items:
            self.on_pod(pod)
        return (body.get("metadata") or {}).get("resourceVersion") or ""

    def _watch(self, rv: str) -> str | None:
        response = self.client.watch(POD, namespace=self.namespace, label_selector=self.selector,
                                     resource_version=rv, timeout_seconds=self.timeout_seconds)
        self._response = response
        splitter = LineSplitter()
        try:
            for data in read_stream(response):
                for line in splitter.feed(data):
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        return None  # 410 Gone (or another Status): list again
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        with self.lock:
                            self.pods.pop(name, None)
                        self.on_pod_deleted(obj)
                    else:
                        with self.lock:
                            self.pods[name] = obj
                        self.on_pod(obj)
                if self.stop.is_set():
                    return rv
        finally:
            self._response = None
            close_response(response)
        return rv
