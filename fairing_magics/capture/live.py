"""State that lives in notebook functions and classes: carried from the kernel, not rebuilt.

main.py defines notebook functions and classes from their source, which rebuilds them as they
were when their cell ran. Some state has moved on since: a mutable default argument that
earlier calls filled, a decorator's cache or counter in a closure, a random generator given as
a default, a class attribute assigned after the class was made, a registry a base class keeps
of its subclasses. :func:`live_state` finds, for one definition, each piece whose live value
differs from what running the source again would give; the bootstrap puts those live values
back right after the definitions run (they travel in the one pickle, so they stay shared with
the values that refer to them).

"Differs" is decided from the source: a default or class attribute written as a literal is
carried only when its live value no longer equals that literal; anything else (a name, a call)
is carried, because running it again would make a new object.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass, field
from functools import lru_cache

_SKIPPED_ATTRIBUTES = ("__", "_abc_")


@dataclass
class LiveState:
    """What to put back into one definition: ``{"defaults": {i: v}, "kwdefaults": {k: v},
    "closure": {i: v}}`` for a function, ``{"attrs": {k: v}}`` for a class; ``notes`` say why."""

    patch: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _literal(node: ast.AST | None):
    """(True, value) when ``node`` is a literal expression, else (False, None)."""
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _rebuilt_by_source(value) -> bool:
    """Values that running the source gives back as they are: notebook functions and classes
    (defined from source too), modules, and immutable singletons."""
    if isinstance(value, types.ModuleType) or value is None or isinstance(value, (bool, type(...))):
        return True
    return (getattr(value, "__module__", None) == "__main__"
            and (isinstance(value, type) or callable(value)))


def _unchanged(node: ast.AST | None, value) -> bool:
    is_literal, literal = _literal(node)
    if not is_literal:
        return _rebuilt_by_source(value)
    try:
        return type(literal) is type(value) and bool(literal == value)
    except Exception:  # noqa: BLE001 - values that cannot compare are carried
        return False


@lru_cache(maxsize=4096)
def _definition_node(source: str, name: str):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.name == name):
            return node
    return None


def live_state(name: str, obj, source: str) -> LiveState:
    """The live state of the notebook function or class ``obj`` that its ``source`` would not
    rebuild (see the module docstring)."""
    node = _definition_node(source, name)
    state = LiveState()
    if node is None:
        return state
    if isinstance(node, ast.ClassDef):
        if type(obj) is type or type(obj).__name__ == "ABCMeta":  # metaclasses make their own state
            _class_state(name, obj, node, state)
    elif isinstance(obj, types.FunctionType):
        _function_state(name, obj, node, state)
    return state


def _function_state(name: str, func: types.FunctionType, node, state: LiveState) -> None:
    args = node.args
    wrapped = func
    while (getattr(wrapped, "__wrapped__", None) is not None
           and isinstance(wrapped.__wrapped__, types.FunctionType)):
        wrapped = wrapped.__wrapped__
    if wrapped is func:  # the defaults in the source are this function's own
        positional = [*getattr(args, "posonlyargs", []), *args.args]
        defaults = func.__defaults__ or ()
        if len(defaults) == len(args.defaults):
            names = [a.arg for a in positional[len(positional) - len(defaults):]]
            for index, (expr, value) in enumerate(zip(args.defaults, defaults, strict=True)):
                if not _unchanged(expr, value):
                    state.patch.setdefault("defaults", {})[index] = value
                    state.notes.append(f"{name}: default of {names[index]!r} "
                                       "(changed since its cell ran)")
        kwdefaults = func.__kwdefaults__ or {}
        for arg, expr in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            if (expr is not None and arg.arg in kwdefaults
                    and not _unchanged(expr, kwdefaults[arg.arg])):
                state.patch.setdefault("kwdefaults", {})[arg.arg] = kwdefaults[arg.arg]
                state.notes.append(f"{name}: default of {arg.arg!r} (changed since its cell ran)")
    for index, cell in enumerate(func.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if not _rebuilt_by_source(value):
            state.patch.setdefault("closure", {})[index] = value
            state.notes.append(f"{name}: closure variable {func.__code__.co_freevars[index]!r} "
                               "(its decorator's state)")


def _class_state(name: str, cls: type, node: ast.ClassDef, state: LiveState) -> None:
    assigned: dict[str, ast.AST | None] = {}
    defined: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            assigned[stmt.target.id] = stmt.value
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(stmt.name)
    for key, value in vars(cls).items():
        if key.startswith(_SKIPPED_ATTRIBUTES) or key in defined:
            continue
        if key in assigned:
            if _unchanged(assigned[key], value):
                continue
            why = "changed since its cell ran"
        else:
            if isinstance(value, (classmethod, staticmethod, property)):
                continue
            why = "assigned after the class was made"
        state.patch.setdefault("attrs", {})[key] = value
        state.notes.append(f"{name}.{key} ({why})")
