"""Files a bundle carries: local modules (followed transitively) and ``--include`` paths.

A *local module* is one whose file lies under the notebook's working folder (and not in a
virtual environment there). The runtime copies ``files/`` into its working folder and puts that
folder first on ``sys.path``, so a local module is stored at its path relative to the working
folder and imports the same way. Each local module's own imports are followed: local ones are
included in turn, third-party ones become requirements. A local package's data files (anything
in its folders that is not Python, read next to its ``__file__``) ship with it, up to the same
size limit as the files the code names.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fairing_magics.capture.requirements import is_stdlib
from fairing_magics.errors import CaptureError

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints", ".venv", "venv",
                          ".mypy_cache", ".pytest_cache", "node_modules"})


@dataclass
class LocalFiles:
    """What :func:`collect_local_modules` found."""

    files: dict[str, bytes] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)  # local module names
    third_party: set[str] = field(default_factory=set)  # non-local, non-stdlib imports they make
    notes: list[str] = field(default_factory=list)


def _module_file(name: str) -> Path | None:
    """The file of module ``name``, without importing it (the cell may import it first)."""
    module = sys.modules.get(name)
    if module is not None:
        path = getattr(module, "__file__", None)
        return Path(path).resolve() if path else None
    top, _, rest = name.partition(".")
    if top in sys.modules and rest:
        parent = sys.modules[top]
        locations = list(getattr(parent, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError, AttributeError):
            return None
        if spec is None:
            return None
        if not rest:
            return Path(spec.origin).resolve() if spec.has_location and spec.origin else None
        locations = list(spec.submodule_search_locations or [])
    # a submodule of a package that is not imported yet: look for its file
    parts = rest.split(".")
    for location in locations:
        base = Path(location).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.resolve()
    return None


def local_path(name: str, cwd: Path) -> Path | None:
    """The file of module ``name`` when it lives under ``cwd`` (a local module), else None."""
    path = _module_file(name)
    if path is None or path.suffix != ".py":
        return None
    try:
        rel = path.relative_to(cwd)
    except ValueError:
        return None
    if any(part in ("site-packages", "dist-packages") or part in SKIPPED_DIRS
           for part in rel.parts):
        return None
    return path


def _imports_of(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base:
                continue
            found.add(base)
            for alias in node.names:
                if alias.name != "*":
                    found.add(base + "." + alias.name)  # maybe a submodule; checked when followed
    return found


def _package_data(package_dir: Path, cwd: Path) -> dict[str, Path]:
    """Non-Python files in a local package's own folder tree (sub-packages have their own)."""
    found: dict[str, Path] = {}
    for root, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.endswith((".py", ".pyc", ".pyo")):
                continue
            path = Path(root) / name
            if path.is_file():
                found[path.relative_to(cwd).as_posix()] = path
    return found


def collect_local_modules(modules: Iterable[str], cwd: Path, data_limit: int = 0) -> LocalFiles:
    """Local modules among ``modules`` and everything local they import, as files; with the
    data files of local packages while they fit in ``data_limit`` bytes."""
    result = LocalFiles()
    package_data: dict[str, Path] = {}
    queue = sorted(set(modules))
    seen: set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        path = local_path(name, cwd)
        if path is None:
            parent = name.rpartition(".")[0]
            if parent and parent in seen and parent in result.modules:
                continue  # "from pkg import attribute": not a submodule
            if not is_stdlib(name) and name.split(".")[0] not in {m.split(".")[0]
                                                                  for m in result.modules}:
                result.third_party.add(name.split(".")[0])
            continue
        result.modules.add(name)
        rel = path.relative_to(cwd).as_posix()
        expected = name.replace(".", "/") + ("/__init__.py" if path.name == "__init__.py"
                                             else ".py")
        if rel != expected:
            result.notes.append(
                f"local module {name} is {rel}; the runtime imports from the working folder, "
                "so it may not be found there"
            )
        data = path.read_bytes()
        result.files[rel] = data
        if path.name == "__init__.py" and "." not in name:  # a top-level local package
            package_data.update(_package_data(path.parent, cwd))
        # parent packages must come along for "import pkg.sub" to work
        parts = name.split(".")
        for depth in range(1, len(parts)):
            queue.append(".".join(parts[:depth]))
        try:
            tree = ast.parse(data, filename=str(path))
        except SyntaxError:
            result.notes.append(f"local module {rel} has a syntax error; included as is")
            continue
        queue.extend(sorted(_imports_of(tree, name, path.name == "__init__.py") - seen))
    total = 0
    for rel, file in sorted(package_data.items()):
        size = file.stat().st_size
        if total + size > data_limit:
            result.notes.append(f"{rel}: package data left out ({size:,} bytes would go over the "
                                f"{data_limit:,}-byte limit for files); add --include {rel}")
            continue
        total += size
        result.files[rel] = file.read_bytes()
    if package_data and total:
        result.notes.append(f"package data of local packages shipped ({total:,} bytes)")
    # a dotted name whose parent turned out local is not third-party
    result.third_party = {m for m in result.third_party
                          if m not in {x.split(".")[0] for x in result.modules}}
    return result


def collect_includes(paths: Sequence[str], cwd: Path) -> dict[str, bytes]:
    """``--include`` files and folders (relative to ``cwd``) as {posix path: bytes}."""
    files: dict[str, bytes] = {}
    for raw in paths:
        path = (cwd / raw).resolve()
        if not path.exists():
            raise CaptureError(f"--include {raw}: no such file or folder in {cwd}; check the path.")
        try:
            base = cwd
            path.relative_to(cwd)
        except ValueError:
            base = path.parent  # outside the working folder: stored under its own name
        if path.is_file():
            files[path.relative_to(base).as_posix()] = path.read_bytes()
            continue
        for item in sorted(path.rglob("*")):
            rel = item.relative_to(base)
            if any(part in SKIPPED_DIRS for part in rel.parts) or not item.is_file():
                continue
            files[rel.as_posix()] = item.read_bytes()
    return files
