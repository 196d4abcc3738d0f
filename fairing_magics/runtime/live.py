"""What a run reports while it runs: metrics, live progress frames, stage markers.

Shipped in every bundle as ``fairing_live.py`` and used by the bootstrap; the standard library
only. In the kernel the same functions are ``fairing_magics.log_metric`` & co.

- :func:`log_metric` prints ``[step=S ]NAME=VALUE``: the ``name=value`` convention Katib's StdOut
  metrics collector parses, which the panel also reads. So the cell works the same in the kernel,
  in a run (where ``fairing_magics`` need not be installed: :func:`install` provides a stand-in
  module that holds ``log_metric``) and under a Katib sweep.
- :class:`LiveStream` wraps ``sys.stdout``/``sys.stderr`` of a run. Container runtimes (containerd,
  Docker) hold a line until its newline, so a progress bar redrawn with ``\\r`` would show nothing
  until it ends. When a write leaves a redrawn line open (or a flush leaves any line open), the
  stream ends it with ``ESC 7`` (save cursor) + newline, and starts the next write with ``ESC 8``
  (restore cursor): on a terminal, and in the kernel's reader, that is the same screen, but every
  frame reaches the log at once.
- :func:`stage` writes invisible markers (``ESC]fairing;stage=upload;state=running BEL``) that
  the kernel turns into its stage timeline; :func:`write_markers` writes any marker (the displays
  of ``fairing_display`` too) with the framing of the frames.
- :func:`watch_parent`: a local run ends itself when the kernel that started it is gone (its
  output would go nowhere).
"""

import io
import os
import sys
import threading
import time

SAVE_AND_BREAK = "\x1b7\n"
MARKER_START = "\x1b]fairing;"
RESTORE = "\x1b8"
METRIC_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-|")
PARENT_POLL_SECONDS = 1.0

_streams = {}


class _LineState:
    """The one screen that stdout and stderr both write to."""

    def __init__(self):
        self.lock = threading.RLock()
        self.open = False  # the last line has no newline yet
        self.redrawn = False  # ... and was redrawn (\r or \b)
        self.saved = False  # we ended it early: the next write restores the cursor first
        self.final = False  # the program is over: nothing follows, an open line stays as it is


class LiveStream(io.TextIOBase):
    """A text stream in front of ``inner`` that lets redrawn lines reach a line-based log at
    once."""

    def __init__(self, inner, state):
        super().__init__()
        self._inner = inner
        self._state = state

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if not text:
            return 0
        state = self._state
        with state.lock:
            out = text
            if state.saved:
                out = RESTORE + out
                state.saved = False
            newline = text.rfind("\n")
            tail = text if newline < 0 else text[newline + 1:]
            if newline >= 0:
                state.open = bool(tail)
                state.redrawn = False
            elif tail:
                state.open = True
            if "\r" in tail or "\b" in tail:
                state.redrawn = True
            if state.open and state.redrawn:
                out += SAVE_AND_BREAK
                state.saved = True
            self._inner.write(out)
        return len(text)

    def flush(self):
        state = self._state
        with state.lock:
            if state.open and not state.saved and not state.final:
                self._inner.write(SAVE_AND_BREAK)
                state.saved = True
            self._inner.flush()

    def isatty(self):
        return False

    def writable(self):
        return True

    def fileno(self):
        return self._inner.fileno()

    @property
    def encoding(self):
        return self._inner.encoding

    @property
    def errors(self):
        return self._inner.errors

    @property
    def buffer(self):
        return self._inner.buffer

    def __getattr__(self, name):
        return getattr(self._inner, name)


def install_streams():
    """Put :class:`LiveStream` in front of ``sys.stdout`` and ``sys.stderr`` (not a terminal)."""
    state = _LineState()
    for name in ("stdout", "stderr"):
        inner = getattr(sys, name)
        if inner is None or isinstance(inner, LiveStream):
            continue
        try:
            if inner.isatty():
                continue
        except (AttributeError, ValueError):
            continue
        stream = LiveStream(inner, state)
        setattr(sys, name, stream)
        _streams[name] = stream


