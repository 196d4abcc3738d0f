"""Progress bars recognised in a run's output: tqdm (and Lightning, which draws with tqdm or
rich), Keras 2 and Keras 3 progbars. :func:`parse_progress` reads one frame (a live row) and
says how far it got, how fast, and how long is left. Pure; no I/O.
"""

from __future__ import annotations

import re

from fairing_magics.ansi import strip_ansi
from fairing_magics.events import RunProgress

_NUMBER = r"[\d.]+[kMGTP]?"
# tqdm: "desc:  45%|████▌     | 45/100 [00:04<00:05, 10.20it/s, loss=0.3]"
_TQDM = re.compile(rf"(?:^|\s)(?P<pct>\d{{1,3}})%\|[^|]*\|\s*(?P<n>{_NUMBER})/(?P<total>{_NUMBER})"
                   r"\s*\[(?P<elapsed>[^<\]]*)<(?P<eta>[^,\]]*)(?:,\s*(?P<rate>[^,\]]*))?")
# tqdm without a total: "desc: 45it [00:04, 10.20it/s]"
_TQDM_OPEN = re.compile(rf"(?:^|:\s)(?P<n>{_NUMBER})(?P<unit>[a-zA-Z]+)"
                        r"\s+\[(?P<elapsed>[\d:]+),\s*(?P<rate>[^,\]]+)")
# Keras 2: "45/100 [=====>........] - ETA: 5s - loss: 0.3"
_KERAS2 = re.compile(r"^\s*(?P<n>\d+)/(?P<total>\d+)\s*\[[=>.]*\]"
                     r"(?:\s*-\s*ETA:\s*(?P<eta>[\d:hms]+))?")
# Keras 3: "45/100 ━━━━━━━━╺━━━━━━━━━━━ 5s 50ms/step - loss: 0.3"
_KERAS3 = re.compile(r"^\s*(?P<n>\d+)/(?P<total>\d+)\s+[━╸╺─]+"
                     r"\s+(?P<time>[\d:hms]+)?\s*(?P<rate>\S+/step)?")
# rich (Lightning's RichProgressBar): "Epoch 1/9 ━━━━━━━━━━ 31/62 0:00:01 • 0:00:02 29.79it/s"
_RICH = re.compile(r"(?P<n>\d+)/(?P<total>\d+)\s+(?P<elapsed>\d+:\d\d:\d\d)"
                   r"\s*•\s*(?P<eta>[\d:-]+)\s*(?P<rate>\S+/s)?")
_LABEL = re.compile(r"^\s*(?P<label>[^|%]*?):\s*\d{1,3}%\|")
_UNITS = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def _number(text: str) -> float:
    if text and text[-1] in _UNITS:
        return float(text[:-1]) * _UNITS[text[-1]]
    return float(text)


def parse_seconds(text: str | None) -> float | None:
    """``00:05``, ``1:02:03``, ``5s``, ``250ms``, ``1h02m`` -> seconds; None when unknown
    (``?``)."""
    if not text:
        return None
    text = text.strip()
    try:
        if ":" in text:
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
            return seconds
        total, number = 0.0, ""
        found = False
        i = 0
        while i < len(text):
            ch = text[i]
            if ch.isdigit() or ch == ".":
                number += ch
            elif text.startswith("ms", i) and number:
                total += float(number) / 1000
                number, found = "", True
                i += 1
            elif ch in "hms" and number:
                total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
                number, found = "", True
            else:
                return None
            i += 1
        return total if found else None
    except ValueError:
        return None


def parse_progress(line: str, source: str = "") -> RunProgress | None:
    """The progress a frame shows, or None when ``line`` is not a progress bar."""
    if "/" not in line and "it [" not in line:
        return None
    if "\x1b" in line:
        line = strip_ansi(line)  # a coloured description must not bring its escapes along
    if "%|" in line:
        match = _TQDM.search(line)
        if match:
            try:
                done, total = _number(match["n"]), _number(match["total"])
            except ValueError:
                return None
            label = _LABEL.match(line)
            return RunProgress(done, total, source, parse_seconds(match["eta"]),
                               (match["rate"] or "").strip(),
                               label["label"].strip() if label else "")
    if "[" in line:
        match = _KERAS2.match(line)
        if match:
            done, total = float(match["n"]), float(match["total"])
            eta = parse_seconds(match["eta"]) if match["eta"] else (0.0 if done >= total else None)
            return RunProgress(done, total, source, eta)
    if "━" in line or "╸" in line or "─" in line:
        match = _KERAS3.match(line)
        if match:
            done, total = float(match["n"]), float(match["total"])
            eta = 0.0 if done >= total else parse_seconds(match["time"])
            return RunProgress(done, total, source, eta, match["rate"] or "")
        match = _RICH.search(line)
        if match:
            label = line[:match.start()].strip(" ━╸╺─")
            return RunProgress(float(match["n"]), float(match["total"]), source,
                               parse_seconds(match["eta"]), match["rate"] or "", label)
    if "it [" in line or "s [" in line:
        match = _TQDM_OPEN.search(line)
        if match:
            try:
                return RunProgress(_number(match["n"]), 0.0, source, None, match["rate"].strip())
            except ValueError:
                return None
    return None


def progress_of(rows, source: str = "") -> RunProgress | None:
    """The progress shown by a run's live rows: the outermost bar (the first that is one)."""
    for row in rows:
        found = parse_progress(row, source)
        if found is not None:
            return found
    return None
