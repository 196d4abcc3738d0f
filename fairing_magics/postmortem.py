"""Remote failures you can inspect: the frames a failed run saved, in the kernel.

When a run's program raises, the runtime saves the failing frames (``frames.pkl``, see
:mod:`fairing_magics.runtime.frames`) next to ``error.json``: in the run folder (local and docker
backends) or in run storage (Kubernetes). Here they come back as :class:`RemoteFrames`
(``run.error.frames``, and what ``%fairing_debug`` shows):

- ``frames[i]`` is a :class:`RemoteFrame`: function, file, line, the source line, ``where``
  (``Cell In[5], line 4`` as the kernel shows it: the job compiles the cell and each captured
  definition under the kernel's file names and lines, so a function defined in cell 3 is in
  ``Cell In[3]``), ``values()`` (the variables, unpickled on first use), ``left_out``
  (name -> (type, why));
- ``frames.failing`` is the innermost frame of the user's own code (the one that raised, or
  called the library that did); ``frames.exception`` the remote exception (or a stand-in of the
  same type name when it did not pickle);
- :meth:`RemoteFrames.post_mortem` opens **pdb** over a *replay* of the saved frames: each frame
  is rebuilt as a real Python frame with the saved file name, function name, line and local
  variables (a module-level frame's globals are the cell's saved variables, and so are a
  function frame's), stopped where the remote one was. The file names are the kernel's, so pdb
  shows them as it shows the kernel's own code, and lists the kernel's text of its cells.
  ``where``, ``up``, ``down``, ``list``, ``ll``, ``p``/``pp``, ``args`` and expressions over the
  variables work as in a post-mortem of a local exception; what cannot be replayed is named:
  variables that were left out are absent, and nothing can be stepped or continued (the remote
  process has ended).
"""

from __future__ import annotations

import builtins
import keyword
import linecache
import pickle
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from fairing_magics.capture.origin import kernel_label
from fairing_magics.errors import ConfigError

FRAMES_FILE = "frames.pkl"
CELL_MARKER = "# --- cell ---"  # capture.cell writes it before the cell in main.py
_REPLAY_NAME = "__fairing_replay__"


@dataclass
class RemoteFrame:
    """One frame of a remote traceback, as saved (see the module docstring)."""

    function: str
    qualname: str
    filename: str
    lineno: int
    line: str
    library: bool
    module_level: bool
    variables: dict[str, bytes] = field(default_factory=dict, repr=False)
    left_out: dict[str, tuple[str, str]] = field(default_factory=dict)
    cell: int | None = None
    where: str = ""
    _values: dict | None = field(default=None, repr=False)
    _unloadable: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def values(self) -> dict:
        """The saved variables, unpickled (once); those that cannot be loaded in this kernel are
        added to :attr:`left_out` with why."""
        if self._values is None:
            import cloudpickle

            loaded = {}
            for name, data in self.variables.items():
                try:
                    loaded[name] = cloudpickle.loads(data)
                except Exception as exc:  # noqa: BLE001 - a module missing here, a version skew
                    self._unloadable[name] = ("?", f"cannot be loaded in this kernel "
                                                   f"({type(exc).__name__}: {exc})")
            self._values = loaded
            self.left_out.update(self._unloadable)
        return self._values


