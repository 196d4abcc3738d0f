"""Words and colours shared by the widget and the text views."""

from __future__ import annotations

from fairing_magics import events as ev

PHASE_COLOURS = {
    ev.PENDING: "#8a8a8a",
    ev.RUNNING: "#1f6feb",
    ev.SUCCEEDED: "#1a7f37",
    ev.FAILED: "#cf222e",
    ev.CANCELLED: "#9a6700",
    ev.TIMED_OUT: "#cf222e",
    ev.DETACHED: "#8250df",
}

STATE_MARKS = {"running": "…", "done": "✓", "failed": "✗", "skipped": "–"}


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def describe_stage(event: ev.StageChanged) -> str:
    mark = STATE_MARKS.get(event.state, event.state)
    timing = f" {format_seconds(event.seconds)}" if event.state != "running" else ""
    detail = f" ({event.detail})" if event.detail else ""
    return f"{mark} {event.stage}{timing}{detail}"
