"""Files the code names: shipped with the bundle when they are in the notebook's folder.

``pd.read_csv('data/president_heights.csv')``, ``np.load("x.npz")``, ``!head data.csv``: a
string literal in the cell (or in a captured definition, or a shell command's words) that names
an existing file or folder under the notebook's working folder (a relative path, or an
absolute one inside it) is shipped, up to ``limit`` bytes in all, and listed in the capture
report. Above the limit the report says to use ``--include`` or storage.

:func:`path_hints` lists hashes of the working folder's paths (bounded) for the job: a
FileNotFoundError there for a path the kernel's folder has says so and names ``--include``.
They reach the job in its environment (:func:`path_hints_env`), never in the bundle or its
image: they change whenever a file appears in the folder (a run's own outputs, an executed
notebook), and the same cell and inputs must give the same image and ``--cache`` key.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from fairing_magics.capture.files import SKIPPED_DIRS

MAX_HINT_PATHS = 2000
# Bytes of sha256 kept per path: with a full folder, a missing path matches one by chance once
# in two million, and the environment variable stays under 11 kB.
HINT_BYTES = 4
KERNEL_FOLDER_ENV = "FAIRING_KERNEL_FOLDER"  # the kernel's working folder (absolute paths)
KERNEL_PATHS_ENV = "FAIRING_KERNEL_PATHS"  # base64 of the sorted path hashes
_MAX_STRING = 4096


@dataclass
class NamedFiles:
    """What :func:`collect_named_files` found: files to ship, notes, and whether any path was
    written as an absolute path inside the working folder."""

    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    absolute: bool = False


def path_candidates(tree: ast.AST) -> tuple[str, ...]:
    """The strings of ``tree`` that may name a file (and a shell command's words)."""
    return tuple(dict.fromkeys(_candidates(tree)))


@lru_cache(maxsize=4096)
def source_path_candidates(source: str) -> tuple[str, ...]:
    """:func:`path_candidates` of a definition's source (cached by text)."""
    return path_candidates(ast.parse(source))


def _candidates(tree: ast.AST) -> Iterable[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if not text or len(text) > _MAX_STRING or "\n" in text.strip("\n"):
                if "\n" in text.strip("\n") and len(text) <= _MAX_STRING:
                    yield from _words(text)  # a %%bash body: its words
                continue
            yield text
            if " " in text:
                yield from _words(text)  # a shell command: its words


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def _inside(path: Path, cwd: Path) -> str | None:
    try:
        rel = path.relative_to(cwd)
    except ValueError:
        return None
    parts = rel.parts
    if not parts or any(p in SKIPPED_DIRS or p in ("site-packages", "dist-packages") for p in parts):
        return None
    return rel.as_posix()


def _folder_files(folder: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        found.extend(Path(root) / n for n in sorted(names))
    return found


def collect_named_files(candidates: Iterable[str], cwd: Path, limit: int,
                        already: Iterable[str] = ()) -> NamedFiles:
    """Files and folders under ``cwd`` named by the strings ``candidates`` (see above)."""
    result = NamedFiles()
    seen: set[str] = set(already)
    total = 0
    wanted: dict[str, Path] = {}
    for text in dict.fromkeys(candidates):
        if "\0" in text or text in (".", "./", "/"):
            continue
        raw = Path(os.path.expanduser(text))
        path = raw if raw.is_absolute() else cwd / raw
        try:
            if not path.exists():
                continue
            resolved = path.resolve()
        except (OSError, ValueError):
            continue
        rel = _inside(resolved, cwd)
        if rel is None or rel in wanted:
            continue
        wanted[rel] = resolved
        result.absolute |= raw.is_absolute()
    for rel, path in sorted(wanted.items()):
        members = [path] if path.is_file() else _folder_files(path) if path.is_dir() else []
        sizes = []
        for member in members:
            member_rel = _inside(member.resolve(), cwd) if not member.is_symlink() else _inside(member, cwd)
            if member_rel is None or member_rel in seen or not member.is_file():
                continue
            sizes.append((member_rel, member, member.stat().st_size))
        size = sum(s for _, _, s in sizes)
        if not sizes:
            continue
        if total + size > limit:
            result.notes.append(
                f"{rel} ({size:,} bytes) is named by the code but left out: it would take the files "
                f"named this way over {limit:,} bytes; add --include {rel}, or put it in storage "
                "(--storage) and read it from there")
            continue
        total += size
        for member_rel, member, _ in sizes:
            result.files[member_rel] = member.read_bytes()
            seen.add(member_rel)
        result.notes.append(f"{rel}: shipped because the code names it ({size:,} bytes)")
    return result


def path_hash(rel: str) -> bytes:
    """The short hash a job compares a missing path's name with (its folder-relative POSIX
    path); the bootstrap computes the same."""
    return hashlib.sha256(rel.encode("utf-8")).digest()[:HINT_BYTES]


def path_hints_env(cwd: Path) -> dict[str, str]:
    """The job's environment that tells it the kernel's folder and :func:`path_hints`."""
    hashes = base64.b64encode(b"".join(path_hints(cwd))).decode("ascii")
    return {KERNEL_FOLDER_ENV: str(cwd), KERNEL_PATHS_ENV: hashes}


def path_hints(cwd: Path) -> tuple[bytes, ...]:
    """Hashes of the files and folders under ``cwd`` (at most :data:`MAX_HINT_PATHS`, sorted).

    Kept for the folder's modification time (hints only: a file added deeper down since is
    missed until the folder itself changes), so repeated captures do not walk the folder again.
    """
    try:
        stamp = cwd.stat().st_mtime_ns
    except OSError:
        return ()
    cached = _HINTS.get(str(cwd))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    hints = _walk_hints(cwd)
    _HINTS[str(cwd)] = (stamp, hints)
    return hints


_HINTS: dict[str, tuple[int, tuple[bytes, ...]]] = {}


def _walk_hints(cwd: Path) -> tuple[bytes, ...]:
    hashes = []
    for root, dirs, names in os.walk(cwd):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        base = Path(root).relative_to(cwd)
        for name in [*dirs, *sorted(names)]:
            hashes.append(path_hash((base / name).as_posix()))
            if len(hashes) >= MAX_HINT_PATHS:
                return tuple(sorted(hashes))
    return tuple(sorted(hashes))
