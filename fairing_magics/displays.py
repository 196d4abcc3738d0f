"""The rich outputs of a run in the kernel: displays put together, checked, kept and listed.

The runtime (:mod:`fairing_magics.runtime.display`, ``fairing_display.py`` in the bundle) sends
each ``display()``, figure and the cell's final value as a message cut into invisible markers in
the program's output; every backend hands those to the run as
:class:`~fairing_magics.events.DisplayPart` events, through the same path as the log (the log
stream is the transport on every backend: a local pipe, a container's log, a pod's log). The
run's :class:`DisplayCollector` puts the parts together and makes each a :class:`Display`:

- the caps are checked again here (``display_limit`` per display, ``displays_limit`` per run):
  what is over is left out with a notice, also when the runtime did not check;
- no credentials are kept: the text forms (HTML, markdown, JSON, SVG, plain text) are masked as
  log lines are (:func:`~fairing_magics.errors.redact`) and an image whose bytes hold a
  credential (:func:`~fairing_magics.secrets_scan.find_credentials`) is left out;
- each is saved in the run folder as ``displays/NNN.json`` (an nbformat output with its
  ``kind`` and ``source``), a figure or image also as ``displays/NNN.png`` (or ``.svg``,
  ``.jpg``), ``NNN-<replica>.*`` for a replica's; ``run.displays`` lists them.

The final value itself (not only its display) comes back as ``result.pkl`` through the run's
output folder (``run.result``: :func:`load_result`).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fairing_magics import events as ev
from fairing_magics.errors import redact
from fairing_magics.runtime.display import (
    BINARY_TYPES,
    DISPLAY_LIMIT,
    DISPLAYS_DIR,
    DISPLAYS_ENV,
    DISPLAYS_LIMIT,
    RESULT_FILE,  # noqa: F401 - re-exported: where the final value comes back
    RESULT_LIMIT,
    STREAM,
    bundle_size,
    decode_message,
    human_size,
)
from fairing_magics.secrets_scan import find_credentials

KINDS = ("display", "figure", "result")
OUTPUTS_FROM = ("chief", "all")
IMAGE_FILES = {"image/png": "png", "image/svg+xml": "svg", "image/jpeg": "jpg"}
_BASE64_SLACK = 4 / 3 + 0.05  # parts carry zlib'd base64: never much more than the data itself


@dataclass(frozen=True)
class Display:
    """One rich output of a run. Shown in a notebook it renders as it would have in the kernel
    (``run.displays[-1]``); ``files`` are where it is saved in the run folder."""

    index: int  # 1, 2, ... in the order the run made them
    kind: str  # "display", "figure" or "result" (the cell's final value)
    data: Mapping[str, Any]  # mime type -> value (binary types base64 text, as in nbformat)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # the replica that made it, on a run of several
    display_id: str = ""
    files: tuple[str, ...] = ()  # NNN.json first, then the image file if any
    time: float = 0.0

    @property
    def text(self) -> str:
        """The ``text/plain`` form."""
        value = self.data.get("text/plain", "")
        return value if isinstance(value, str) else json.dumps(value)

    @property
    def image(self) -> Path | None:
        """The saved image file (``.png``, ``.svg``, ``.jpg``), or None."""
        return next((Path(f) for f in self.files if not f.endswith(".json")), None)

    def output(self, execution_count: int | None = None) -> dict:
        """This display as an nbformat output (``execute_result`` for the final value)."""
        out: dict = {"output_type": "display_data", "data": dict(self.data),
                     "metadata": dict(self.metadata)}
        if self.kind == "result":
            out["output_type"] = "execute_result"
            out["execution_count"] = execution_count
        return out

    def placeholder(self) -> str:
        """One line for text views: what it is, where it is saved."""
        where = f"[{self.source}] " if self.source else ""
        if self.image is not None:
            what = {"figure": "figure", "result": "value"}.get(self.kind, "image")
            return f"{where}{what} {self.index}: {self.image}"
        lines = self.text.splitlines() or [""]
        more = f" … ({len(lines)} lines: run.displays)" if len(lines) > 1 else ""
        label = "value" if self.kind == "result" else "display"
        return f"{where}{label} {self.index}: {lines[0][:120]}{more}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {k: v for k, v in self.data.items()
                if (not include or k in include) and (not exclude or k not in exclude)}
        return data, dict(self.metadata)

    def __repr__(self) -> str:
        where = f" from {self.source}" if self.source else ""
        return f"<Display {self.index} {self.kind} {', '.join(self.data)}{where}>"


class _Pending:
    def __init__(self, count: int):
        self.count = count
        self.parts: dict[int, str] = {}
        self.size = 0


class DisplayCollector:
    """Puts a run's display parts together (:meth:`add`) and keeps what they make (:meth:`shown`).
    Thread-safe: the followers of a run's replicas add from their own threads."""

    def __init__(self, folder: Path, *, display_limit: int = DISPLAY_LIMIT,
                 displays_limit: int = DISPLAYS_LIMIT):
        self.folder = Path(folder)
        self.display_limit = display_limit
        self.displays_limit = displays_limit
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._shown: list[Display] = []
        self._by_id: dict[tuple[str, str], int] = {}  # (source, display_id) -> position in _shown
        self._total = 0
        self._over_run_cap = False

    def shown(self) -> list[Display]:
        with self._lock:
            return list(self._shown)

    def add(self, part: ev.DisplayPart) -> list[object]:
        """Take one part; return the events it completes (a DisplayShown, notices)."""
        key = (part.source, part.display_id)
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                if part.count < 1:
                    return []
                pending = self._pending[key] = _Pending(part.count)
            if part.count != pending.count or not 1 <= part.part <= pending.count:
                del self._pending[key]
                return [self._notice(part.source, "a display was left out: its parts did not fit "
                                                  "together (the program's output was cut)")]
            if part.part not in pending.parts:
                pending.parts[part.part] = part.data
                pending.size += len(part.data)
            if pending.size > self.display_limit * _BASE64_SLACK + 65536:
                del self._pending[key]
                return [self._notice(part.source, f"a display of more than "
                                     f"{human_size(self.display_limit)} was left out: over the cap "
                                     "per display (%config FairingMagics.display_limit_mb)")]
            if len(pending.parts) < pending.count:
                return []
            del self._pending[key]
            text = "".join(pending.parts[i] for i in range(1, pending.count + 1))
        try:
            message = decode_message(text)
        except ValueError as exc:
            return [self._notice(part.source, f"a display was left out: {exc}")]
        return self._accept(message, part.source)

    # -- what a whole message becomes ----------------------------------------------------------
    def _accept(self, message: dict, source: str) -> list[object]:
        events: list[object] = []
        kind = message.get("kind") if message.get("kind") in KINDS else "display"
        data, metadata = message.get("data"), message.get("metadata") or {}
        if not isinstance(data, dict) or not isinstance(metadata, dict):
            return [self._notice(source, "a display was left out: it is not a mime bundle")]
        data, dropped = _clean(data)
        for mime in dropped:
            events.append(self._notice(source, f"a {mime} display held what looks like a "
                                               "credential and was left out"))
        if not data:
            return events
        size = bundle_size(data)
        display_id = str(message.get("display_id") or "")
        with self._lock:
            if size > self.display_limit:
                return events + [self._notice(
                    source, f"a {kind} of {human_size(size)} was left out: over the cap of "
                    f"{human_size(self.display_limit)} per display "
                    "(%config FairingMagics.display_limit_mb)")]
            if self._total + size > self.displays_limit:
                if self._over_run_cap:
                    return events
                self._over_run_cap = True
                return events + [self._notice(
                    source, f"displays over the run's cap of {human_size(self.displays_limit)} "
                    "are left out from here on (%config FairingMagics.displays_limit_mb)")]
            self._total += size
            position = self._by_id.get((source, display_id)) if display_id else None
            replaces = bool(message.get("update")) and position is not None
            index = self._shown[position].index if replaces else len(self._shown) + 1
            shown = Display(index=index, kind=kind, data=data, metadata=metadata, source=source,
                            display_id=display_id, time=float(message.get("time") or 0.0))
            shown = _save(self.folder / DISPLAYS_DIR, shown)
            if replaces:
                self._shown[position] = shown
            else:
                self._shown.append(shown)
                if display_id:
                    self._by_id[(source, display_id)] = len(self._shown) - 1
        return events + [ev.DisplayShown(shown, replaces)]

    @staticmethod
    def _notice(source: str, text: str) -> ev.Notice:
        return ev.Notice(text, "warning", source)


