"""Values from the kernel: small literals as source, everything else in ONE cloudpickle.

All pickled values, the live state of definitions and the library settings go through one
pickler (:func:`pickle_state`), so identity and aliasing survive: ``y = x`` is still the same
list in the job, and a value that is a captured function's default is that very object.
Pickles use a fixed protocol so the same value gives the same bytes (sets of strings and
objects with their own unstable ``__reduce__`` are the exceptions Python leaves us). While
pickling we note the module of every class and function the pickle refers to, so that the
packages needed to *unpickle* a value (pandas for a DataFrame, scikit-learn for a model) end up
in the requirements too.
"""

from __future__ import annotations

import copyreg
import hashlib
import importlib
import io
import math
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field

import cloudpickle

from fairing_magics.capture.bundle import ValueInfo
from fairing_magics.errors import CaptureError

PICKLE_PROTOCOL = 5
LITERAL_MAX_CHARS = 200

_UNPICKLABLE_HINTS = {
    "TextIOWrapper": "open the file inside the cell (and --include it)",
    "BufferedReader": "open the file inside the cell (and --include it)",
    "BufferedWriter": "open the file inside the cell",
    "socket": "connect inside the cell",
    "lock": "create the lock inside the cell",
    "RLock": "create the lock inside the cell",
    "generator": "turn it into a list first (data = list(data)), or create it inside the cell",
    "Connection": "connect to the database inside the cell",
    "Cursor": "query the database inside the cell",
}


@dataclass(frozen=True)
class CapturedValue:
    """A value ready for the bundle: either literal source or pickle bytes."""

    name: str
    info: ValueInfo
    source: str = ""  # "name = <literal>" when it may be written as source
    obj: object = None  # the value itself, for the one pickle


def _literal(value, budget: list[int], depth: int = 0) -> str | None:
    """Deterministic source for a small literal, or None."""
    kind = type(value)
    if budget[0] <= 0 or depth > 10:  # depth: self-containing lists must not recurse forever
        return None
    if kind in (str, bytes, list, tuple, dict, set, frozenset) and len(value) > budget[0]:
        return None  # cannot fit: do not build the text of a big value
    if value is None or kind in (bool, int, str, bytes):
        text = repr(value)
    elif kind is float:
        if not math.isfinite(value):
            return None
        text = repr(value)
    elif kind is complex:
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            return None
        text = repr(value)
    elif kind in (list, tuple):
        parts = []
        for item in value:
            part = _literal(item, budget, depth + 1)
            if part is None:
                return None
            parts.append(part)
        if kind is tuple:
            text = "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        else:
            text = "[" + ", ".join(parts) + "]"
    elif kind is dict:
        items = []
        for key, item in value.items():
            k, v = _literal(key, budget, depth + 1), _literal(item, budget, depth + 1)
            if k is None or v is None:
                return None
            items.append(f"{k}: {v}")
        text = "{" + ", ".join(items) + "}"
    elif kind in (set, frozenset):
        parts = [_literal(v, budget, depth + 1) for v in value]
        if any(p is None for p in parts) or not parts:
            return None
        body = "{" + ", ".join(sorted(parts)) + "}"  # sorted: set order varies between processes
        text = body if kind is set else f"frozenset({body})"
    else:
        return None
    budget[0] -= len(text)
    return text if budget[0] >= 0 else None


def literal_source(value) -> str | None:
    """Source text for ``value`` when it is a short literal (numbers, strings, small containers)."""
    return _literal(value, [LITERAL_MAX_CHARS])


# ipykernel compiles each cell as /tmp/ipykernel_<pid>/<hash>.py: the pid changes with every
# kernel start, and code objects pickled by value carry that file name.
_KERNEL_FILENAME = re.compile(r"ipykernel_\d+")


