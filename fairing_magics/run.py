"""The run object: what a ``%%fairing_train`` cell returns, and the record of every run.

A :class:`Run` is fed events by its backend (from background threads) and hands them to its
subscribers (the panel). It keeps the full log on disk (``<home>/runs/<name>/logs.txt``) and
only the last lines in memory, so a run printing millions of lines stays small.

``run.status``, ``run.logs()``, ``run.outputs``, ``run.image``, ``run.cancel()``, ``run.wait()``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.errors import FairingError, JobFailed, redact

LOG_FILE = "logs.txt"
RECORD_FILE = "run.json"
TAIL_LINES = 40
#: Lower-case fragments without which no credential :func:`redact` masks can be in a text.
_SECRET_HINTS = ("://", "authorization", "bearer", "akia", "asia", "aroa", "aida", "secret", "token",
                 "passw", '"auth"', "eyj")


def redact_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    """``lines`` with credentials masked (:func:`~fairing_magics.errors.redact`), so that a
    program printing a token or a URL with a password does not put it in the panel or logs.txt.
    One substring check per batch keeps the regexes off the lines that cannot hold one."""
    text = "\n".join(lines).lower()
    if not any(hint in text for hint in _SECRET_HINTS):
        return lines
    return tuple(redact(line) for line in lines)


class Run:
    """One training run. Created by the pipeline; its backend drives it through its phases."""

    def __init__(self, name: str, backend: str, folder: Path, *, outputs: tuple[str, ...] = (),
                 stages: tuple[str, ...] = ev.STAGES):
        self.name = name
        self.backend = backend
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stages_shown = tuple(stages)
        self.requested_outputs = tuple(outputs)
        self.phase = ev.PENDING
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.stages: dict[str, tuple[str, float]] = {}
        self.outputs: dict = {}
        self.image: str | None = None
        self.error: FairingError | None = None
        self.summary = ""
        self.line_count = 0
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._subscribers: list[Callable[[object], None]] = []
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._cancel: Callable[[], None] | None = None
        self._log = open(self.folder / LOG_FILE, "a", encoding="utf-8", buffering=1 << 16)
        self.suppress_next_display = False
        self.cancelled_by = ""  # who cancelled the run, when not the kernel: "the panel"
        self.save_record()

    # -- what backends call -------------------------------------------------------------
    def emit(self, event) -> None:
        """Record ``event`` and pass it to every subscriber. Safe from any thread."""
        if isinstance(event, ev.LogLines):
            lines = redact_lines(tuple(event.lines))
            if lines != tuple(event.lines):
                event = replace(event, lines=lines)
        with self._lock:
            if isinstance(event, ev.LogLines):
                prefix = f"[{event.source}] " if event.source else ""
                self._log.write("".join(prefix + line + "\n" for line in event.lines))
                self.line_count += len(event.lines)
                self._tail.extend(prefix + line for line in event.lines[-TAIL_LINES:])
            elif isinstance(event, ev.StageChanged):
                self.stages[event.stage] = (event.state, event.seconds)
            elif isinstance(event, ev.PhaseChanged) and not event.source:
                self.phase = event.phase
            elif isinstance(event, ev.Notice):
                self._log.write(f"# {event.level}: {event.text}\n")
            subscribers = list(self._subscribers)
        for deliver in subscribers:
            deliver(event)

    def set_canceller(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def finish(self, phase: str, summary: str, *, error: FairingError | None = None,
               outputs: dict | None = None) -> None:
        """End the run (once): set the final phase, outputs or error, and wake waiters."""
        with self._lock:
            if self._done.is_set():
                return
            self.phase = phase
            self.summary = summary
            self.error = error
            self.outputs = dict(outputs or {})
            self.finished_at = time.time()
            self._log.flush()
        self.save_record()
        self.emit(ev.Finished(phase, summary, self.duration))
        self._done.set()

    # -- what users call ----------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.phase

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def duration(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def tail(self, n: int = TAIL_LINES) -> list[str]:
        """The last ``n`` (at most 40) log lines."""
        with self._lock:
            return list(self._tail)[-n:]

    def logs(self) -> str:
        """The full log of the run, from disk."""
        with self._lock:
            self._log.flush()
        return (self.folder / LOG_FILE).read_text(encoding="utf-8", errors="replace")

    def cancel(self, *, by: str = "") -> None:
        """Stop the run (kill the subprocess, delete the Kubernetes job). ``by`` names who asked
        (``"the panel"``), for the message the waiting cell fails with."""
        if not self.done and self._cancel is not None:
            if by and not self.cancelled_by:
                self.cancelled_by = by
            self._cancel()

    def wait(self, timeout: float | None = None, *, poll: Callable[[], object] | None = None) -> Run:
        """Block until the run ends; raise its error if it failed. Returns the run.

        ``poll`` is called about ten times a second while waiting (the panel's widget events)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.1):  # short waits so a kernel interrupt gets through
            if poll is not None:
                poll()
            if deadline is not None and time.monotonic() > deadline:
                from fairing_magics.errors import FairingTimeout

                raise FairingTimeout(f"run {self.name} is still {self.phase} after {timeout:g} s")
        if self.error is not None:
            raise self.error
        return self

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended, without raising its error; True if it has."""
        return self._done.wait(timeout)

    def subscribe(self, deliver: Callable[[object], None]) -> None:
        with self._lock:
            self._subscribers.append(deliver)

    def attach(self, deliver: Callable[[object], None]) -> str:
        """Subscribe ``deliver`` and return the log so far, with no line lost or repeated."""
        with self._lock:
            self._log.flush()
            text = (self.folder / LOG_FILE).read_text(encoding="utf-8", errors="replace")
            self._subscribers.append(deliver)
        return text

    def unsubscribe(self, deliver: Callable[[object], None]) -> None:
        with self._lock:
            if deliver in self._subscribers:
                self._subscribers.remove(deliver)

    def close(self) -> None:
        with self._lock:
            self._log.close()

    # -- records --------------------------------------------------------------------------
    def record(self) -> dict:
        return {
            "name": self.name,
            "backend": self.backend,
            "phase": self.phase,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "image": self.image,
            "outputs": list(self.requested_outputs),
            "summary": self.summary,
        }

    def save_record(self) -> None:
        path = self.folder / RECORD_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.record(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Run {self.name} backend={self.backend} status={self.phase} duration={self.duration:.1f}s>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.suppress_next_display:  # the panel is already on screen above this value
            self.suppress_next_display = False
            return
        view = getattr(self, "view", None)
        if view is not None and hasattr(view, "widget"):
            display(view.widget)
        else:
            print(repr(self))


def raise_for_run(run: Run) -> None:
    """Raise the run's error (a JobFailed, FairingTimeout, ...) if it did not succeed."""
    if run.error is not None:
        raise run.error
    if run.phase != ev.SUCCEEDED and run.done:
        raise JobFailed(f"run {run.name} ended {run.phase}", phase=run.phase, last_lines=tuple(run.tail()))


class RunBook:
    """The runs of this kernel by name, plus the records of earlier kernels on disk."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.name] = run

    def get(self, name: str) -> Run | None:
        with self._lock:
            if name in self._runs:
                return self._runs[name]
            matches = [r for n, r in self._runs.items() if n.startswith(name + "-")]
        return matches[-1] if matches else None

    def all(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())


def read_records(home: Path) -> list[dict]:
    """Records of every run under ``home/runs`` (also those of earlier kernels), oldest first."""
    records = []
    for path in sorted((Path(home) / "runs").glob(f"*/{RECORD_FILE}")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(records, key=lambda r: r.get("started_at") or 0)
