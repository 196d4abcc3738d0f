"""CommPump: let the panel's widgets (its Cancel button) work while a cell blocks the kernel.

A cell that waits for its run keeps the kernel busy, and a busy kernel reads no shell message:
a click on Cancel (a ``comm_msg`` from the browser) would wait until the run has ended. While the
cell waits, :meth:`CommPump.poll` (called a few times a second by the wait loop) reads the shell
messages that have arrived, handles the comm messages at once (widget clicks and state updates)
and keeps every other message (``execute_request`` of cells queued meanwhile, ``kernel_info``, ...)
in arrival order; :meth:`CommPump.close` hands those back to the kernel before the cell ends, so
they run after it, in order, as if the kernel had been busy all along.

How, on ipykernel 7 (ipykernel 6 is the same with fewer parts: the shell socket's own stream,
and the comm handler called directly; where neither fits, :func:`open_comm_pump` returns ``None``
and the panel says to interrupt the kernel instead):

- ipykernel 7 reads the shell socket in its *shell channel thread*, which forwards each message
  over an inproc socket pair to the main thread; there a ``ZMQStream`` hands it to
  ``kernel.shell_main``, which takes ``kernel._main_asyncio_lock`` (held by the running cell), so
  nothing runs until the cell returns. The stream is only read when the main event loop runs,
  and a blocking cell does not let it run.
- We swap that stream's receive callback (``ZMQStream.on_recv``) for our own and read the pending
  messages synchronously with ``ZMQStream.flush(POLLIN)`` (pyzmq's public way to bypass the loop;
  it also re-arms the stream for the edge-triggered zmq FD). Comm messages go through
  ``kernel.dispatch_shell(..., concurrent=True)``: the very path ipykernel 7 itself uses for comm
  messages that arrive while an *async* cell holds the lock (no busy/idle status, no signal-handler
  swap), then the cell's parent header is restored so its output stays in its own cell.
- Unlike jupyter-ui-poll (which needs ``kernel.do_one_iteration``, gone in ipykernel 7, and
  replaces ``_main_asyncio_lock`` with a null context), we leave the lock alone: the messages we
  kept are given back to the stream's original callback in arrival order before the cell returns,
  so their tasks queue on the still-held lock (an ``asyncio.Lock`` wakes waiters first in, first
  out) ahead of anything the stream reads later. The ``b"stop aborting"`` marker that ipykernel
  sends after a failed cell is kept in order too, so queued cells are aborted exactly as usual.
- A kernel interrupt that arrives while we read or dispatch is held back and raised when
  :meth:`poll` returns, so a message is never half-read and ``dispatch_shell`` does not swallow it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading

log = logging.getLogger(__name__)

COMM_TYPES = frozenset({"comm_open", "comm_msg", "comm_close"})
POLL_LIMIT = 100  # messages read per poll, so a flood cannot starve the wait loop


def open_comm_pump():
    """A :class:`CommPump` for the running ipykernel, or ``None`` where it cannot work (terminal
    IPython, a subshell, a kernel whose internals are not the ones we know)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        if kernel is None or kernel.session is None or not hasattr(kernel, "dispatch_shell"):
            return None  # no kernel: terminal IPython
        if threading.current_thread() is not threading.main_thread():
            return None  # a subshell's cell: its messages do not come through the main stream
        channel_thread = getattr(kernel, "shell_channel_thread", None)
        if channel_thread is not None:  # ipykernel 7: the main thread's end of the inproc pair
            stream = channel_thread.manager.get_shell_channel_to_subshell_pair(None).to_stream
        elif hasattr(kernel, "msg_queue"):  # ipykernel 6: the shell socket's own stream
            stream = kernel.shell_stream
        else:
            return None
        original = getattr(stream, "_recv_callback", None)
        if original is None:
            return None
        return CommPump(kernel, stream, original, concurrent_dispatch=channel_thread is not None)
    except Exception:  # noqa: BLE001 - an unknown kernel layout means: no pump, the panel says so
        log.debug("no comm pump for this kernel", exc_info=True)
        return None


