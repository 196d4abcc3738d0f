"""Program output in, terminal-faithful lines out: the one place output is cut into lines.

A program's output is read as a terminal would show it. :class:`Terminal` (text in) keeps a
small screen of the rows that can still change and hands out the rows that cannot:

- ``\\r`` returns to the start of the row and what follows overwrites it (tqdm, Keras, Lightning,
  XGBoost redraw a progress line this way); ``\\b`` steps back one column;
- ANSI escape sequences are obeyed, never passed on: colours (SGR) are kept on the rows, as
  ``ESC[...m`` runs that views render (the widget) or strip (:func:`strip_ansi`, text views and
  ``logs.txt``); erase-line (``ESC[K``), cursor up/down/forward/back (``ESC[nA`` ... used by nested
  tqdm bars), save/restore cursor (``ESC 7`` / ``ESC 8``) move and erase as in a terminal; other
  sequences and control characters are dropped. ``OSC`` sequences addressed to us
  (``ESC]fairing;...BEL``) are kept aside as *markers* (:meth:`Terminal.take_markers`);
- a row is *finished* once nothing can redraw it any more: at once for plain output; a row that
  was redrawn stays live until a few rows were written below it, and as many rows as the program
  ever moved the cursor up stay live (the rows of nested bars). :meth:`Terminal.feed` returns the
  finished rows, in order, each with its last frame; :meth:`Terminal.live` the rows still live,
  newest frame, which the panel shows below the finished lines.

The runtime (``fairing_live.py``) ends every redrawn frame with ``ESC 7`` + newline and starts the
next write with ``ESC 8``, so that container runtimes, which hold a line until its newline, pass
each frame on at once; here that is an ordinary save-and-restore of the cursor.

:class:`LineSplitter` (bytes in) decodes UTF-8 incrementally (a character split across two reads
stays whole, undecodable bytes become U+FFFD) in front of a :class:`Terminal`; :class:`LineEvents`
turns what they return into ``LogLines``/``LiveLines`` events.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.ansi import strip_ansi  # noqa: F401 - re-exported: the text of a finished row

MAX_DEPTH = 64  # rows a program may move the cursor up to redraw (nested bars)
MAX_LIVE = 200  # live rows at most: beyond, the oldest are finished whatever they wait for
FRAME_HOLD = 3  # a redrawn row stays live until this many rows were started below it
MAX_CARRY = 4096  # an escape sequence split across reads waits this long for its end
MARKER_PREFIX = "fairing;"
MARKER_START = "\x1b]" + MARKER_PREFIX

_SPECIAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # everything but text, \t and \n
_CONTROL = re.compile(r"""
    \x1b\[(?P<csi>[0-?]*)[\x20-/]*(?P<final>[@-~])
  | \x1b\](?P<osc>[^\x07\x1b]*)(?:\x07|\x1b\\)
  | \x1b(?P<esc>[^\[\]])
  | (?P<ctl>[\x00-\x1f\x7f])
