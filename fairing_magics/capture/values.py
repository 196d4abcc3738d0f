"""Values from the kernel: small literals as source, everything else cloudpickled.

Pickles use a fixed protocol so the same value gives the same bytes (sets of strings and
objects with their own unstable ``__reduce__`` are the exceptions Python leaves us). While
pickling we note the module of every class and function the pickle refers to, so that the
packages needed to *unpickle* a value (pandas for a DataFrame, scikit-learn for a model) end up
in the requirements too.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import math
import re
import types
from dataclasses import dataclass

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
    source: str = ""  # "name = <literal>" when written as source
    data: bytes = b""  # cloudpickle bytes otherwise
    modules: frozenset[str] = frozenset()  # modules the pickle refers to
    main_classes: frozenset[str] = frozenset()  # notebook classes pickled along (by value)


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


class _RecordingPickler(cloudpickle.Pickler):
    """A cloudpickle Pickler that notes the module of each class/function it meets.

    Notebook (``__main__``) functions and classes are pickled by value; their code objects get
    a kernel-independent file name and their classes a content-derived tracker id, so that the
    same notebook gives the same bytes after a kernel restart.
    """

    def __init__(self, file, modules: set[str], main_classes: set[str]):
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._modules = modules
        self._main_classes = main_classes
        self._copies: dict[int, object] = {}

    def reducer_override(self, obj):
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
            elif kind is types.FunctionType and _KERNEL_FILENAME.search(obj.__code__.co_filename):
                obj = self._stable_function(obj)
        return super().reducer_override(obj)

    def _stable_function(self, func: types.FunctionType) -> types.FunctionType:
        copy = self._copies.get(id(func))
        if copy is None:
            copy = types.FunctionType(_stable_code(func.__code__), func.__globals__, func.__name__,
                                      func.__defaults__, func.__closure__)
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


def _unpicklable(name: str, value, exc: Exception) -> CaptureError:
    type_name = type(value).__name__
    hint = _UNPICKLABLE_HINTS.get(type_name)
    if hint is None:
        hint = "create it inside the cell, or pass what it is made from instead"
    return CaptureError(
        f"the cell uses {name!r}, a {type(value).__module__}.{type_name} that cannot be sent to the job "
        f"({type(exc).__name__}: {exc}); {hint}."
    )


def capture_value(name: str, value, limit: int) -> CapturedValue:
    """``value`` as literal source if small and simple, else as cloudpickle bytes.

    Raises CaptureError when the value cannot be pickled or its pickle exceeds ``limit`` bytes.
    """
    type_name = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    text = literal_source(value)
    if text is not None:
        source = f"{name} = {text}\n"
        return CapturedValue(name, ValueInfo(name, type_name, len(source), as_source=True), source=source)
    if type(value).__name__ == "generator":
        return _raise(_unpicklable(name, value, TypeError("cannot pickle 'generator' object")))
    nbytes = getattr(value, "nbytes", None)  # numpy arrays (and friends): refuse before copying
    if isinstance(nbytes, int) and nbytes > limit:
        raise _too_large(name, type_name, nbytes, limit)
    buffer = io.BytesIO()
    modules: set[str] = set()
    main_classes: set[str] = set()
    try:
        _RecordingPickler(buffer, modules, main_classes).dump(value)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is reported the same way
        raise _unpicklable(name, value, exc) from exc
    data = buffer.getvalue()
    if len(data) > limit:
        raise _too_large(name, type_name, len(data), limit)
    modules.discard("__main__")
    return CapturedValue(name, ValueInfo(name, type_name, len(data)), data=data, modules=frozenset(modules),
                         main_classes=frozenset(main_classes))


def _too_large(name: str, type_name: str, size: int, limit: int) -> CaptureError:
    return CaptureError(
        f"the cell uses {name!r} ({type_name}), which takes {_size_text(size)}, more than the "
        f"{_size_text(limit)} limit; save it to a file and --include it, or put it in storage "
        "(--storage) and load it inside the cell."
    )


def _size_text(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size:,} bytes"


def _raise(exc: Exception):
    raise exc