class CommPump:
    """Handles comm messages now, keeps the others for after the cell. Main thread only; use as a
    context manager (``close`` must run, or the kernel would stop reading its shell messages)."""

    def __init__(self, kernel, stream, original_callback, *,
                 concurrent_dispatch: bool = True) -> None:
        self._kernel = kernel
        self._concurrent_dispatch = concurrent_dispatch
        self._stream = stream
        self._original = original_callback
        self._kept: list = []
        self._closed = False
        stream.on_recv(self._receive, copy=False)

    def __enter__(self) -> CommPump:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def poll(self) -> int:
        """Read the shell messages waiting now; handle comm messages, keep the rest. Returns how
        many were read. A kernel interrupt during the read is raised at the end."""
        if self._closed:
            return 0
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        try:
            count = self._stream.flush(_POLLIN, limit=POLL_LIMIT)
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted and previous is not signal.SIG_IGN:
            if callable(previous):
                previous(signal.SIGINT, None)  # the kernel's handler: raises KeyboardInterrupt
            else:
                raise KeyboardInterrupt
        return count

    def close(self) -> None:
        """Give the stream back its callback and the kept messages back to the kernel, in order.
        Call it before the cell returns (while the cell still holds the kernel's lock)."""
        if self._closed:
            return
        try:
            self.poll()
        finally:
            self._closed = True
            self._stream.on_recv(self._original, copy=False)
            kept, self._kept = self._kept, []
            for frames in kept:
                self._hand_back(frames)

    # -- internals ------------------------------------------------------------------------
    def _receive(self, frames) -> None:
        msg_type = self._msg_type(frames)
        if self._closed:  # cannot happen once the callback is restored; never drop a message
            self._hand_back(frames)
        elif msg_type in ("comm_msg", "comm_close") or (msg_type == "comm_open" and not self._kept):
            self._dispatch_now(frames)
        else:
            # Kept for after the cell. A comm_open behind kept messages waits with them (a
            # queued cell may be what it refers to); clicks and updates never wait.
            self._kept.append(frames)

    def _msg_type(self, frames) -> str:
        if len(frames) == 1:
            return ""  # ipykernel's b"stop aborting" marker
        try:
            session = self._kernel.session
            _, rest = session.feed_identities(frames, copy=False)
            return (session.deserialize(rest, content=False, copy=False)["header"]
                    .get("msg_type", ""))
        except Exception:  # noqa: BLE001 - let the kernel itself judge a message it cannot read
            return ""

    def _dispatch_now(self, frames) -> None:
        kernel = self._kernel
        parent = kernel.get_parent("shell")
        if self._concurrent_dispatch:
            ident = kernel._get_shell_context_var(kernel._shell_parent_ident)
        else:
            ident = kernel._parent_ident["shell"]
        try:
            if self._concurrent_dispatch:
                step = kernel.dispatch_shell(frames, subshell_id=None, concurrent=True)
            else:
                step = self._dispatch_comm_6(frames)
            if inspect.iscoroutine(step):
                _run_without_suspending(step)
        except Exception:  # noqa: BLE001 - dispatch_shell logs handler errors itself
            log.warning("comm message while waiting: not handled", exc_info=True)
        finally:
            kernel.set_parent(ident, parent, channel="shell")  # the cell's output stays in the cell

    def _dispatch_comm_6(self, frames):
        """ipykernel 6 has no concurrent dispatch: do what its ``dispatch_shell`` does for a comm
        message, without the busy/idle status (the kernel is still busy with the cell) and
        without swapping the SIGINT handler."""
        kernel = self._kernel
        idents, rest = kernel.session.feed_identities(frames, copy=False)
        msg = kernel.session.deserialize(rest, content=True, copy=False)
        kernel.set_parent(idents, msg, channel="shell")
        handler = kernel.shell_handlers.get(msg["header"]["msg_type"])
        if handler is None:
            return None
        return handler(kernel.shell_stream, idents, msg)

    def _hand_back(self, frames) -> None:
        result = self._original(frames)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)  # what ZMQStream does with a coroutine callback


def _run_without_suspending(coroutine) -> None:
    """Run a coroutine that never really waits (ipykernel's dispatch of a comm message, whose
    handlers are plain functions) to its end, from synchronous code."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    log.warning("comm message while waiting: its handler waited on the event loop; dropped")


try:
    import zmq

    _POLLIN = zmq.POLLIN
except ImportError:  # pragma: no cover - no pump without a kernel anyway
    _POLLIN = 1
