"""The Bundle: what a captured cell becomes, and how it is laid out on disk.

A bundle is self-contained: a fresh Python (a subprocess, or a container with only the stdlib and
cloudpickle besides the pinned requirements) runs it with the bootstrap it carries::

    bundle/
      fairing_manifest.json   what is inside: names, outputs, python version, requirements, digest,
                              and how main.py runs (its parts, under the kernel's file names)
      main.py                 the readable program: imports, definitions, then the cell
      values.pkl              ONE cloudpickle of every value the program uses, the live state of
                              its definitions and the library settings (so sharing survives)
      requirements.txt        pinned third-party packages (dist==version), one a line
      files/...               local modules, files the code names and --include files, by their
                              path relative to the notebook's working folder
      fairing_bootstrap.py    the runtime (stdlib + cloudpickle): loads values, runs main.py
      fairing_settings.py     the library-settings table the bootstrap restores from
      fairing_shell.py        IPython's {expr}/$name expansion of !cmd lines, without IPython
      fairing_storage_upload.py  uploads the output folder when FAIRING_STORAGE is s3:// (boto3)
      fairing_live.py         log_metric, live progress frames, stage markers (stdlib)
      fairing_frames.py       saves the failing frames' variables when the program raises
      fairing_display.py      display(), the final value, matplotlib figures to the kernel (stdlib)

The :class:`Bundle` value is pure data; :func:`write_bundle` is the only function here that
touches the disk. The same bundle gives byte-identical files and the same :attr:`Bundle.digest`;
what varies with the kernel and its folder travels beside it, in :attr:`Bundle.runtime_env`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

MANIFEST_NAME = "fairing_manifest.json"
MAIN_NAME = "main.py"
BOOTSTRAP_NAME = "fairing_bootstrap.py"
STORAGE_UPLOAD_NAME = "fairing_storage_upload.py"
LIVE_NAME = "fairing_live.py"
FRAMES_NAME = "fairing_frames.py"
DISPLAY_NAME = "fairing_display.py"
REQUIREMENTS_NAME = "requirements.txt"
SETTINGS_NAME = "fairing_settings.py"
SHELL_NAME = "fairing_shell.py"
PICKLE_NAME = "values.pkl"
FILES_DIR = "files"
FORMAT_VERSION = 2
_OUTSIDE_DIGEST = (MANIFEST_NAME,)


@dataclass(frozen=True)
class ValueInfo:
    """One value the program needs: its name, type and pickled size in bytes."""

    name: str
    type_name: str
    size: int
    as_source: bool = False  # written into main.py as a literal instead of pickled


@dataclass(frozen=True)
class PackageInfo:
    """A third-party import and the distribution that provides it."""

    import_name: str
    dist: str
    version: str
    reproducible: bool = True  # False for editable or local installs
    note: str = ""


@dataclass(frozen=True)
class CaptureReport:
    """What was captured, for a person to read: in the panel and printed by ``--dry-run``."""

    source: str = ""
    values: tuple[ValueInfo, ...] = ()
    files: tuple[tuple[str, int], ...] = ()
    packages: tuple[PackageInfo, ...] = ()
    notes: tuple[str, ...] = ()
    python: str = ""
    imports: tuple[str, ...] = ()  # import statements main.py starts with
    definitions: tuple[str, ...] = ()  # notebook functions/classes shipped as source, in order
    settings: tuple[str, ...] = ()  # library settings carried (see runtime/settings.py)
    carried: tuple[str, ...] = ()  # live state of definitions carried instead of rebuilt

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the cell takes from the kernel (imports, definitions, values), sorted."""
        bound = set(self.definitions) | {value.name for value in self.values}
        for statement in self.imports:
            last = statement.split(" as ")[-1] if " as " in statement else statement.split()[-1]
            bound.add(last.split(".")[0])
        return tuple(sorted(bound))

    def render_text(self) -> str:
        """The report as plain text, sections in a fixed order."""
        lines = [f"Capture report (Python {self.python})"]
        lines.append("  Source:")
        lines.extend("    " + line for line in self.source.rstrip("\n").splitlines())
        lines.append("  Values:" + ("" if self.values else " none"))
        for value in self.values:
            how = "as source" if value.as_source else "pickled"
            lines.append(f"    {value.name}: {value.type_name}, {_human_size(value.size)} ({how})")
        lines.append("  Files:" + ("" if self.files else " none"))
        for path, size in self.files:
            lines.append(f"    {path} ({_human_size(size)})")
        if self.settings:
            lines.append("  Library settings: " + ", ".join(self.settings))
        if self.carried:
            lines.append("  Live state carried:")
            lines.extend("    " + item for item in self.carried)
        lines.append("  Packages:" + ("" if self.packages else " none"))
        for pkg in self.packages:
            flag = "" if pkg.reproducible else "  [not reproducible: " + (pkg.note or "local install") + "]"
            lines.append(f"    {pkg.import_name} -> {pkg.dist}=={pkg.version}{flag}")
        if self.notes:
            lines.append("  Notes:")
            lines.extend("    " + note for note in self.notes)
        return "\n".join(lines)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