""", re.X)
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[\x20-/]*|\][^\x07\x1b]*(?:\x1b)?)?\Z")
def _sgr(style: str, params: str) -> str:
    """The style after ``ESC[<params>m``: the active SGR attributes as ``;``-joined numbers."""
    attrs = [a for a in style.split(";") if a] if style else []
    values = params.replace(":", ";").split(";") if params else ["0"]
    i = 0
    while i < len(values):
        v = values[i]
        code = int(v) if v.isdigit() else 0
        if code == 0:
            attrs = []
        elif code in (38, 48, 58):  # extended colour: 38;5;n or 38;2;r;g;b
            size = 3 if i + 1 < len(values) and values[i + 1] == "5" else 5
            group = values[i:i + size]
            attrs = [a for a in attrs if not a.startswith(f"{code};")] + [";".join(group)]
            i += size
            continue
        elif 30 <= code <= 37 or 90 <= code <= 97 or code == 39:
            attrs = [a for a in attrs if not _is_fg(a)] + ([] if code == 39 else [v])
        elif 40 <= code <= 47 or 100 <= code <= 107 or code == 49:
            attrs = [a for a in attrs if not _is_bg(a)] + ([] if code == 49 else [v])
        elif code in (22, 23, 24, 25, 27, 28, 29):
            off = {22: ("1", "2"), 23: ("3",), 24: ("4",), 25: ("5",), 27: ("7",), 28: ("8",),
                   29: ("9",)}[code]
            attrs = [a for a in attrs if a not in off]
        elif v not in attrs:
            attrs.append(v)
        i += 1
    return ";".join(attrs)


def _is_fg(attr: str) -> bool:
    return attr.startswith("38;") or (attr.isdigit()
                                      and (30 <= int(attr) <= 37 or 90 <= int(attr) <= 97))


def _is_bg(attr: str) -> bool:
    return attr.startswith("48;") or (attr.isdigit()
                                      and (40 <= int(attr) <= 47 or 100 <= int(attr) <= 107))


class Terminal:
    """Text in; finished rows and live rows out (see the module docstring)."""

    def __init__(self) -> None:
        self._rows: list[str] = [""]
        self._styles: list[list[str] | None] = [None]  # per row: a style per column, or None
        self._redrawn: list[bool] = [False]
        self._r = 0  # cursor row (index into _rows)
        self._c = 0  # cursor column
        self._style = ""
        self._depth = 0
        self._saved: tuple[int, int] | None = None
        self._carry = ""
        self._markers: list[str] = []
        self._marker_row = -1  # a row that holds only a marker so far: its newline adds no row
        self._sgr_cache: dict[tuple[str, str], str] = {}

    # -- what callers use ----------------------------------------------------------------
    def feed(self, text: str) -> tuple[str, ...]:
        """Take ``text``; return the rows it finished (possibly none)."""
        if self._carry:
            text, self._carry = self._carry + text, ""
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")  # the same on a terminal, and the fast path takes it
        if "\x1b" in text:
            cut = _INCOMPLETE.search(text)
            if cut is not None and len(text) - cut.start() <= MAX_CARRY:
                text, self._carry = text[:cut.start()], text[cut.start():]
        finished: list[str] = []
        special = _SPECIAL.search(text)
        if special is None and self._simple():
            return self._fast(text, finished)
        pos = 0
        while pos < len(text):
            special = _SPECIAL.search(text, pos)
            end = special.start() if special else len(text)
            if end > pos:
                self._text(text[pos:end], finished)
            if special is None:
                break
            if text[end] == "\r":
                after = self._rewrite_line(text, end)
                if after is not None:
                    pos = after
                    if self._r > MAX_LIVE:
                        self._commit(finished)
                    continue
            pos = self._control(text, end)
        self._commit(finished)
        return tuple(finished)

    def _rewrite_line(self, text: str, at: int) -> int | None:
        """The commonest redraw in one step: ``\r`` (or ``\r ESC[K``), plain text, maybe
        ``ESC 7`` (the runtime's save), then ``\n``, on an uncoloured last row. Where to go on,
        or None when the line is anything else (the general path takes it)."""
        if self._r != len(self._rows) - 1 or self._style or self._styles[-1] is not None:
            return None
        start = at + 1
        erase = text.startswith("\x1b[K", start)
        if erase:
            start += 3
        end = text.find("\n", start)
        if end < 0:
            return None
        stop = end - 2 if text.startswith("\x1b7", end - 2) and end - 2 >= start else end
        if _SPECIAL.search(text, start, stop) is not None:
            return None
        segment = text[start:stop]
        row = self._rows[-1]
        self._rows[-1] = (segment if erase or len(segment) >= len(row)
                          else segment + row[len(segment):])
        self._redrawn[-1] = True
        if stop != end:
            self._saved = (self._r, len(segment))
        self._newline()
        return end + 1

    def live(self) -> tuple[str, ...]:
        """The rows that may still change, newest frame first to last (colours kept)."""
        rows = self._rows
        count = len(rows)
        if count and not rows[-1] and self._styles[-1] is None:
            count -= 1  # the empty row the cursor waits on after a newline
        return tuple(self._render(i) for i in range(count))

    def close(self) -> tuple[str, ...]:
        """The program ended: every row left is finished (a last empty row is dropped)."""
        self._carry = ""
        finished = list(self.live())
        self._rows, self._styles, self._redrawn = [""], [None], [False]
        self._r = self._c = 0
        self._saved = None
        self._marker_row = -1
        return tuple(finished)

    def take_markers(self) -> list[str]:
        """The ``ESC]fairing;...`` payloads seen since the last call (without the prefix)."""
        markers, self._markers = self._markers, []
        return markers

    def feed_in_order(self, text: str) -> list[tuple[tuple[str, ...], list[str]]]:
        """:meth:`feed` that keeps the markers in their place among the lines: ``(finished rows,
        markers after them)`` pairs, in order (one pair for text without markers). So a display
        made after a line is handed on after it, whatever the reads gathered together."""
        starts = [0]
        at = text.find(MARKER_START, 1)
        while at >= 0:
            starts.append(at)
            at = text.find(MARKER_START, at + 1)
        starts.append(len(text))
        return [(self.feed(text[a:b]), self.take_markers())
                for a, b in zip(starts, starts[1:], strict=False) if b > a]

    # -- the screen ----------------------------------------------------------------------
    def _simple(self) -> bool:
        return (self._r == len(self._rows) - 1 and self._c == len(self._rows[-1])
                and not self._style and self._styles[-1] is None and self._saved is None
                and self._depth == 0 and len(self._rows) == 1 and not self._redrawn[0]
                and self._marker_row < 0)

    def _fast(self, text: str, finished: list[str]) -> tuple[str, ...]:
        """Plain text at the end of a plain last row: lines are what ``split`` says."""
        parts = text.split("\n")
        if len(parts) == 1:
            self._rows[-1] += text
            self._c = len(self._rows[-1])
            return ()
        finished.append(self._rows[-1] + parts[0])
        finished.extend(parts[1:-1])
        self._rows[-1] = parts[-1]
        self._redrawn[-1] = False
        self._c = len(parts[-1])
        return tuple(finished)

    def _text(self, text: str, finished: list[str]) -> None:
        """Text without control characters but ``\\n``, written at the cursor."""
        first = True
        for part in text.split("\n"):
            if not first:
                self._newline()
                if self._r > MAX_LIVE:
                    self._commit(finished)
            first = False
            if part:
                self._write(part)

    def _write(self, part: str) -> None:
        self._marker_row = -1
        r, c = self._r, self._c
        row = self._rows[r]
        if c > len(row):
            row += " " * (c - len(row))
        end = c + len(part)
        self._rows[r] = row[:c] + part + row[end:]
        styles = self._styles[r]
        if styles is not None or self._style:
            if styles is None:
                styles = [""] * len(row)
            elif len(styles) < c:
                styles.extend([""] * (c - len(styles)))
            styles[c:end] = [self._style] * len(part)
            self._styles[r] = styles
        self._c = end

    def _newline(self) -> None:
        if self._marker_row == self._r:
            self._marker_row = -1
            if self._c == 0 and not self._rows[self._r]:
                return  # the runtime's marker line: nothing to show, no empty line in the log
        self._r += 1
        self._c = 0
        if self._r == len(self._rows):
            self._rows.append("")
            self._styles.append(None)
            self._redrawn.append(False)

    def _move_to_row(self, r: int, *, restore: bool = False) -> None:
        bottom = len(self._rows) - 1
        if r < self._r and not restore:  # a restore goes back to a pinned row: no depth needed
            self._depth = min(MAX_DEPTH, max(self._depth, bottom - max(r, 0)))
        self._r = max(0, r)
        while self._r >= len(self._rows):
            self._rows.append("")
            self._styles.append(None)
            self._redrawn.append(False)
        self._redrawn[self._r] = True

    def _erase(self, start: int, end: int | None) -> None:
        """Blank columns ``start``..``end`` (None: to the end) of the cursor's row."""
        r = self._r
        row = self._rows[r]
        styles = self._styles[r]
        if end is None or end >= len(row):
            self._rows[r] = row[:start]
            if styles is not None:
                del styles[start:]
        else:
            self._rows[r] = row[:start] + " " * (end - start) + row[end:]
            if styles is not None:
                styles.extend([""] * (end - len(styles)))
                styles[start:end] = [""] * (end - start)
        self._redrawn[r] = True

    def _control(self, text: str, at: int) -> int:
        """Obey the control character or escape sequence at ``text[at]``; return where to go on."""
        ch = text[at]
        if ch == "\r":
            self._c = 0
            self._redrawn[self._r] = True
            return at + 1
        if ch == "\b":
            self._c = max(0, self._c - 1)
            self._redrawn[self._r] = True
            return at + 1
        if ch == "\x1b":  # the sequences of progress bars and the runtime, without the regex
            two = text[at + 1:at + 2]
            if two == "8":
                if self._saved is not None:
                    r, self._c = self._saved
                    self._saved = None
                    self._move_to_row(r, restore=True)
                return at + 2
            if two == "7":
                self._saved = (self._r, self._c)
                return at + 2
            if text.startswith("[K", at + 1):
                self._erase(self._c, None)
                return at + 3
        match = _CONTROL.match(text, at)
        if match is None:  # cannot happen: _CONTROL's last branch takes any control character
            return at + 1
        if match.group("final") is not None:
            self._csi(match.group("csi"), match.group("final"))
        elif match.group("osc") is not None:
            payload = match.group("osc")
            if payload.startswith(MARKER_PREFIX):
                self._markers.append(payload[len(MARKER_PREFIX):])
                if self._c == 0 and not self._rows[self._r]:
                    self._marker_row = self._r
        elif match.group("esc") is not None:
            code = match.group("esc")
            if code == "7":
                self._saved = (self._r, self._c)
            elif code == "8" and self._saved is not None:
                r, self._c = self._saved
                self._saved = None
                self._move_to_row(r, restore=True)
            elif code == "M":
                self._move_to_row(self._r - 1)
        return match.end()

    def _csi(self, params: str, final: str) -> None:
        if final == "m":
            key = (self._style, params)
            style = self._sgr_cache.get(key)
            if style is None:
                style = self._sgr_cache[key] = _sgr(self._style, params)
                if len(self._sgr_cache) > 256:
                    self._sgr_cache.clear()
            self._style = style
            return
        if params.startswith("?"):
            return  # private modes (cursor shown or hidden, ...): nothing to show
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        n = numbers[0] if numbers and numbers[0] > 0 else 1
        if final == "A":
            self._move_to_row(self._r - n)
        elif final in "BE":
            self._move_to_row(self._r + n)
            if final == "E":
                self._c = 0
        elif final == "F":
            self._move_to_row(self._r - n)
            self._c = 0
        elif final == "C":
            self._c += n
        elif final == "D":
            self._c = max(0, self._c - n)
            self._redrawn[self._r] = True
        elif final == "G":
            self._c = n - 1
            self._redrawn[self._r] = True
        elif final in "Hf":
            self._c = (numbers[1] if len(numbers) > 1 and numbers[1] > 0 else 1) - 1
            self._redrawn[self._r] = True
        elif final == "K":
            mode = numbers[0] if numbers else 0
            if mode == 0:
                self._erase(self._c, None)
            elif mode == 1:
                self._erase(0, self._c + 1)
            else:
                self._erase(0, None)
        elif final == "J":
            mode = numbers[0] if numbers else 0
            self._erase(self._c if mode == 0 else 0, None)
            below = self._r + 1
            del self._rows[below:], self._styles[below:], self._redrawn[below:]
            self._rows.append("")
            self._styles.append(None)
            self._redrawn.append(False)

    def _commit(self, finished: list[str]) -> None:
        """Hand out the rows nothing can redraw any more (see the module docstring)."""
        bottom = len(self._rows) - 1
        keep = min(bottom - self._depth, self._r)
        if self._saved is not None:
            keep = min(keep, self._saved[0])
        for i in range(max(0, bottom - FRAME_HOLD + 1), max(keep, 0)):
            if self._redrawn[i]:
                keep = i
                break
        keep = max(keep, len(self._rows) - MAX_LIVE)
        if keep <= 0:
            return
        finished.extend(self._render(i) for i in range(keep))
        del self._rows[:keep], self._styles[:keep], self._redrawn[:keep]
        self._r = max(0, self._r - keep)
        if self._marker_row >= 0:
            self._marker_row -= keep
        if self._saved is not None:
            self._saved = (max(0, self._saved[0] - keep), self._saved[1])

    def _render(self, i: int) -> str:
        row = self._rows[i]
        styles = self._styles[i]
        if styles is None or not any(styles):
            return row.rstrip() if self._redrawn[i] else row
        out = []
        start = 0
        styles = styles + [""] * (len(row) - len(styles))
        for j in range(1, len(row) + 1):
            if j == len(row) or styles[j] != styles[start]:
                chunk = row[start:j]
                out.append(f"\x1b[{styles[start]}m{chunk}\x1b[0m" if styles[start] else chunk)
                start = j
        return "".join(out).rstrip()


class LineSplitter:
    """Bytes in, terminal-faithful lines out (a UTF-8 decoder in front of a :class:`Terminal`)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.terminal = Terminal()

    def feed(self, data: bytes) -> tuple[str, ...]:
        """The lines ``data`` finished (possibly none), without their line endings."""
        return self.terminal.feed(self._decoder.decode(data))

    def feed_in_order(self, data: bytes) -> list[tuple[tuple[str, ...], list[str]]]:
        """``(lines, markers)`` pairs in the order ``data`` has them
        (:meth:`Terminal.feed_in_order`)."""
        return self.terminal.feed_in_order(self._decoder.decode(data))

    def live(self) -> tuple[str, ...]:
        return self.terminal.live()

    def pass_on(self, data: bytes, deliver, on_live=None) -> None:
        """Feed ``data`` (what a process printed) and hand the finished lines to ``deliver``, in
        order with the markers among them, and the live rows with those markers to
        ``on_live(rows, markers)`` (then the rows once more, as they stand after ``data``)."""
        for lines, markers in self.feed_in_order(data):
            if lines:
                deliver(lines)
            if markers and on_live is not None:
                on_live(self.live(), markers)
        if on_live is not None:
            on_live(self.live(), [])

    def close(self) -> tuple[str, ...]:
        """The rows left (a last unterminated line, rows still live); the splitter is empty
        after."""
        lines = self.terminal.feed(self._decoder.decode(b"", final=True))
        return lines + self.terminal.close()

    def take_markers(self) -> list[str]:
        return self.terminal.take_markers()


class LineEvents:
    """Hands what a :class:`LineSplitter` or :class:`Terminal` returned to ``emit`` as events:
    ``LogLines`` for finished lines, ``LiveLines`` when the live rows changed, and a
    ``StageChanged`` for each stage marker of the runtime (``stage=upload;state=running``)."""

    def __init__(self, emit: Callable[[object], None], source: str = ""):
        self._emit = emit
        self._source = source
        self._live: tuple[str, ...] = ()

    def __call__(self, lines: tuple[str, ...], live: tuple[str, ...] = (), markers=()) -> None:
        self.lines(lines)
        self.live(live, markers)

    def lines(self, lines) -> None:
        if lines:
            self._emit(ev.LogLines(tuple(lines), self._source))

    def live(self, live: tuple[str, ...], markers=()) -> None:
        if live != self._live:
            self._live = live
            self._emit(ev.LiveLines(live, self._source))
        for marker in markers:
            event = marker_event(marker, self._source)
            if event is not None:
                self._emit(event)


def marker_event(marker: str, source: str = ""):
    """The event of a runtime marker, or None: a stage (``stage=upload;state=done;seconds=0.4``),
    a part of a display (``display=ID;part=1;of=3;data=...``: :mod:`fairing_magics.displays`), a
    notice (``notice=TEXT;level=warning``, the text percent-encoded)."""
    fields = dict(part.partition("=")[::2] for part in marker.split(";") if "=" in part)
    if "display" in fields and "data" in fields:
        try:
            part, count = int(fields.get("part", "")), int(fields.get("of", ""))
        except ValueError:
            return None
        return ev.DisplayPart(fields["display"], part, count, fields["data"], source)
    if "notice" in fields:
        from urllib.parse import unquote

        level = fields.get("level", "")
        level = level if level in ("info", "warning", "error") else "warning"
        return ev.Notice(unquote(fields["notice"]), level, source)
    if "stage" in fields and fields.get("state") in ("running", "done", "failed"):
        try:
            seconds = float(fields.get("seconds") or 0.0)
        except ValueError:
            seconds = 0.0
        return ev.StageChanged(fields["stage"], fields["state"], seconds, fields.get("detail", ""))
    return None
