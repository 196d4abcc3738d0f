"""Panel: what every ipywidgets panel shares (JobView, EndpointView, SweepView); CancelButton:
the Cancel button of the panels of something that runs (JobView, SweepView).

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


class CancelButton:
    """A panel's Cancel button (``self.cancel_button``): made by :meth:`_make_cancel_button`,
    disabled with a hint while the kernel is busy (:meth:`block_cancel`), hidden at the end."""

    def _make_cancel_button(self, on_cancel):
        import ipywidgets as widgets

        self._on_cancel = on_cancel
        self.cancel_button = widgets.Button(description="Cancel", button_style="warning",
                                            icon="stop", layout=widgets.Layout(width="110px"))
        self.cancel_button.on_click(self._cancel_clicked)
        return self.cancel_button

    def block_cancel(self, hint: str) -> None:
        """The cell blocks and widget events cannot reach the kernel until it ends: show the
        button disabled, saying how to stop it instead (``hint``), rather than a dead button."""
        self.cancel_button.disabled = True
        self.cancel_button.description = hint
        self.cancel_button.tooltip = ("The kernel is busy waiting for this, so this button "
                                      f"cannot reach it: {hint}")
        self.cancel_button.layout.width = "auto"

    def _cancel_clicked(self, _button) -> None:
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling"
        if self._on_cancel is not None:
            self._on_cancel()

    def _hide_cancel(self) -> None:
        self.cancel_button.disabled = True
        self.cancel_button.layout.display = "none"