def finish():
    """The program is over: flush both streams and leave an open last line as it is.

    Breaking an open line is only for what comes after it; at the end the container runtime
    passes the partial line on when the stream closes, so ``print(i, end=' ')`` ends the log
    exactly as it ends the kernel's output (no save-cursor, no extra newline)."""
    for stream in _streams.values():
        stream._state.final = True
    for stream in _streams.values():
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def log_metric(name, value, step=None):
    """Record metric ``name`` = ``value`` (at ``step``, else the next one) for this run.

    It prints ``step=3 loss=0.41`` (Katib's ``name=value`` convention), which the panel charts,
    ``run.metrics`` holds and ``metrics.jsonl`` keeps. Works in the kernel and in a run, where
    nothing needs to be installed. ``value`` is anything ``float()`` takes (numpy and torch
    scalars too).

    Example::

        import fairing_magics
        for epoch in range(10):
            fairing_magics.log_metric("loss", train_one_epoch(), step=epoch)
    """
    if not isinstance(name, str) or not name or not set(name) <= METRIC_NAME_CHARS:
        raise ValueError("metric name %r: use letters, digits, '_' and '-' (Katib's convention)"
                         % (name,))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError("log_metric(%r, ...) needs a number, not %s"
                        % (name, type(value).__name__)) from None
    text = "%s=%s" % (name, _format_number(number))
    if step is not None:
        try:
            step_number = float(step)
        except (TypeError, ValueError):
            raise TypeError("log_metric(..., step=...) needs a number, not %s"
                            % type(step).__name__) from None
        text = "step=%s %s" % (_format_number(step_number), text)
    stream = _streams.get("stdout") or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _format_number(number):
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def stage_marker(name, state, seconds=None):
    """The invisible marker that tells the kernel stage ``name`` is ``running``, ``done`` or
    ``failed``."""
    fields = "stage=%s;state=%s" % (name, state)
    if seconds is not None:
        fields += ";seconds=%.3f" % seconds
    return MARKER_START + fields + "\x07"


class stage:
    """``with stage("upload"):`` brackets a stage of the runtime with markers on stdout."""

    def __init__(self, name):
        self.name = name
        self.started = 0.0

    def __enter__(self):
        self.started = time.monotonic()
        _write_marker(stage_marker(self.name, "running"))
        return self

    def __exit__(self, exc_type, exc, tb):
        state = "failed" if exc_type is not None else "done"
        _write_marker(stage_marker(self.name, state, time.monotonic() - self.started))
        return False


def _write_marker(marker):
    write_markers([marker[len(MARKER_START):-1]])


def write_markers(payloads, stream=None):
    """Write invisible markers (``ESC]fairing;PAYLOAD BEL``), one a line, so that each reaches
    the kernel at once. A line the program left open is ended first with the frames' framing
    (``ESC 7`` + newline; its next write restores the cursor), so a marker never breaks a
    line: the kernel's terminal drops a row that holds nothing but a marker. ``stream``: the
    :class:`LiveStream` to write to (default: the run's stdout)."""
    text = "".join(MARKER_START + payload + "\x07\n" for payload in payloads)
    stream = stream if stream is not None else _streams.get("stdout")
    try:
        if stream is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        state = stream._state
        with state.lock:
            inner = stream._inner
            if state.open and not state.saved:
                inner.write(SAVE_AND_BREAK)
                state.saved = True
            inner.write(text)
            inner.flush()
    except (OSError, ValueError):
        pass  # nobody reads any more: the marker has no one to tell


def watch_parent(pid):
    """End this process (as SIGTERM does) when process ``pid``, the kernel that started it, is
    gone: a run whose kernel died has nowhere to send its output."""
    import signal

    def watch():
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    if pid and os.getppid() == pid:
        threading.Thread(target=watch, name="fairing-parent-watch", daemon=True).start()


def provide_module():
    """Make ``import fairing_magics`` work in a run where it is not installed: a stand-in module
    holding :func:`log_metric` (all a cell needs of it there)."""
    import importlib.util
    import types

    try:
        if importlib.util.find_spec("fairing_magics") is not None:
            return
    except (ImportError, ValueError):
        pass
    module = types.ModuleType("fairing_magics")
    module.__doc__ = "Stand-in for fairing_magics inside a run: log_metric only."
    module.log_metric = log_metric
    sys.modules["fairing_magics"] = module


def install():
    """What the bootstrap calls before the cell runs."""
    install_streams()
    provide_module()
    parent = os.environ.get("FAIRING_PARENT_PID", "")
    if parent.isdigit():
        watch_parent(int(parent))