def _stable_code(code: types.CodeType) -> types.CodeType:
    consts = tuple(_stable_code(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=_KERNEL_FILENAME.sub("ipykernel", code.co_filename), co_consts=consts)


def _class_fingerprint(cls: type) -> str:
    """A tracker id for a notebook class that is the same in every kernel that defined it alike."""
    digest = hashlib.sha256(cls.__qualname__.encode())
    for key in sorted(cls.__dict__):
        digest.update(b"\0" + key.encode())
        member = cls.__dict__[key]
        function = getattr(member, "__func__", member)
        code = getattr(function, "__code__", None)
        if isinstance(code, types.CodeType):
            digest.update(code.co_code + repr(code.co_names).encode())
    return digest.hexdigest()[:32]


def _track_class_deterministically(cls: type) -> None:
    """Give a notebook class a content-derived cloudpickle tracker id instead of a random uuid.

    cloudpickle unifies classes with the same tracker id when unpickling in one process (so
    instances in different value files share one class); by default the id is a uuid4, which
    made every kernel's bundle differ. Falls back silently if cloudpickle's internals change.
    """
    module = getattr(cloudpickle, "cloudpickle", None)
    by_class = getattr(module, "_DYNAMIC_CLASS_TRACKER_BY_CLASS", None)
    by_id = getattr(module, "_DYNAMIC_CLASS_TRACKER_BY_ID", None)
    lock = getattr(module, "_DYNAMIC_CLASS_TRACKER_LOCK", None)
    if by_class is None or by_id is None or lock is None:
        return
    with lock:
        if cls in by_class:
            return
        base = _class_fingerprint(cls)
        tracker, n = base, 0
        while by_id.get(tracker) not in (None, cls):
            n += 1
            tracker = f"{base}-{n}"
        by_class[cls] = tracker
        by_id[tracker] = cls


# "__main__" as a string object of its own. Pickle memoizes strings by identity: the literal
# would be shared with a class's or function's __module__ when that is the interned "__main__"
# and written again when it is an equal copy (a pickle loaded in the kernel makes those), so
# the same notebook would pickle to different bytes.
_MAIN_NAME = "".join(("__main", "__"))


class _MainModule:
    """Pickles as the job's ``__main__`` module (looked up when the pickle loads)."""

    def __reduce__(self):
        return importlib.import_module, (_MAIN_NAME,)


class _MainGlobals(dict):
    """Pickles as the job's ``__main__.__dict__``: notebook functions pickled by value keep the
    notebook's globals as theirs, so they see (and share) what the program binds there."""

    def __reduce__(self):
        return vars, (_MainModule(),)


class _RecordingPickler(cloudpickle.Pickler):
    """A cloudpickle Pickler that notes the module of each class/function it meets.

    Notebook (``__main__``) functions and classes are pickled by value (their classes get a
    content-derived tracker id, so the same notebook gives the same bytes after a kernel
    restart), except the captured definitions named in ``main_refs``: main.py defines those
    before the pickle loads, so they are pickled as a reference to that very object. Functions
    whose globals are the notebook's namespace get the job's ``__main__`` namespace as theirs.
    """

    def __init__(self, file, modules: set[str], main_classes: set[str],
                 namespace: Mapping | None = None, main_refs: Mapping[int, str] | None = None):
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._modules = modules
        self._main_classes = main_classes
        self._main_refs = dict(main_refs or {})
        self._copies: dict[int, object] = {}
        self._namespace = namespace
        self._reset_methods: set[int] = set()
        if namespace is not None:
            self.globals_ref[id(namespace)] = _MainGlobals()

    def reducer_override(self, obj):
        if type(obj) in (_MainModule, _MainGlobals):
            return NotImplemented  # their own __reduce__; not a module the job needs
        name = self._main_refs.get(id(obj))
        if name is not None:
            return getattr, (_MainModule(), name)
        modules = self._modules
        kind = type(obj)
        if kind.__module__ != "builtins":
            modules.add(kind.__module__)
        module = getattr(obj, "__module__", None) if isinstance(obj, type) or callable(obj) else None
        if isinstance(module, str):
            modules.add(module)
        if kind is types.ModuleType:
            modules.add(obj.__name__)
        if module == "__main__":
            if isinstance(obj, type):
                self._main_classes.add(obj.__qualname__)
                _track_class_deterministically(obj)
                # Pickling an instance caches __slotnames__ on its class (copyreg), and so does
                # loading a run's outputs: compute it now, so the class pickles alike before and
                # after (the cache's key would otherwise change once a run returned an instance).
                copyreg._slotnames(obj)
                self._note_reset_methods(obj)
            elif kind is types.FunctionType:
                obj = self._stable_function(obj)
        return super().reducer_override(obj)

    def _note_reset_methods(self, cls: type) -> None:
        """Note the methods of a notebook class that a load of its pickle in this process reset.

        cloudpickle gives an object it loads the very class this kernel defined, and then sets
        that class's attributes again from the pickle (cloudpipe/cloudpickle#439): once a run's
        outputs or ``cloudpickle.loads`` brought an instance back, the class's methods are
        copies whose globals are a snapshot cloudpickle made, no longer the notebook's namespace.
        Those are pickled as the originals were, with the notebook's namespace as their globals:
        the bundle (and the cache key) stay the same, and in the job they read the job's
        ``__main__`` as the notebook's methods read the notebook.
        """
        namespace = self._namespace
        if namespace is None:
            return
        for member in vars(cls).values():
            if isinstance(member, property):
                functions = (member.fget, member.fset, member.fdel)
            else:
                functions = (getattr(member, "__func__", member),)  # classmethod, staticmethod
            for func in functions:
                if (type(func) is types.FunctionType and func.__module__ == "__main__"
                        and func.__globals__ is not namespace
                        and func.__globals__.get("__name__") == "__main__"):
                    self._reset_methods.add(id(func))

    def _stable_function(self, func: types.FunctionType) -> types.FunctionType:
        """``func`` as it pickles alike in every kernel: a copy without the kernel's file name
        (ipykernel's holds its pid; cloudpickle 2 keeps it), with the notebook's namespace as
        globals when a load reset it (:meth:`_note_reset_methods`); else ``func`` itself."""
        kernel_file = _KERNEL_FILENAME.search(func.__code__.co_filename) is not None
        reset = id(func) in self._reset_methods
        if not (kernel_file or reset):
            return func
        copy = self._copies.get(id(func))
        if copy is None:
            code = _stable_code(func.__code__) if kernel_file else func.__code__
            copy = types.FunctionType(code, self._namespace if reset else func.__globals__,
                                      func.__name__, func.__defaults__, func.__closure__)
            copy.__kwdefaults__ = func.__kwdefaults__
            copy.__qualname__ = func.__qualname__
            copy.__module__ = func.__module__
            copy.__doc__ = func.__doc__
            copy.__annotations__ = func.__annotations__
            copy.__dict__.update(func.__dict__)
            self._copies[id(func)] = (func, copy)  # keep func alive while its id is a key
        else:
            copy = copy[1]
        return copy


@dataclass(frozen=True)
class PickledState:
    """The one pickle of a bundle: a stream of pickles sharing one memo (so an object reached
    from two names, or from a value and a definition's default, is one object in the job).

    ``order`` is the stream: ``"value:NAME"`` entries, then ``"live"`` and ``"settings"`` when
    present; ``sizes`` the bytes each value took; ``inlined`` the small literals that stayed
    source because nothing else shares them.
    """

    data: bytes = b""
    order: tuple[str, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    modules: frozenset[str] = frozenset()
    main_classes: frozenset[str] = frozenset()
    inlined: frozenset[str] = frozenset()


_MUTABLE = (list, dict, set, bytearray)


def _container_ids(value, out: set[int], depth: int = 0) -> set[int]:
    """ids of the mutable containers in a (small, literal) value."""
    if isinstance(value, _MUTABLE) and depth < 12:
        out.add(id(value))
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            for part in (item if isinstance(value, dict) else (item,)):
                _container_ids(part, out, depth + 1)
    elif isinstance(value, (tuple, frozenset)) and depth < 12:
        for item in value:
            _container_ids(item, out, depth + 1)
    return out


def pickle_state(values: Mapping[str, object], literals: Mapping[str, object], live: Mapping,
                 settings: list, *, namespace: Mapping | None, main_refs: Mapping[int, str],
                 limit: int) -> PickledState:
    """Everything the job loads in one stream: ``values`` (pickled), then ``live`` state and
    ``settings``, then the mutable ``literals`` that something already pickled shares (or
    that share a container with each other). Literals nobody shares stay source (``inlined``).

    Raises CaptureError naming the value that cannot be pickled or is over ``limit`` bytes.
    """
    buffer = io.BytesIO()
    modules: set[str] = set()
    main_classes: set[str] = set()
    pickler = _RecordingPickler(buffer, modules, main_classes, namespace, main_refs)
    order: list[str] = []
    sizes: dict[str, int] = {}

    def dump(entry: str, name: str, value) -> None:
        nbytes = getattr(value, "nbytes", None)  # numpy arrays (and friends): refuse before copying
        if entry.startswith("value:") and isinstance(nbytes, int) and nbytes > limit:
            raise _too_large(name, _type_name(value), nbytes, limit)
        before = buffer.tell()
        try:
            pickler.dump(value)
        except Exception as exc:  # noqa: BLE001 - any pickling failure is reported the same way
            if entry.startswith("value:"):
                raise _unpicklable(name, value, exc) from exc
            raise CaptureError(f"the {name} cannot be sent to the job ({type(exc).__name__}: {exc}); "
                               "define it again in the cell instead.") from exc
        size = buffer.tell() - before
        if entry.startswith("value:"):
            if size > limit:
                raise _too_large(name, _type_name(value), size, limit)
            sizes[name] = size
        order.append(entry)

    shared: dict[int, int] = {}
    literal_ids = {name: _container_ids(value, set()) for name, value in literals.items()}
    for ids in literal_ids.values():
        for ident in ids:
            shared[ident] = shared.get(ident, 0) + 1
    late = {name for name, ids in literal_ids.items() if any(shared[i] > 1 for i in ids)}
    for name in sorted(values):
        dump("value:" + name, name, values[name])
    if live:
        dump("live", "live state of the notebook's definitions", live)
    if settings:  # what they refer to is imported by the code itself: no requirements from here
        known = set(modules)
        dump("settings", "library settings", settings)
        modules.intersection_update(known)
    memo = set(pickler.memo.copy()) if order else set()
    late |= {name for name, ids in literal_ids.items() if ids & memo}
    for name in sorted(late):
        dump("value:" + name, name, literals[name])
    modules.discard("__main__")
    return PickledState(buffer.getvalue() if order else b"", tuple(order), sizes, frozenset(modules),
                        frozenset(main_classes), frozenset(set(literals) - late))


def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")


def _unpicklable(name: str, value, exc: Exception) -> CaptureError:
    type_name = type(value).__name__
    hint = _UNPICKLABLE_HINTS.get(type_name)
    if hint is None:
        hint = "create it inside the cell, or pass what it is made from instead"
    return CaptureError(
        f"the cell uses {name!r}, a {type(value).__module__}.{type_name} that cannot be sent to the job "
        f"({type(exc).__name__}: {exc}); {hint}."
    )


def capture_value(name: str, value) -> CapturedValue:
    """``value`` as literal source when small and simple, else marked for the one pickle.

    Raises CaptureError at once for values that can never be sent (generators).
    """
    type_name = _type_name(value)
    text = literal_source(value)
    if text is not None:
        source = f"{name} = {text}\n"
        return CapturedValue(name, ValueInfo(name, type_name, len(source), as_source=True), source=source,
                             obj=value)
    if type(value).__name__ == "generator":
        raise _unpicklable(name, value, TypeError("cannot pickle 'generator' object"))
    return CapturedValue(name, ValueInfo(name, type_name, 0), obj=value)


def _too_large(name: str, type_name: str, size: int, limit: int) -> CaptureError:
    return CaptureError(
        f"the cell uses {name!r} ({type_name}), which takes {_size_text(size)}, more than the "
        f"{_size_text(limit)} limit; save it to a file and --include it, or put it in storage "
        "(--storage) and load it inside the cell."
    )


def _size_text(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size:,} bytes"