class RemoteFrames(Sequence):
    """The saved frames of one failed run (see the module docstring)."""

    def __init__(self, run: str, record: dict, *, finished_at: float | None = None):
        self.run = run
        self.record = record
        self.finished_at = finished_at
        self.sources: dict[str, str] = dict(record.get("sources") or {})
        self.exc_type: str = record.get("exc_type", "Exception")
        self.message: str = record.get("message", "")
        self.frames = [_frame(entry, self.sources) for entry in record.get("frames") or []]

    def __getitem__(self, index):
        return self.frames[index]

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[RemoteFrame]:
        return iter(self.frames)

    @property
    def failing(self) -> RemoteFrame | None:
        """The innermost frame of the user's own code."""
        return next((f for f in reversed(self.frames) if not f.library), None)

    @cached_property
    def exception(self) -> BaseException:
        """The remote exception, or a stand-in of the same type name and message."""
        data = self.record.get("exception")
        if data:
            try:
                import cloudpickle

                value = cloudpickle.loads(data)
                if isinstance(value, BaseException):
                    return value
            except Exception:  # noqa: BLE001 - fall back to the stand-in
                pass
        return type(self.exc_type, (RemoteException,), {})(self.message)

    def traceback_text(self) -> str:
        """The traceback, each frame where the kernel shows it (``Cell In[3], line 4``)."""
        lines = ["Traceback (most recent call last):"]
        for frame in self.frames:
            lines.append(f"  {frame.where}, in {frame.function}")
            if frame.line:
                lines.append(f"    {frame.line}")
        lines.append(f"{self.exc_type}: {self.message}" if self.message else self.exc_type)
        return "\n".join(lines)

    def describe(self, frame: RemoteFrame | None = None) -> str:
        """The post-mortem view as text: the traceback and the variables of ``frame`` (default:
        the failing frame), with the ones left out and why."""
        frame = frame or self.failing
        ago = ""
        if self.finished_at:
            from fairing_magics.ui.format import format_seconds

            ago = f", failed {format_seconds(max(0.0, time.time() - self.finished_at))} ago"
        lines = [f"Remote failure of run {self.run}{ago}:", self.traceback_text(), ""]
        if frame is None:
            lines.append("No frame of your own code was saved (the error came from the runtime "
                         "or a library before your code ran).")
            return "\n".join(lines)
        values = frame.values()
        lines.append(f"Variables of {frame.function} ({frame.where}): {len(values)} saved"
                     + (f", {len(frame.left_out)} left out" if frame.left_out else ""))
        for name in sorted(values):
            lines.append(f"  {name:<20} {_type_name(values[name]):<28} {_short_repr(values[name])}")
        for name, (type_name, why) in sorted(frame.left_out.items()):
            lines.append(f"  {name:<20} {type_name:<28} left out: {why}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        failing = self.failing
        where = f" at {failing.function} ({failing.where})" if failing else ""
        return f"<RemoteFrames of run {self.run}: {len(self)} frames, {self.exc_type}{where}>"

    # -- pdb over a replay of the frames ------------------------------------------------------
    def replay(self) -> types.TracebackType:
        """A traceback of real frames rebuilt from the saved ones (see the module docstring)."""
        chain = list(self.frames)
        if not chain:
            raise ConfigError(f"run {self.run} saved no frames to replay")
        for filename, text in self.sources.items():
            if filename not in linecache.cache:  # the kernel's own text of its cells wins
                lines = text.splitlines(True)
                linecache.cache[filename] = (len(text), None, lines, filename)
        cell = next((f for f in chain if f.module_level and not f.library), None)
        namespace = dict(cell.values()) if cell is not None else {}
        namespace["__builtins__"] = builtins
        codes: list[types.CodeType] = []
        steps = [_frame_code(f, i, len(chain), namespace, codes) for i, f in enumerate(chain)]
        replay = _Replay(steps, chain, self.exception)
        setattr(builtins, _REPLAY_NAME, replay)
        try:
            replay.step(0)
        except BaseException as exc:  # noqa: BLE001 - the replayed exception, by construction
            tb = exc.__traceback__
        finally:
            delattr(builtins, _REPLAY_NAME)
        kept = []
        while tb is not None:
            if tb.tb_frame.f_code in codes:
                kept.append(tb)
            tb = tb.tb_next
        rebuilt = None
        for entry in reversed(kept):
            rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
        self.exception.__traceback__ = rebuilt
        return rebuilt

    def post_mortem(self, debugger_cls=None) -> None:
        """Open a post-mortem debugger (pdb, or IPython's ``debugger_cls``) on :meth:`replay`."""
        tb = self.replay()
        if debugger_cls is None:
            import pdb

            pdb.post_mortem(tb)
            return
        debugger = debugger_cls()
        debugger.reset()
        debugger.interaction(None, tb)


class RemoteException(Exception):
    """Stands for a remote exception that did not pickle (its type name is the remote one's)."""


class _Replay:
    """Runs the rebuilt frames one inside the other; the innermost raises the exception."""

    def __init__(self, steps, chain, exception):
        self.steps, self.chain, self._exception = steps, chain, exception

    def step(self, index: int) -> None:
        self.steps[index]()

    def exception(self) -> BaseException:
        return self._exception.with_traceback(None)  # a replay again starts a fresh traceback


def _frame_code(frame: RemoteFrame, index: int, count: int, namespace: dict,
                codes: list[types.CodeType]):
    """A callable that enters a rebuilt ``frame``: its code, stopped at its line, calls the next
    step (or raises, innermost)."""
    action = (f"raise {_REPLAY_NAME}.exception()" if index == count - 1
              else f"{_REPLAY_NAME}.step({index + 1})")
    padding = "\n" * max(0, frame.lineno - 1)
    if frame.module_level:
        globals_ = namespace if not frame.library else {"__builtins__": builtins}
        code = compile(padding + action + "\n", frame.filename, "exec")
        codes.append(code)
        return lambda: exec(code, globals_)
    values = frame.values() if not frame.library else {}
    names = [n for n in values if n.isidentifier() and not keyword.iskeyword(n)
             and n != _REPLAY_NAME]
    assign = "".join(f"{n} = __v[{n!r}]; " for n in names)
    source = f"{padding}def __fairing_frame__(__v): {assign}del __v; {action}\n"
    scope = dict(namespace) if frame.library else namespace
    exec(compile(source, frame.filename, "exec"), scope)
    function = scope.pop("__fairing_frame__")
    changes = {"co_name": frame.function}
    if hasattr(function.__code__, "co_qualname"):
        changes["co_qualname"] = frame.qualname
    function.__code__ = function.__code__.replace(**changes)
    codes.append(function.__code__)
    return lambda: function(dict(values))


def _frame(entry: dict, sources: dict[str, str]) -> RemoteFrame:
    frame = RemoteFrame(function=entry.get("function", "?"),
                        qualname=entry.get("qualname") or entry.get("function", "?"),
                        filename=entry.get("filename", ""), lineno=int(entry.get("lineno") or 1),
                        line=entry.get("line", ""), library=bool(entry.get("library")),
                        module_level=bool(entry.get("module_level")),
                        variables=dict(entry.get("variables") or {}),
                        left_out={k: tuple(v) for k, v in (entry.get("left_out") or {}).items()},
                        cell=entry.get("cell"))
    frame.where = _where(frame, sources)
    return frame


def _where(frame: RemoteFrame, sources: dict[str, str]) -> str:
    """Where a frame is, as the kernel says it (IPython's ``Cell In[5], line 4``): a notebook
    job's cell; the job's cell or a captured definition, which the job compiled under the
    kernel's own names (:func:`~fairing_magics.capture.origin.kernel_label`); else, for a
    bundle captured outside IPython, a line of main.py's cell or definitions; else the file."""
    if frame.cell is not None:
        return f"Cell In[{frame.cell}], line {frame.lineno}"
    label = kernel_label(frame.filename)
    if label:
        return f"{label}, line {frame.lineno}"
    if frame.filename.endswith("main.py") and frame.filename in sources:
        lines = sources[frame.filename].splitlines()
        marker = next((i + 1 for i, line in enumerate(lines) if line.strip() == CELL_MARKER), None)
        if marker is not None and frame.lineno > marker:
            return f"cell line {frame.lineno - marker}"
        return f"main.py line {frame.lineno} (captured definitions)"
    return f'File "{frame.filename}", line {frame.lineno}'


def _type_name(value) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _short_repr(value, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__
        return f"<repr failed: {type(exc).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- finding a run's frames ---------------------------------------------------------------------


def read_frames(run: str, *, folder: Path | None = None, storage: str = "",
                finished_at: float | None = None) -> RemoteFrames | None:
    """The frames of run ``run`` from its ``folder`` (local, docker) or ``storage`` (any
    backend with --storage); None when it saved none."""
    data = None
    if folder is not None and (Path(folder) / FRAMES_FILE).is_file():
        data = (Path(folder) / FRAMES_FILE).read_bytes()
    elif storage:
        from fairing_magics.storage import MissingRunFile, storage_for

        try:
            data = storage_for(storage).read_bytes(run, FRAMES_FILE)
        except MissingRunFile:
            data = None
    if data is None:
        return None
    return RemoteFrames(run, pickle.loads(data), finished_at=finished_at)


class LazyFrames:
    """``run.error.frames``: the saved frames, read from the run folder or storage on first use
    (a failure nobody inspects costs nothing). Behaves as :class:`RemoteFrames`; empty when the
    run saved none."""

    def __init__(self, run: str, folder: Path | None, storage: str, finished_at: float | None):
        self._args = (run, folder, storage, finished_at)

    @cached_property
    def loaded(self) -> RemoteFrames:
        run, folder, storage, finished_at = self._args
        found = read_frames(run, folder=folder, storage=storage, finished_at=finished_at)
        return found if found is not None else RemoteFrames(run, {}, finished_at=finished_at)

    def __getattr__(self, name):
        if name.startswith("_") or name == "loaded":
            raise AttributeError(name)
        return getattr(self.loaded, name)

    def __getitem__(self, index):
        return self.loaded[index]

    def __len__(self) -> int:
        return len(self.loaded)

    def __iter__(self):
        return iter(self.loaded)

    def __repr__(self) -> str:
        return repr(self.loaded)


def attach_frames(run, settings) -> None:
    """Give the error of ``run``, when it fails, a ``frames`` attribute (:class:`LazyFrames`)
    before anyone waiting for the run sees it."""
    from fairing_magics import events as ev
    from fairing_magics.errors import JobFailed, RunCancelled

    def on_event(event) -> None:
        if not isinstance(event, ev.Finished) or event.phase != ev.FAILED:
            return
        error = run.error
        if isinstance(error, JobFailed) and not isinstance(error, RunCancelled):
            storage = settings.storage if run.backend == "kubernetes" else ""
            error.frames = LazyFrames(run.name, None if storage else run.folder, storage,
                                      run.finished_at)

    run.subscribe(on_event)
