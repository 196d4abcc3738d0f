"""Words, colours and tables shared by the views and by the text the magics print (durations,
stages, progress, kubectl-like tables)."""

from __future__ import annotations

import html

from fairing_magics import events as ev

PHASE_COLOURS = {
    ev.PENDING: "#8a8a8a",
    ev.RUNNING: "#1f6feb",
    ev.SUCCEEDED: "#1a7f37",
    ev.FAILED: "#cf222e",
    ev.CANCELLED: "#9a6700",
    ev.TIMED_OUT: "#cf222e",
    ev.DETACHED: "#8250df",
    ev.LOST: "#9a6700",
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


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, as kubectl prints them (the first row: headings)."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(width)
                               for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def describe_stage(event: ev.StageChanged) -> str:
    mark = STATE_MARKS.get(event.state, event.state)
    timing = f" {format_seconds(event.seconds)}" if event.state != "running" else ""
    detail = f" ({event.detail})" if event.detail else ""
    return f"{mark} {event.stage}{timing}{detail}"


_STAGE_COLOURS = {"done": "#1a7f37", "failed": "#cf222e", "running": "#1f6feb"}
_NOTICE_COLOURS = {"warning": "#9a6700", "error": "#cf222e"}


def header_html(title: str, where: str, phase: str, colour: str, detail: str,
                elapsed: float) -> str:
    """The panel's first line: name · where · phase (in colour) (detail) · elapsed."""
    extra = f" <small>({html.escape(detail)})</small>" if detail else ""
    return (f'<div class="fairing-header"><b>{html.escape(title)}</b> · {html.escape(where)} · '
            f'<span class="fairing-phase" style="color:{colour};font-weight:bold">'
            f'{html.escape(phase)}</span>'
            f"{extra} · {format_seconds(elapsed)}</div>")


def stages_html(stage_names, stage_states: dict, progress: str = "", running_seconds=None) -> str:
    """The row of stages with their marks and durations (push shows its byte progress; a running
    stage its time so far and its detail, e.g. ``attempt 3``, when ``running_seconds(stage)``
    is given)."""
    cells = []
    for stage in stage_names:
        state, seconds, detail = stage_states.get(stage, ("waiting", 0.0, ""))
        mark = STATE_MARKS.get(state, "○")
        timing = format_seconds(seconds) if state in ("done", "failed") else ""
        if state == "running" and running_seconds is not None:
            timing = format_seconds(running_seconds(stage)) + (f" ({detail})" if detail else "")
        if stage == "push" and state == "running" and progress:
            timing = progress
        colour = _STAGE_COLOURS.get(state, "#8a8a8a")
        title = f' title="{html.escape(detail)}"' if detail else ""
        cells.append(f'<span class="fairing-stage" style="color:{colour};margin-right:14px"{title}>'
                     f"{mark} {stage} {timing}</span>")
    return '<div class="fairing-stages">' + "".join(cells) + "</div>"


def notices_html(notices) -> str:
    """The notices that matter (pod events, warnings), one line each, coloured by level."""
    if not notices:
        return ""
    rows = [f'<div style="color:{_NOTICE_COLOURS.get(level, "#555")}">{html.escape(text)}</div>'
            for level, text in notices]
    return '<div class="fairing-notices" style="font-size:90%">' + "".join(rows) + "</div>"


def progress_text(p: ev.RunProgress) -> str:
    """``45% 45/100 · 10.2it/s · ETA 5.0 s`` (``45 it · 10.2it/s`` without a total)."""
    parts = []
    fraction = p.fraction
    done = f"{p.done:g}"
    if fraction is not None:
        parts.append(f"{fraction * 100:.0f}% {done}/{p.total:g}")
    else:
        parts.append(done)
    if p.rate:
        parts.append(p.rate)
    if p.eta is not None and fraction is not None and fraction < 1:
        parts.append("ETA " + (format_seconds(p.eta) if p.eta >= 1 else "<1 s"))
    return " · ".join(parts)


def progress_bar_text(p: ev.RunProgress, width: int = 20) -> str:
    fraction = p.fraction
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "[" + "█" * filled + "░" * (width - filled) + "]"


def progress_html(progress: dict) -> str:
    """One bar per replica (a run with one shows one): label, bar, percent, rate, ETA."""
    rows = []
    for source, p in sorted(progress.items()):
        fraction = p.fraction
        label = " ".join(x for x in (source, p.label) if x)
        bar = ""
        if fraction is not None:
            bar = ('<span style="display:inline-block;width:160px;height:9px;background:#e6e6e6;'
                   'border-radius:4px;vertical-align:middle;margin:0 6px">'
                   '<span class="fairing-progress-fill" style="display:block;height:9px;'
                   f'width:{fraction * 100:.1f}%;'
                   'background:#1f6feb;border-radius:4px"></span></span>')
        rows.append(f'<div class="fairing-progress" data-source="{html.escape(source)}" '
                    f'data-fraction="{"" if fraction is None else f"{fraction:.4f}"}" '
                    'style="font-size:90%">'
                    + (f"<code>{html.escape(label)}</code>" if label else "")
                    + bar + html.escape(progress_text(p)) + "</div>")
    return "".join(rows)
