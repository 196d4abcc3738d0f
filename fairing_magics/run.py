"""The run object: what a ``%%fairing_train`` cell returns, and the durable record of every run.

A :class:`Run` is fed events by its backend (from background threads) and hands them to its
subscribers (the panel). It is also where a run's output becomes records that outlive the kernel,
in its folder ``<home>/runs/<name>/``, each written as things happen:

- ``logs.txt``: every finished line (its last frame, colours stripped), flushed with each batch;
- ``metrics.jsonl``: one JSON object per metric value found in the log
  (:mod:`fairing_magics.metrics`);
- ``run.json``: phase, stages with their durations, owner kernel, process, heartbeat. Rewritten on
  every phase and stage change and every ``HEARTBEAT_SECONDS`` while the run goes on;
- ``displays/``: the program's rich outputs (``display()``, figures, the cell's final value), put
  together from the parts the runtime sends (:mod:`fairing_magics.displays`), each handed on as
  a ``DisplayShown`` event and listed by ``run.displays``.

From the events it sees, the run derives ``MetricPoints`` (values in finished lines) and
``RunProgress`` (a progress bar in the live rows) and hands them on too. Only the last lines stay
in memory, so a run printing millions of lines stays small.

A run whose kernel died is *Lost* (:func:`settle_record`, used by ``%fairing_jobs`` and friends): a
local run's orphaned process is ended (its output had nowhere to go); a cluster run goes on and
is reattached by its labels.

``run.status``, ``run.logs()``, ``run.metrics``, ``run.outputs``, ``run.displays``, ``run.result``
(the cell's final value), ``run.image``, ``run.cancel()``, ``run.wait()``, ``run.duration`` (one
clock: from the start of the cell's capture to the end).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.ansi import strip_ansi
from fairing_magics.displays import Display, DisplayCollector
from fairing_magics.errors import FairingError, JobFailed, redact
from fairing_magics.metrics import (
    METRICS_FILE,
    MetricParser,
    MetricSeries,
    metrics_table,
    point_lines,
    read_metrics,
)
from fairing_magics.progress import parse_progress, progress_of
from fairing_magics.ui.format import format_seconds

LOG_FILE = "logs.txt"
RECORD_FILE = "run.json"
CANCEL_FILE = "cancel.json"
TAIL_LINES = 40
HEARTBEAT_SECONDS = 5.0
#: How often a run looks for word of a cancel from another kernel (:func:`request_cancel`).
CANCEL_POLL_SECONDS = 0.5
#: The folder of a run's own runs (a sweep's trials), each a run folder: ``<run>/trials/<trial>``.
CHILD_RUNS = "trials"
#: Lower-case fragments without which no credential :func:`redact` masks can be in a text.
_SECRET_HINTS = ("://", "authorization", "bearer", "akia", "asia", "aroa", "aida", "secret",
                 "token", "passw", '"auth"', "eyj")


def redact_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    """``lines`` with credentials masked (:func:`~fairing_magics.errors.redact`), so that a
    program printing a token or a URL with a password does not put it in the panel or logs.txt.
    One substring check per batch keeps the regexes off the lines that cannot hold one."""
    text = "\n".join(lines).lower()
    if not any(hint in text for hint in _SECRET_HINTS):
        return lines
    return tuple(redact(line) for line in lines)


# -- processes: who owns a run, and is it still there ---------------------------------------------


def process_start(pid: int) -> str | None:
    """An id of process ``pid``'s start (``/proc/PID/stat`` field 22), so a reused pid is not
    taken for it; None when there is no such live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def this_process() -> dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": process_start(pid)}


def process_alive(info: dict | None) -> bool | None:
    """Is the process ``info`` names (``pid``, ``host``, ``start``) alive? None: cannot tell
    (another host, or no ``/proc``)."""
    if not info or not info.get("pid"):
        return None
    if info.get("host") and info["host"] != socket.gethostname():
        return None
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return None
    start = process_start(int(info["pid"]))
    return start is not None and (not info.get("start") or start == info["start"])


# -- the run -------------------------------------------------------------------------------------