def _clean(data: dict) -> tuple[dict, list[str]]:
    """``data`` with credentials masked in its text forms; binary forms holding one dropped."""
    clean: dict = {}
    dropped: list[str] = []
    for mime, value in data.items():
        if not isinstance(mime, str):
            continue
        if mime in BINARY_TYPES:
            if not isinstance(value, str):
                continue
            try:
                raw = base64.b64decode(value, validate=False)
            except ValueError:
                continue
            if find_credentials(raw):
                dropped.append(mime)
                continue
            clean[mime] = value
        elif isinstance(value, str):
            clean[mime] = redact(value)
        else:
            text = json.dumps(value)
            masked = redact(text)
            if masked != text:
                value = json.loads(masked) if _is_json(masked) else masked
            clean[mime] = value
    if clean and "text/plain" not in clean:
        clean["text/plain"] = f"<{', '.join(clean)}>"
    return clean, dropped


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _save(folder: Path, shown: Display) -> Display:
    """Write ``shown`` to ``folder`` (``NNN.json``, and its image); the Display with its files."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{shown.index:03d}" + (f"-{_safe(shown.source)}" if shown.source else "")
    record = {"index": shown.index, "kind": shown.kind, "source": shown.source,
              "display_id": shown.display_id, "time": shown.time, **shown.output()}
    files = [folder / f"{stem}.json"]
    _write(files[0], (json.dumps(record, indent=1) + "\n").encode("utf-8"))
    image = next((m for m in IMAGE_FILES if m in shown.data), None)
    if image is not None:
        path = folder / f"{stem}.{IMAGE_FILES[image]}"
        body = shown.data[image]
        _write(path, base64.b64decode(body) if image in BINARY_TYPES else str(body).encode("utf-8"))
        files.append(path)
    return replace(shown, files=tuple(str(f) for f in files))


def _safe(source: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in source)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def read_displays(folder: Path) -> list[Display]:
    """The displays saved in a run folder (``displays/*.json``), in order; the latest version of
    one that was updated in place."""
    found: dict[tuple[int, str], Display] = {}
    for path in sorted((Path(folder) / DISPLAYS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        files = [str(path)] + [str(p) for p in path.parent.glob(path.stem + ".*")
                               if p.suffix != ".json"]
        found[(int(record.get("index", 0)), record.get("source", ""))] = Display(
            index=int(record.get("index", 0)), kind=record.get("kind", "display"),
            data=record.get("data") or {}, metadata=record.get("metadata") or {},
            source=record.get("source", ""), display_id=record.get("display_id", ""),
            files=tuple(files), time=float(record.get("time") or 0.0))
    return [found[key] for key in sorted(found)]


def load_result(data: bytes | None, notice) -> Any:
    """The cell's final value from ``result.pkl``'s bytes (None when there are none). A value that
    cannot be loaded here is None, and ``notice(text)`` says why."""
    if not data:
        return None
    import cloudpickle

    try:
        return cloudpickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - whatever stops the unpickling: no run.result
        notice(f"run.result is None: the cell's value could not be loaded here: "
               f"{type(exc).__name__}: {str(exc)[:200]}")
        return None


def _bytes(megabytes: float) -> int:
    return int(megabytes * 2**20)


def display_limits(settings) -> tuple[int, int]:
    """``(per display, per run)`` caps in bytes of ``settings``."""
    return _bytes(settings.display_limit_mb), _bytes(settings.displays_limit_mb)


def runtime_env(options, settings) -> dict[str, str]:
    """The environment that tells a run's runtime how to send its rich outputs and ``--outputs``:
    the same for every backend and in the dry run's YAML. Caps and formats appear only when they
    differ from the runtime's defaults."""
    env = {DISPLAYS_ENV: STREAM}
    for variable, megabytes, default in (
            ("FAIRING_DISPLAY_LIMIT", settings.display_limit_mb, DISPLAY_LIMIT),
            ("FAIRING_DISPLAYS_LIMIT", settings.displays_limit_mb, DISPLAYS_LIMIT),
            ("FAIRING_RESULT_LIMIT", settings.result_limit_mb, RESULT_LIMIT)):
        if _bytes(megabytes) != default:
            env[variable] = str(_bytes(megabytes))
    figures = getattr(options, "figure_format", "") or settings.figure_format
    if figures and figures != "png":
        env["FAIRING_FIGURE_FORMATS"] = figures
    if getattr(options, "outputs_from", "chief") == "all":
        env["FAIRING_OUTPUTS_FROM"] = "all"
    return env
