"""Resolving free names against the kernel: import, definition, value, builtin, or error.

For each name the cell reads, :func:`resolve_names` decides, in this order:

1. a module -> ``import x as y``;
2. a function or class defined in the notebook -> its source from the input history (and
   then, in turn, the names *that* source reads);
3. an object importable from a module -> ``from m import n as y``, found by the object's
   ``__module__`` and identity (the shortest public module path that holds the very object),
   or by an import statement for the name in the history;
4. any other value -> literal source or a cloudpickle (see :mod:`.values`);
5. a builtin -> nothing; a name found nowhere -> CaptureError.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fairing_magics.capture.history import Definition, find_definition, index_definitions
from fairing_magics.capture.names import analyze_source
from fairing_magics.capture.strings import names_in_value
from fairing_magics.capture.syntax import to_python
from fairing_magics.capture.values import CapturedValue, capture_value
from fairing_magics.errors import CaptureError

# Names IPython puts into the user namespace or builtins that a plain Python either has as a
# builtin (exit, quit, open) or that the run's runtime provides (display: fairing_display.py).
_IPYTHON_AS_BUILTIN = frozenset({"exit", "quit", "open"})


@dataclass(frozen=True)
class ImportLine:
    """``import module as name`` (attr empty) or ``from module import attr as name``."""

    name: str
    module: str
    attr: str = ""

    @property
    def statement(self) -> str:
        if not self.attr:
            if self.name == self.module:
                return f"import {self.module}"
            return f"import {self.module} as {self.name}"
        if self.name == self.attr:
            return f"from {self.module} import {self.attr}"
        return f"from {self.module} import {self.attr} as {self.name}"


@dataclass(frozen=True)
class Alias:
    """``name = target`` for a notebook function bound to a second name (``g = f``)."""

    name: str
    target: str


@dataclass
class Resolution:
    """Everything the cell needs, by kind."""

    imports: dict[str, ImportLine] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    deps: dict[str, set[str]] = field(default_factory=dict)  # immediate deps of definitions/aliases
    aliases: dict[str, Alias] = field(default_factory=dict)
    values: dict[str, CapturedValue] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)  # modules imported by the captured code


def _is_builtin(name: str, namespace: Mapping) -> bool:
    if name in namespace:
        obj = namespace[name]
        if name in _IPYTHON_AS_BUILTIN:
            origin = (str(getattr(type(obj), "__module__", "")) + " "
                      + str(getattr(obj, "__module__", "")))
            if ("IPython" in origin or "_sitebuiltins" in origin
                    or getattr(obj, "__wrapped__", None) is getattr(builtins, name)):
                return True
        return hasattr(builtins, name) and getattr(builtins, name) is obj
    return hasattr(builtins, name) and name not in ("display", "get_ipython")


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, (types.MethodType, types.BuiltinMethodType)) and type(a) is type(b):
        try:
            return bool(a == b)
        except Exception:  # noqa: BLE001
            return False
    return False


def _import_for_object(name: str, obj) -> ImportLine | None:
    """``from m import attr as name`` by the object's __module__ and identity, or None."""
    module_name = getattr(obj, "__module__", None)
    attr = getattr(obj, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(attr, str) or module_name == "__main__":
        return None
    parts = module_name.split(".")
    candidates = [".".join(parts[: i + 1]) for i in range(len(parts))]
    public = [c for c in candidates if not any(p.startswith("_") for p in c.split("."))]
    for candidate in public + [c for c in candidates if c not in public]:
        module = sys.modules.get(candidate)
        if module is not None and _same(getattr(module, attr, None), obj):
            return ImportLine(name, candidate, attr)
    return None


def _import_from_history(name: str, obj, cells: Sequence[str]) -> ImportLine | None:
    """An ``import``/``from ... import`` in the history that binds ``name`` to this very object."""
    pattern = re.compile(r"\bimport\b[^\n]*\b" + re.escape(name) + r"\b")
    for cell in reversed(cells):
        if name not in cell or not pattern.search(cell):
            continue
        try:
            tree = to_python(cell).tree
        except CaptureError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        module = sys.modules.get(node.module)
                        if module is not None and _same(getattr(module, alias.name, None), obj):
                            return ImportLine(name, node.module, alias.name)
    return None


def _defined_in_notebook(obj) -> str | None:
    """"def" or "class" when ``obj`` is a named function or class of ``__main__``."""
    if getattr(obj, "__module__", None) != "__main__":
        return None
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str) or "<" in qualname or "." in qualname:
        return None
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "def"
    return None