class Run:
    """One training run. Created by the pipeline; its backend drives it through its phases."""

    def __init__(self, name: str, backend: str, folder: Path, *, outputs: tuple[str, ...] = (),
                 stages: tuple[str, ...] = ev.STAGES, started_at: float | None = None,
                 where: dict | None = None, display_limits: tuple[int, int] | None = None,
                 outputs_from: str = "chief"):
        self.name = name
        self.backend = backend
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stages_shown = tuple(stages)
        self.requested_outputs = tuple(outputs)
        self.outputs_from = outputs_from  # "all": each output is {replica: value}
        self.phase = ev.PENDING
        self.started_at = started_at or time.time()
        self.finished_at: float | None = None
        self.stages: dict[str, tuple[str, float]] = {}
        self.stage_details: dict[str, str] = {}
        self._stage_started: dict[str, float] = {}
        self.outputs: dict = {}
        self.result = None  # the cell's final value (result.pkl), when it pickled under its cap
        self.image: str | None = None
        self.error: FairingError | None = None
        self.summary = ""
        self.line_count = 0
        self.where = dict(where or {})
        self.owner = this_process()
        self.process: dict | None = None
        self.progress: dict[str, ev.RunProgress] = {}
        self.series = MetricSeries()
        self._live: dict[str, tuple[str, ...]] = {}
        self._parser = MetricParser()
        self._metrics_file = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._subscribers: list[Callable[[object], None]] = []
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._cancel: Callable[[], None] | None = None
        self._log = open(self.folder / LOG_FILE, "a", encoding="utf-8")
        limits = {} if display_limits is None else {"display_limit": display_limits[0],
                                                     "displays_limit": display_limits[1]}
        self._displays = DisplayCollector(self.folder, **limits)
        self.suppress_next_display = False
        self.cancelled_by = ""  # who cancelled the run, when not the kernel: "the panel"
        self.save_record()
        threading.Thread(target=self._heartbeat, name=f"fairing-heartbeat-{name}",
                         daemon=True).start()

    # -- what backends call -------------------------------------------------------------
    def emit(self, event) -> None:
        """Record ``event`` and pass it to every subscriber, then what it tells of metrics and
        progress. Safe from any thread."""
        if isinstance(event, ev.DisplayPart):  # parts stay here: the whole display goes on
            for made in self._displays.add(event):
                self.emit(made)
            return
        derived: list[object] = []
        save = False
        if isinstance(event, ev.LogLines):
            lines = redact_lines(tuple(event.lines))
            if lines != tuple(event.lines):
                event = replace(event, lines=lines)
        elif isinstance(event, ev.LiveLines) and event.lines:
            lines = redact_lines(tuple(event.lines))
            if lines != tuple(event.lines):
                event = replace(event, lines=lines)
        with self._lock:
            if isinstance(event, ev.LogLines):
                derived = self._record_lines(event)
            elif isinstance(event, ev.LiveLines):
                self._live[event.source] = tuple(event.lines)
                found = progress_of(event.lines, event.source)
                if found is not None and found != self.progress.get(event.source):
                    self.progress[event.source] = found
                    derived.append(found)
            elif isinstance(event, ev.StageChanged):
                current = self.stages.get(event.stage, ("",))[0]
                if current == "done" and event.state != "running":
                    return  # a stage once done stays done (the backend ends "run" after "upload")
                if event.state == "running":
                    self._stage_started[event.stage] = time.perf_counter()
                    if event.stage == "upload" and self.stages.get("run", ("",))[0] == "running":
                        run_started = self._stage_started.get("run", time.perf_counter())
                        self.stages["run"] = ("done", time.perf_counter() - run_started)
                        derived.append(ev.StageChanged("run", "done", self.stages["run"][1]))
                self.stages[event.stage] = (event.state, event.seconds)
                if event.detail:
                    self.stage_details[event.stage] = event.detail
                save = True
            elif isinstance(event, ev.PhaseChanged) and not event.source:
                if self.phase != event.phase:
                    self.phase = event.phase
                    save = True
            elif isinstance(event, ev.Notice):
                self._log.write(f"# {event.level}: {event.text}\n")
                self._log.flush()
            subscribers = list(self._subscribers)
        if save:
            self.save_record()
        for deliver in subscribers:
            deliver(event)
            for other in derived:
                deliver(other)

    def _record_lines(self, event: ev.LogLines) -> list[object]:
        """Under the lock: the lines go to logs.txt and the tail; metrics and a finished bar out."""
        lines = event.lines
        plain = (tuple(strip_ansi(line) for line in lines) if any("\x1b" in line for line in lines)
                 else lines)
        prefix = f"[{event.source}] " if event.source else ""
        if prefix:
            self._log.write("".join(prefix + line + "\n" for line in plain))
        else:
            self._log.write("\n".join(plain) + "\n")
        self._log.flush()
        self.line_count += len(plain)
        self._tail.extend(prefix + line for line in plain[-TAIL_LINES:])
        derived: list[object] = []
        points = self._parser.parse(plain, event.source, time.time())
        if points:
            self.series.add(points)
            if self._metrics_file is None:
                self._metrics_file = open(self.folder / METRICS_FILE, "a", encoding="utf-8")
            self._metrics_file.write(point_lines(points))
            self._metrics_file.flush()
            derived.append(ev.MetricPoints(tuple(points)))
        finished_bar = parse_progress(plain[-1], event.source) if plain else None
        if finished_bar is not None and finished_bar != self.progress.get(event.source):
            self.progress[event.source] = finished_bar
            derived.append(finished_bar)
        return derived

    def set_canceller(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def set_process(self, pid: int) -> None:
        """The local process running the run (a new kernel ends it if this kernel dies)."""
        self.process = {"pid": pid, "host": socket.gethostname(), "start": process_start(pid)}
        self.save_record()

    def finish(self, phase: str, summary: str | Callable[[str], str], *,
               error: FairingError | None = None, outputs: dict | None = None,
               result=None) -> None:
        """End the run (once): set the final phase, outputs (and the cell's final value) or error,
        and wake waiters.
        ``summary`` may be a function of the run's duration as text (``"2.3 s"``), so that the
        summary says the same duration as the header and ``%fairing_jobs``."""
        with self._lock:
            if self._done.is_set():
                return
            self.finished_at = time.time()
            self.phase = phase
            self.summary = summary(format_seconds(self.duration)) if callable(summary) else summary
            self.error = error
            self.outputs = dict(outputs or {})
            self.result = result
            self._live = {}
            self._log.flush()
            if self._metrics_file is not None:
                self._metrics_file.flush()
        self.save_record()
        self._store_records()
        self.emit(ev.Finished(phase, self.summary, self.duration))
        self._done.set()

    def _store_records(self) -> None:
        """Keep the records beside the outputs in an s3:// storage (read from another machine)."""
        storage = self.where.get("storage", "")
        if not storage.startswith("s3://"):
            return
        from fairing_magics.storage import store_run_records

        try:
            store_run_records(storage, self.name, self.folder)
        except FairingError as exc:
            self.emit(ev.Notice(f"the run's log and records were not kept in {storage}: {exc}",
                                "warning"))

    # -- what users call ----------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.phase

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def duration(self) -> float:
        """Seconds from the start of the cell's capture to the end of the run (or now)."""
        return (self.finished_at or time.time()) - self.started_at

    @property
    def metrics(self):
        """Every metric value of the run (from ``metrics.jsonl``): a pandas DataFrame with columns
        ``step, name, value, source, time`` when pandas imports, else a list of dicts. Pivot it
        for a table per metric: ``run.metrics.pivot_table(index="step", columns="name")``."""
        with self._lock:
            if self._metrics_file is not None:
                self._metrics_file.flush()
        return metrics_table(read_metrics(self.folder / METRICS_FILE))

    @property
    def displays(self) -> list[Display]:
        """The program's rich outputs so far, in order (``display()`` calls, figures, the cell's
        final value), each saved under ``displays/`` in the run folder. Shown in a notebook, one
        renders as it did in the panel: ``run.displays[-1]``."""
        return self._displays.shown()

    def tail(self, n: int = TAIL_LINES) -> list[str]:
        """The last ``n`` (at most 40) log lines."""
        with self._lock:
            return list(self._tail)[-n:]

    def logs(self) -> str:
        """The full log of the run, from disk, then the rows still being redrawn (a progress bar's
        newest frame) while it runs."""
        with self._lock:
            self._log.flush()
            live = [(source, rows) for source, rows in self._live.items() if rows]
        text = (self.folder / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        for source, rows in live:
            prefix = f"[{source}] " if source else ""
            text += "".join(prefix + strip_ansi(row) + "\n" for row in rows)
        return text

    def live_rows(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            return dict(self._live)

    def cancel(self, *, by: str = "") -> None:
        """Stop the run (kill the subprocess, delete the Kubernetes job). ``by`` names who asked
        (``"the panel"``), for the message the waiting cell fails with."""
        if not self.done and self._cancel is not None:
            if by and not self.cancelled_by:
                self.cancelled_by = by
            self._cancel()

    def wait(self, timeout: float | None = None, *,
             poll: Callable[[], object] | None = None) -> Run:
        """Block until the run ends; raise its error if it failed. Returns the run.

        ``poll`` is called about ten times a second while waiting (the panel's widget events)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.1):  # short waits so a kernel interrupt gets through
            if poll is not None:
                poll()
            if deadline is not None and time.monotonic() > deadline:
                from fairing_magics.errors import FairingTimeout

                raise FairingTimeout(f"run {self.name} is still {self.phase} after {timeout:g} s")
        refresh = getattr(getattr(self, "view", None), "refresh_display", None)
        if refresh is not None:
            refresh()  # the saved notebook's text of the panel: the run's end
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
            if self._metrics_file is not None:
                self._metrics_file.close()

    # -- records --------------------------------------------------------------------------
    def record(self) -> dict:
        with self._lock:
            last = {f"{name}@{source}" if source else name: value
                    for (name, source), (_, value) in self.series.last.items()}
            return {
                "name": self.name,
                "backend": self.backend,
                "phase": self.phase,
                "summary": self.summary,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "heartbeat_at": time.time(),
                "duration": round(self.duration, 3),
                "image": self.image,
                "outputs": list(self.requested_outputs),
                "stages": [{"name": s, "state": self.stages[s][0],
                            "seconds": round(self.stages[s][1], 3),
                            "detail": self.stage_details.get(s, "")}
                           for s in self.stages_shown if s in self.stages],
                "lines": self.line_count,
                "displays": len(self._displays.shown()),
                "metrics": last,
                "owner": self.owner,
                "process": self.process,
                "where": self.where,
            }

    def save_record(self) -> None:
        save_record(self.folder, self.record())

    def _heartbeat(self) -> None:
        """Save the record every ``HEARTBEAT_SECONDS``; between, look for word of a cancel from
        another kernel (:func:`request_cancel`) and stop the run as its own Cancel would: the one
        way every run, a sweep (which has no process of its own to end) and its trials, learns
        of ``%fairing_cancel`` in another kernel."""
        saved = time.monotonic()
        heard = False
        while not self._done.wait(CANCEL_POLL_SECONDS):
            if not heard and self._cancel is not None:  # no canceller yet: ask again later
                by = cancel_request(self.folder)
                if by:
                    heard = True
                    self.cancel(by=by)
            if time.monotonic() - saved >= HEARTBEAT_SECONDS:
                saved = time.monotonic()
                try:
                    self.save_record()
                except OSError:
                    pass  # a full or gone disk: the run itself goes on

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"<Run {self.name} backend={self.backend} status={self.phase} "
                f"duration={format_seconds(self.duration)}>")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.suppress_next_display:  # the panel is already on screen above this value
            self.suppress_next_display = False
            return
        view = getattr(self, "view", None)
        if view is not None and hasattr(view, "widget"):
            display(view)
        else:
            print(repr(self))


def raise_for_run(run: Run) -> None:
    """Raise the run's error (a JobFailed, FairingTimeout, ...) if it did not succeed."""
    if run.error is not None:
        raise run.error
    if run.phase != ev.SUCCEEDED and run.done:
        raise JobFailed(f"run {run.name} ended {run.phase}", phase=run.phase,
                        last_lines=tuple(run.tail()))


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


# -- records of runs, also those of kernels that are gone -----------------------------------------


def save_record(folder: Path, record: dict) -> None:
    path = Path(folder) / RECORD_FILE
    tmp = path.with_name(f".{RECORD_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_record(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_records(home: Path) -> list[dict]:
    """Records of every run under ``home/runs`` (also those of earlier kernels), oldest first,
    each settled (:func:`settle_record`); ``folder`` says where each lives."""
    records = []
    for path in (Path(home) / "runs").glob(f"*/{RECORD_FILE}"):
        record = load_record(path.parent)
        if record is None:
            continue
        record["folder"] = str(path.parent)
        records.append(settle_record(path.parent, record))
    return sorted(records, key=lambda r: r.get("started_at") or 0)


# -- schedules made from this machine: each names its backend and where it lives ----------------

SCHEDULES_FOLDER = "schedules"


def remember_schedule(home: Path, record: dict) -> None:
    """Keep ``record`` (``name``, ``backend``, where: ``namespace``, ``context``) as
    ``home/schedules/<name>.json``: ``%fairing_jobs`` and ``%fairing_cancel`` ask its backend
    about it whatever the configured backend is."""
    folder = Path(home) / SCHEDULES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record['name']}.json").write_text(json.dumps(record), encoding="utf-8")


def read_schedules(home: Path) -> list[dict]:
    """The schedules remembered under ``home`` (:func:`remember_schedule`), by name."""
    found = []
    for path in sorted((Path(home) / SCHEDULES_FOLDER).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name"):
            found.append({"backend": "kubernetes", **record})  # the only backend with schedules
    return found


def forget_schedule(home: Path, name: str) -> None:
    (Path(home) / SCHEDULES_FOLDER / f"{name}.json").unlink(missing_ok=True)


def settle_record(folder: Path, record: dict) -> dict:
    """``record`` as it stands now. A run still going whose kernel is gone is over for local
    runs: it becomes ``Lost`` (written back, with the time of its last heartbeat as its end),
    and its orphaned process, if still there, is ended (SIGTERM, then SIGKILL), as are a sweep's
    trials still running (:func:`end_children`). A cluster run
    goes on without its kernel: it is shown ``Detached`` (reattach with ``%fairing_logs NAME``)."""
    if record.get("phase") in ev.FINAL_PHASES or process_alive(record.get("owner")) is not False:
        return record
    if record.get("backend") != "local":
        return {**record, "phase": ev.DETACHED,
                "summary": "its kernel is gone; the run goes on: "
                           f"%fairing_logs {record.get('name')}"}
    ended = end_process(record.get("process"))
    children = end_children(folder)
    if children or (record.get("where") or {}).get("sweep"):  # its trials have the processes
        ended = (f"{children} running trial{'s were' if children != 1 else ' was'} ended"
                 if children else "no trial was still running")
    owner = record.get("owner") or {}
    record = {**record, "phase": ev.LOST, "finished_at": record.get("heartbeat_at") or time.time(),
              "summary": f"its kernel (pid {owner.get('pid')}) is gone; {ended}"}
    record["duration"] = round(record["finished_at"]
                               - (record.get("started_at") or record["finished_at"]), 3)
    clean = {k: v for k, v in record.items() if k != "folder"}
    try:
        save_record(Path(folder), clean)
    except OSError:
        pass
    return record


def end_process(info: dict | None, grace: float = 3.0) -> str:
    """End the process group of the run's process ``info`` if it still runs; say what happened."""
    if not info or process_alive(info) is not True:
        return "its process had ended"
    pid = int(info["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return "its process had ended"
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process_alive(info):
        time.sleep(0.05)
    if process_alive(info):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return f"its orphaned process (pid {pid}) was ended"


def end_children(folder: Path) -> int:
    """End the processes of the runs under ``folder/trials`` (a sweep's trials) still going;
    how many were ended."""
    ended = 0
    for path in sorted((Path(folder) / CHILD_RUNS).glob(f"*/{RECORD_FILE}")):
        record = load_record(path.parent)
        if record is None or record.get("phase") in ev.FINAL_PHASES:
            continue
        if process_alive(record.get("process")):
            end_process(record.get("process"))
            ended += 1
    return ended


def request_cancel(folder: Path, by: str) -> None:
    """Leave word in the run folder that ``by`` cancelled the run (read by its owning kernel)."""
    (Path(folder) / CANCEL_FILE).write_text(json.dumps({"by": by, "at": time.time()}) + "\n",
                                            encoding="utf-8")


def cancel_request(folder: Path) -> str:
    """Who cancelled the run from outside its kernel (:func:`request_cancel`), or ""."""
    try:
        return json.loads((Path(folder) / CANCEL_FILE).read_text(encoding="utf-8")).get("by", "")
    except (OSError, ValueError, AttributeError):
        return ""
