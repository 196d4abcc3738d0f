"""ANSI colour runs (``ESC[...m``), the only escapes a finished log row keeps: stripped for text
(``logs.txt``, the text view, ``run.logs()``) and turned into HTML for the widget."""

from __future__ import annotations

import html
import re

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_BASIC = ("#000000", "#cd3131", "#0dbc79", "#c8a300", "#2472c8", "#bc3fbc", "#11a8cd", "#a0a0a0")
_BRIGHT = ("#666666", "#f14c4c", "#23d18b", "#d5b500", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5")


def strip_ansi(line: str) -> str:
    """``line`` without its colour codes."""
    return _SGR.sub("", line) if "\x1b" in line else line


def _colour(values: list[str], i: int) -> tuple[str, int]:
    """The CSS colour of an extended colour at ``values[i]`` (``5;n`` or ``2;r;g;b``), and its
    size."""
    if i < len(values) and values[i] == "5" and i + 1 < len(values):
        n = int(values[i + 1] or 0)
        if n < 8:
            return _BASIC[n], 2
        if n < 16:
            return _BRIGHT[n - 8], 2
        if n < 232:
            n -= 16
            steps = (0, 95, 135, 175, 215, 255)
            return f"rgb({steps[n // 36]},{steps[n // 6 % 6]},{steps[n % 6]})", 2
        grey = 8 + (n - 232) * 10
        return f"rgb({grey},{grey},{grey})", 2
    if i < len(values) and values[i] == "2" and i + 3 < len(values):
        r, g, b = (int(v or 0) for v in values[i + 1:i + 4])
        return f"rgb({r},{g},{b})", 4
    return "", 1


def _css(params: str) -> str:
    """The inline style of one SGR state (as kept by the terminal: ``;``-joined attributes)."""
    values = params.replace(":", ";").split(";")
    styles = []
    i = 0
    while i < len(values):
        v = values[i]
        code = int(v) if v.isdigit() else 0
        if code == 1:
            styles.append("font-weight:bold")
        elif code == 2:
            styles.append("opacity:0.7")
        elif code == 3:
            styles.append("font-style:italic")
        elif code == 4:
            styles.append("text-decoration:underline")
        elif code == 9:
            styles.append("text-decoration:line-through")
        elif 30 <= code <= 37:
            styles.append(f"color:{_BASIC[code - 30]}")
        elif 90 <= code <= 97:
            styles.append(f"color:{_BRIGHT[code - 90]}")
        elif 40 <= code <= 47:
            styles.append(f"background:{_BASIC[code - 40]}")
        elif 100 <= code <= 107:
            styles.append(f"background:{_BRIGHT[code - 100]}")
        elif code in (38, 48):
            colour, size = _colour(values, i + 1)
            if colour:
                styles.append(("color:" if code == 38 else "background:") + colour)
            i += size
        i += 1
    return ";".join(styles)


def ansi_to_html(line: str) -> str:
    """``line`` as escaped HTML, its colour runs as ``<span style=...>``."""
    if "\x1b" not in line:
        return html.escape(line)
    out = []
    pos = 0
    open_span = False
    for match in _SGR.finditer(line):
        out.append(html.escape(line[pos:match.start()]))
        pos = match.end()
        if open_span:
            out.append("</span>")
            open_span = False
        style = _css(match.group(1)) if match.group(1) not in ("", "0") else ""
        if style:
            out.append(f'<span style="{style}">')
            open_span = True
    out.append(html.escape(line[pos:]))
    if open_span:
        out.append("</span>")
    return "".join(out)
