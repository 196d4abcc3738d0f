"""Finding the source of notebook functions and classes in the kernel's input history.

A function or class defined in the notebook lives in ``__main__``; pickled by reference it
would be missing in the container, and pickled by value it is unreadable. So we ship its
source: the *latest* top-level ``def``/``class`` of that name in the input history (later
definitions replace earlier ones, as they did in the kernel), decorators included, methods and
nested helpers along with it.

Scanning is cheap: :func:`index_definitions` lists, with one regular expression per cell
(cached by cell text), which cells may define which names; only candidate cells are parsed,
newest first (and parsing is cached per cell text, see :func:`.syntax.to_python`).
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from fairing_magics.capture.syntax import to_python

SKIPPED_CELL_MAGICS = ("%%fairing_train",)


@dataclass(frozen=True)
class Definition:
    """A ``def`` or ``class`` found in the history: its name, source and position."""

    name: str
    kind: str  # "def" | "class"
    source: str
    cell_index: int
    line: int
    notes: tuple[str, ...] = ()  # IPython syntax changed inside it


_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)", re.M)


@lru_cache(maxsize=8192)
def _names_defined_in(cell: str) -> frozenset[str]:
    """Names a cell may define with def/class (a quick scan; parsing confirms)."""
    return frozenset(_DEFINES.findall(cell))


def index_definitions(cells: Sequence[str]) -> dict[str, list[int]]:
    """{name: indexes of the cells that may define it with def/class, oldest first}."""
    index: dict[str, list[int]] = {}
    for position, cell in enumerate(cells):
        for name in _names_defined_in(cell):
            index.setdefault(name, []).append(position)
    return index


def _top_level_definitions(tree: ast.Module):
    """def/class statements at module level, also inside top-level if/try/with blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
        elif isinstance(node, (ast.If, ast.With, ast.AsyncWith)):
            stack.extend(node.body)
            stack.extend(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            stack.extend(node.body)
            for handler in node.handlers:
                stack.extend(handler.body)
            stack.extend(node.orelse)
            stack.extend(node.finalbody)


def usable_cells(history: Sequence[str]) -> list[str]:
    """History cells that ran in the kernel (``%%fairing_train`` cells ran elsewhere)."""
    return [cell for cell in history if not cell.lstrip().startswith(SKIPPED_CELL_MAGICS)]


def find_definition(name: str, kind: str, cells: Sequence[str], line: int | None = None,
                    index: dict[str, list[int]] | None = None) -> Definition | None:
    """The latest top-level definition of ``name`` of ``kind`` ("def" or "class") in ``cells``.

    When a cell defines the name more than once (``if``/``else`` branches), ``line`` (the
    function's ``co_firstlineno``, if known) picks the one that ran; otherwise the last wins.
    """
    wanted = (ast.ClassDef,) if kind == "class" else (ast.FunctionDef, ast.AsyncFunctionDef)
    if index is None:
        index = index_definitions(cells)
    for position in reversed(index.get(name, ())):
        cell = cells[position]
        try:
            python = to_python(cell)
        except Exception:  # noqa: BLE001 - a cell that never ran defines nothing
            continue
        candidates = [node for node in _top_level_definitions(python.tree) if node.name == name]
        if not candidates:
            continue
        found = candidates[-1]  # the last one in the cell wins, as it did in the kernel
        if line is not None and len(candidates) > 1:
            for node in candidates:
                if min([node.lineno, *(d.lineno for d in node.decorator_list)]) == line:
                    found = node
        if not isinstance(found, wanted):
            return None  # the latest definition is of another kind: not what the kernel holds
        first = min([found.lineno, *(d.lineno for d in found.decorator_list)])
        lines = python.text.splitlines()[first - 1: found.end_lineno]
        source = textwrap.dedent("\n".join(lines)) + "\n"
        notes = python.notes_between(first, found.end_lineno)
        return Definition(name, kind, source, position, first, notes)
    return None
