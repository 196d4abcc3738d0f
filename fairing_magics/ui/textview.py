"""The plain-text view: terminal IPython, ``FAIRING_UI=text``, and headless runs (papermill).

It prints the same events and lines as the panel, as they arrive: log lines as they are (with
``[replica] `` in front when a run has several), everything else behind ``[fairing]``.
"""

from __future__ import annotations

import threading

from fairing_magics import events as ev
from fairing_magics.ui.format import describe_stage, format_seconds


class TextView:
    """Writes a run's events to ``stream``. ``handle`` may be called from any thread."""

    def __init__(self, *, title: str, stream):
        self.title = title
        self.stream = stream
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            if hasattr(self.stream, "flush"):
                self.stream.flush()

    def handle(self, event) -> None:
        if isinstance(event, ev.LogLines):
            prefix = f"[{event.source}] " if event.source else ""
            self._write("".join(prefix + line + "\n" for line in event.lines))
        elif isinstance(event, ev.StageChanged):
            if event.state != "running":
                self._write(f"[fairing] {describe_stage(event)}\n")
        elif isinstance(event, ev.PhaseChanged):
            where = f" {event.source}" if event.source else ""
            detail = f" ({event.detail})" if event.detail else ""
            self._write(f"[fairing] {self.title}{where}: {event.phase}{detail}\n")
        elif isinstance(event, ev.Notice):
            where = f" {event.source}" if event.source else ""
            self._write(f"[fairing] {event.level}{where}: {event.text}\n")
        elif isinstance(event, ev.Progress):
            pass  # byte progress is for the panel; text shows the stage result
        elif isinstance(event, ev.Finished):
            self._write(f"[fairing] {self.title} {event.phase}: {event.summary} "
                        f"[{format_seconds(event.seconds)}]\n")

    def close(self) -> None:
        pass