def resolve_names(
    free: Mapping[str, bool],
    namespace: Mapping,
    cells: Sequence[str],
    *,
    lazy: frozenset[str] = frozenset(),
    soft: Sequence[str] = (),
) -> Resolution:
    """Resolve the cell's ``free`` names (see the module docstring) and what they need in turn.

    A name in ``lazy`` (read only inside a function the cell never calls) that is defined
    nowhere is a note, not an error: Python accepts it until that function is called. Names in
    ``soft`` (read inside evaluator strings) are taken when the kernel has them, else ignored.
    """
    result = Resolution()
    unknown = [n for n in free if n not in namespace and not _is_builtin(n, namespace)
               and n not in ("display", "get_ipython")]
    missing = [n for n in unknown if n not in lazy]
    if missing:
        raise CaptureError(
            f"the cell uses {_names(missing)}, defined neither in the cell nor in the notebook; "
            "define it in an earlier cell (and run that cell) or in this one."
        )
    for name in unknown:
        result.notes.append(f"{name!r} is defined nowhere, but only a function the cell does not "
                            "call uses it: that function will fail if it is called")
    queue = [n for n in free if n not in unknown]
    queue += [n for n in soft if n in namespace and n not in free and not _is_builtin(n, namespace)]
    seen: set[str] = set()
    index = index_definitions(cells)
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name not in namespace or _is_builtin(name, namespace):
            if name == "display" and name not in namespace:
                result.notes.append("display(): provided by the run's runtime; what it shows comes "
                                    "back into the notebook")
            elif name == "get_ipython" and name not in namespace:
                raise CaptureError("the cell calls get_ipython(), which only exists inside "
                                   "IPython; use plain Python instead.")
            continue
        obj = namespace[name]
        if name == "get_ipython":
            raise CaptureError("the cell calls get_ipython(), which only exists inside IPython; "
                               "use plain Python instead.")
        if isinstance(obj, types.ModuleType):
            if obj.__name__ == "__main__":
                raise CaptureError(f"the cell uses {name!r}, the notebook's own __main__ module; "
                                   "use the names it holds directly.")
            result.imports[name] = ImportLine(name, obj.__name__)
            result.modules.add(obj.__name__)
            continue
        kind = _defined_in_notebook(obj)
        if kind is not None:
            real = obj.__qualname__
            if real != name and namespace.get(real) is obj:
                result.aliases[name] = Alias(name, real)
                result.deps[name] = {real}
                queue.append(real)
                continue
            definition = (find_definition(real, kind, cells, _first_line(obj), index)
                          if real == name else None)
            if definition is not None:
                result.definitions[name] = definition
                result.notes.extend(f"{name} (from an earlier cell): {note}"
                                    for note in definition.notes)
                inner, imported, in_strings = analyze_source(definition.source)
                result.modules.update(imported)
                result.deps[name] = {n for n, immediate in inner.free.items() if immediate}
                for dep in sorted(inner.free):
                    if (dep in namespace or _is_builtin(dep, namespace)
                            or dep in ("display", "get_ipython")):
                        queue.append(dep)
                    else:
                        result.notes.append(f"{name} uses {dep!r}, which is defined nowhere; "
                                            "it will fail if that code runs")
                queue.extend(n for n in in_strings if n in namespace and n not in inner.bound)
                if kind == "class":
                    queue.extend(_registered_subclasses(obj, namespace))
                continue
            result.notes.append(f"{name}: source not found in the input history; pickled by value")
        line = _import_for_object(name, obj) or _import_from_history(name, obj, cells)
        if line is not None:
            result.imports[name] = line
            result.modules.add(line.module)
            continue
        result.values[name] = capture_value(name, obj)
        queue.extend(n for n in names_in_value(obj)
                     if n in namespace and not _is_builtin(n, namespace))
    return result


def _registered_subclasses(cls: type, namespace: Mapping) -> list[str]:
    """Notebook subclasses of ``cls`` (live, by name in the namespace): they come along with
    their base, so a registry the base keeps of them (``__init_subclass__``) is whole."""
    try:
        subclasses = type.__subclasses__(cls)
    except TypeError:
        return []
    return sorted(sub.__qualname__ for sub in subclasses
                  if _defined_in_notebook(sub) == "class"
                  and namespace.get(sub.__qualname__) is sub)


def _first_line(obj) -> int | None:
    """The first source line of a function (through decorators' ``__wrapped__``), if known."""
    for _ in range(10):
        code = getattr(obj, "__code__", None)
        if code is not None:
            return code.co_firstlineno
        obj = getattr(obj, "__wrapped__", None)
        if obj is None:
            return None
    return None


def _names(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
