"""Panel: what every ipywidgets panel shares (JobView, EndpointView).

Events arrive from background threads. :meth:`Panel.handle` only records them (the subclass's
``_record``, under a lock); a flusher thread pushes the changes to the widgets a few times a
second (``FLUSH_SECONDS``) by setting widget values, which is safe from any thread. So 100,000
log lines cost a handful of widget updates, and a line never lands in the wrong cell (no
``with output:`` from threads). A ``Finished`` event renders once more and stops the flusher.

One render at a time: the flusher and :meth:`close` (run by the thread that saw ``Finished``)
both render; unserialized, they made two tab sets, or wrote an older state over the final one
(found by the browser test).
"""

from __future__ import annotations

import threading

from fairing_magics import events as ev
from fairing_magics.ui.state import MAX_NOTICES  # noqa: F401 - one limit for every panel

FLUSH_SECONDS = 0.25


class Panel:
    """Subclasses build their widgets, then call :meth:`_start`; they implement ``_record(event)``
    (called with the state lock held) and ``_render_state()`` (read the state under
    ``self._lock``, then set widget values outside it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None

    def _start(self, thread_name: str) -> None:
        """First render, then the flusher thread."""
        self._render()
        self._flusher = threading.Thread(target=self._flush_loop, name=thread_name, daemon=True)
        self._flusher.start()

    # -- events (any thread) -------------------------------------------------------------
    def handle(self, event) -> None:
        """Record ``event``; the flusher shows it within ``FLUSH_SECONDS`` (at once what
        :meth:`_render_now` takes: a figure should not wait for the log's next render)."""
        with self._lock:
            self._record(event)
        self._dirty.set()
        if isinstance(event, ev.Finished):
            self.close()
        elif self._closed.is_set():
            self._render()  # after the end (an endpoint deleted later): no flusher any more
        else:
            self._render_now(event)

    def _render_now(self, event) -> None:
        """Show ``event`` at once, in the thread that brought it (a subclass's choice)."""

    def _record(self, event) -> None:
        raise NotImplementedError

    # -- rendering (flusher thread) ------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            self._dirty.wait(FLUSH_SECONDS)
            self._closed.wait(FLUSH_SECONDS)  # at most a few updates a second
            self._dirty.clear()
            self._render()

    def close(self) -> None:
        """Final render; stop the flusher."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._render()

    def _render(self) -> None:
        with self._render_lock:
            self._render_state()

    def _render_state(self) -> None:
        raise NotImplementedError