@dataclass(frozen=True)
class Bundle:
    """A captured cell, ready to run anywhere Python runs.

    ``values`` names the values held by ``pickle`` (one cloudpickle of a dict with the values,
    the live state of definitions and the library settings); ``files`` maps POSIX paths
    (relative to the notebook's working folder) to their bytes. ``program`` says how the
    bootstrap runs main.py: its parts, the kernel's file name and first line of each, where the
    pickle loads. ``runtime_env`` is what the job gets in its environment, not its files: the
    kernel's cell folder and execution counts (new with every kernel start and every run of a
    cell), the kernel's folder and the hashes of its paths (new with every file written there).
    It stays out of the members, so the digest, the image and the ``--cache`` key stay the same.
    """

    source: str
    values: tuple[str, ...] = ()
    pickle: bytes = b""
    files: Mapping[str, bytes] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    python: str = ""
    program: Mapping = field(default_factory=dict)
    runtime_env: Mapping[str, str] = field(default_factory=dict, compare=False)
    report: CaptureReport = field(default_factory=CaptureReport, compare=False)
    #: Values each run is given instead of capturing them (a sweep's parameters): name -> type
    #: (``float``, ``int``, ``bool``, ``str``); the runtime reads ``FAIRING_PARAM_<name>``.
    parameters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # {name: pickle bytes}, one pickle per value, is accepted too: the pickles are joined
        # in name order into the one stream the bootstrap reads value after value.
        if isinstance(self.values, Mapping):
            names = tuple(sorted(self.values))
            object.__setattr__(self, "pickle", b"".join(self.values[n] for n in names))
            object.__setattr__(self, "values", names)

    @cached_property
    def manifest(self) -> dict:
        """The manifest as a dict (also written as ``fairing_manifest.json``)."""
        return {
            "format": FORMAT_VERSION,
            "python": self.python,
            "outputs": list(self.outputs),
            "values": list(self.values),
            "pickle": PICKLE_NAME if self.pickle else "",
            "files": sorted(self.files),
            "requirements": list(self.requirements),
            "program": dict(self.program),
            # only when there are some: a bundle without parameters keeps its digest
            **({"parameters": dict(self.parameters)} if self.parameters else {}),
        }

    def members(self) -> dict[str, bytes]:
        """Every file of the bundle as {relative POSIX path: bytes}, the bootstrap included."""
        out: dict[str, bytes] = {
            MAIN_NAME: self.source.encode("utf-8"),
            REQUIREMENTS_NAME: "".join(r + "\n" for r in self.requirements).encode("utf-8"),
            BOOTSTRAP_NAME: bootstrap_source(),
            SETTINGS_NAME: runtime_source("settings.py"),
            SHELL_NAME: runtime_source("shell.py"),
            STORAGE_UPLOAD_NAME: runtime_source("storage_upload.py"),
            LIVE_NAME: runtime_source("live.py"),
            FRAMES_NAME: runtime_source("frames.py"),
            DISPLAY_NAME: runtime_source("display.py"),
        }
        if self.pickle:
            out[PICKLE_NAME] = self.pickle
        for path, data in self.files.items():
            out[f"{FILES_DIR}/{path}"] = data
        body = dict(self.manifest)
        body["digest"] = self._content_digest(self._digested(out))
        out[MANIFEST_NAME] = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")
        return dict(sorted(out.items()))

    @staticmethod
    def _content_digest(members: Mapping[str, bytes]) -> str:
        h = hashlib.sha256()
        for path in sorted(members):
            data = members[path]
            h.update(path.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0")
            h.update(data)
        return "sha256:" + h.hexdigest()

    @cached_property
    def digest(self) -> str:
        """``sha256:...`` of the bundle's content; keys the build caches and labels the image."""
        return self._content_digest(self._digested(self.members()))

    def _digested(self, members: Mapping[str, bytes]) -> dict[str, bytes]:
        """What the digest covers: the members, less the manifest, plus how
        main.py runs (its parts and their kernel file names) and the outputs."""
        out = {k: v for k, v in members.items() if k not in _OUTSIDE_DIGEST}
        out["<program>"] = json.dumps([self.program, list(self.outputs)], sort_keys=True).encode("utf-8")
        if self.parameters:  # the manifest is not hashed: a sweep's parameter types must be
            out["<parameters>"] = json.dumps(dict(self.parameters), sort_keys=True).encode()
        return out

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.members().values())


def runtime_source(name: str) -> bytes:
    """A file of ``fairing_magics/runtime/``, shipped inside every bundle."""
    return (Path(__file__).resolve().parent.parent / "runtime" / name).read_bytes()


def bootstrap_source() -> bytes:
    """The runtime's bootstrap script, shipped inside every bundle."""
    return runtime_source("bootstrap.py")


def write_bundle(bundle: Bundle, folder: str | os.PathLike) -> Path:
    """Write ``bundle`` into ``folder`` (created if needed) and return its path."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in bundle.members().items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root
