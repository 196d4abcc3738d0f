"""Pod logs: every line a container wrote, with the time the kubelet received it.

Each (namespace, pod, container) keeps its attempts (one per container start) so that
``previous=true`` reads the one before the current. :func:`render_log` turns a read request
(follow, timestamps, sinceTime/sinceSeconds, tailLines, limitBytes) into byte chunks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


def format_timestamp(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed: Go's ``time.RFC3339Nano``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def parse_timestamp(text: str) -> int:
    """Parse an RFC 3339 time (as clients send in ``sinceTime``) into nanoseconds."""
    import calendar
    text = text.strip().replace("z", "Z")
    offset = 0
    if not text.endswith("Z") and len(text) > 6 and text[-6] in "+-":
        sign = 1 if text[-6] == "+" else -1
        offset = sign * (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60)
        text = text[:-6]
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - offset
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


class Dropped(Exception):
    """A fault hook ended this stream: the server closes the connection without a final chunk."""


class ContainerLog:
    """The lines of one container attempt; followers wait on ``changed``."""

    def __init__(self, uid: str = ""):
        self.uid = uid  # the pod's uid: a new pod with the same name starts a new log
        self.lines: list[tuple[int, bytes]] = []
        self.closed = False
        self.changed = threading.Condition()

    def append(self, line: bytes, at_ns: int | None = None) -> None:
        with self.changed:
            self.lines.append((at_ns or time.time_ns(), line))
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


@dataclass(eq=False)
class LogStream:
    """An open read: the fault hooks may end it (``drop``) or end it after ``drop_after`` lines."""
    drop: bool = False
    drop_after: int | None = None


class LogBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, str], list[ContainerLog]] = {}
        self.streams: set[LogStream] = set()

    def start(self, namespace: str, pod: str, container: str, uid: str = "") -> ContainerLog:
        log = ContainerLog(uid)
        with self._lock:
            self._logs.setdefault((namespace, pod, container), []).append(log)
        return log

    def attempts(self, namespace: str, pod: str, container: str,
                 uid: str = "") -> list[ContainerLog]:
        with self._lock:
            return [log for log in self._logs.get((namespace, pod, container), [])
                    if not uid or log.uid == uid]

    def forget(self, namespace: str, pod: str, uid: str = "") -> None:
        """The pod is gone: close its logs (followers end) and drop them."""
        gone = []
        with self._lock:
            for key in [k for k in self._logs if k[:2] == (namespace, pod)]:
                keep = [log for log in self._logs[key] if uid and log.uid != uid]
                gone += [log for log in self._logs[key] if log not in keep]
                self._logs[key] = keep
        for log in gone:
            log.close()

    def drop_all(self) -> int:
        with self._lock:
            streams = list(self.streams)
        for s in streams:
            s.drop = True
        return len(streams)


def render_log(log: ContainerLog, stream: LogStream, *, follow: bool, timestamps: bool,
               since_ns: int | None, tail: int | None, limit_bytes: int | None,
               stopping: threading.Event) -> Iterator[bytes]:
    """Yield the requested log as chunks (one per line); raise :class:`Dropped` on a fault."""
    with log.changed:
        start = 0
        if since_ns is not None:
            while start < len(log.lines) and log.lines[start][0] < since_ns:
                start += 1
        if tail is not None:
            start = max(start, len(log.lines) - tail)
    sent_bytes = 0
    sent_lines = 0
    index = start
    while True:
        with log.changed:
            while index >= len(log.lines) and follow and not log.closed and not stream.drop \
                    and not stopping.is_set():
                log.changed.wait(0.2)
            batch = log.lines[index:]
            done = log.closed or not follow or stopping.is_set()
        if stream.drop:
            raise Dropped()
        if stream.drop_after is not None and sent_lines + len(batch) > stream.drop_after:
            batch = batch[:max(stream.drop_after - sent_lines, 0)]
            dropping = True
        else:
            dropping = False
        # one chunk per batch of lines (up to 64 KiB), as a kubelet streams buffers, not lines
        pieces: list[bytes] = []
        size = 0
        for at_ns, line in batch:
            data = (format_timestamp(at_ns).encode() + b" " + line) if timestamps else line
            if limit_bytes is not None and sent_bytes + size + len(data) > limit_bytes:
                pieces.append(data[:limit_bytes - sent_bytes - size])
                yield b"".join(pieces)
                return
            pieces.append(data)
            size += len(data)
            if size >= 65536:
                yield b"".join(pieces)
                sent_bytes += size
                pieces, size = [], 0
        if pieces:
            yield b"".join(pieces)
            sent_bytes += size
        sent_lines += len(batch)
        index += len(batch)
        if dropping:
            raise Dropped()
        if done and index >= len(log.lines):
            return
