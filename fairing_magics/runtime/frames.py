"""Save the failing frames of a remote exception, for ``%fairing_debug`` in the kernel.

Shipped in every bundle as ``fairing_frames.py``; the bootstrap calls :func:`save_frames` once,
when the program raises (a notebook job calls it from its kernel, for the failing cell). Standard
library and cloudpickle only.

It writes ``$FAIRING_OUTPUT_DIR/frames.pkl`` (before ``error.json``, so whoever sees the error
finds the frames): for each frame of the traceback from the user's code on, its function, file,
line and source line; for the user's own frames (not the standard library's or an installed
package's) their variables, each pickled by value with cloudpickle when it pickles within
:data:`VALUE_LIMIT` bytes (and all of them within :data:`TOTAL_LIMIT`); the others are named
with their type and why they were left out. The text of the user's files (the cell, main.py, a
local module) comes along, so the debugger can list the code; and the exception itself when it
pickles. ``FAIRING_FRAMES_VALUE_MB`` / ``FAIRING_FRAMES_TOTAL_MB`` change the limits.
"""

import linecache
import os
import pickle
import re
import sys
import sysconfig

FRAMES_FILE = "frames.pkl"
FORMAT = 1
VALUE_LIMIT = int(float(os.environ.get("FAIRING_FRAMES_VALUE_MB") or 8) * 2**20)
TOTAL_LIMIT = int(float(os.environ.get("FAIRING_FRAMES_TOTAL_MB") or 64) * 2**20)
SOURCE_LIMIT = 2**20
_KERNEL_NAMES = re.compile(r"^(_i+\d*|_\d+|_+|_[ioh]h|_dh|In|Out|exit|quit|get_ipython)$")
_OURS = ("fairing_bootstrap.py", "fairing_frames.py")


class _TooLarge(Exception):
    pass


class _CappedFile:
    """A file-like sink that refuses to grow past ``limit`` bytes (pickling stops early)."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge()
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self):
        return b"".join(self.parts)


def _library_roots():
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    for path in sys.path:
        if path.endswith(("site-packages", "dist-packages")):
            roots.add(os.path.realpath(path))
    for path in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if path and os.path.realpath(path) != os.path.realpath(os.getcwd()):
            roots.add(os.path.realpath(path))
    return tuple(sorted(roots))


def _is_library(filename, roots):
    if not filename or filename.startswith("<frozen") or os.path.basename(filename) in _OURS:
        return True
    if filename.startswith("<"):
        return filename == "<fairing>"
    real = os.path.realpath(filename)
    return any(real == root or real.startswith(root + os.sep) for root in roots)


def _human(size):
    return "%.1f MiB" % (size / 2**20) if size >= 2**20 else "%d KiB" % max(1, size // 1024)


def _pickle(value, limit, dumps_to):
    sink = _CappedFile(limit)
    dumps_to(sink, value)
    return sink.getvalue()


def _pickler():
    try:
        import cloudpickle

        def dump(sink, value):
            cloudpickle.CloudPickler(sink, protocol=4).dump(value)
        return dump, "cloudpickle"
    except ImportError:
        def dump(sink, value):
            pickle.Pickler(sink, protocol=4).dump(value)
        return dump, "pickle"


def _variables(names_values, budget, dump):
    """``(saved, left_out, used)``: name -> pickle bytes; name -> (type, why)."""
    saved, left_out = {}, {}
    used = 0
    for name, value in names_values:
        type_name = type(value).__module__ + "." + type(value).__qualname__
        if type_name.startswith("builtins."):
            type_name = type_name[len("builtins."):]
        room = min(VALUE_LIMIT, budget - used)
        if room <= 0:
            left_out[name] = (type_name, "the frames' total limit (%s) was reached" % _human(TOTAL_LIMIT))
            continue
        try:
            data = _pickle(value, room, dump)
        except _TooLarge:
            why = ("larger than the %s limit of one value" % _human(VALUE_LIMIT) if room == VALUE_LIMIT
                   else "over what was left of the frames' total limit (%s)" % _human(TOTAL_LIMIT))
            left_out[name] = (type_name, why)
            continue
        except BaseException as exc:  # noqa: BLE001 - anything unpicklable is only named
            if isinstance(exc, KeyboardInterrupt):
                raise
            left_out[name] = (type_name, "does not pickle (%s: %s)" % (type(exc).__name__, str(exc)[:200]))
            continue
        saved[name] = data
        used += len(data)
    return saved, left_out, used


def _kept_names(frame, module_level, in_kernel):
    hidden = set()
    if in_kernel and module_level:
        try:
            hidden = set(get_ipython().user_ns_hidden)  # noqa: F821 - defined in a kernel
        except Exception:  # noqa: BLE001 - no IPython: nothing hidden
            hidden = set()
    items = []
    for name, value in list(frame.f_locals.items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        if module_level and (name in hidden or (in_kernel and _KERNEL_NAMES.match(name))):
            continue
        if name.startswith("__fairing"):
            continue
        items.append((name, value))
    return items


def _kernel_cell(filename):
    """The execution count IPython compiled ``filename`` for (``In [k]``), or None."""
    try:
        return get_ipython().compile._filename_map.get(filename)  # noqa: F821 - in a kernel
    except Exception:  # noqa: BLE001 - not in IPython
        return None


def collect_frames(exc, in_kernel=False):
    """The record :func:`save_frames` writes, for ``exc`` (see the module docstring)."""
    roots = _library_roots()
    dump, how = _pickler()
    entries = []
    tb = exc.__traceback__
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    first_user = next((i for i, (f, _) in enumerate(entries)
                       if not _is_library(f.f_code.co_filename, roots)), None)
    if first_user is None:
        return None
    frames, sources = [], {}
    used = 0
    for frame, lineno in reversed(entries[first_user:]):  # innermost first: it gets the budget
        code = frame.f_code
        filename = code.co_filename
        library = _is_library(filename, roots)
        module_level = frame.f_globals is frame.f_locals
        record = {"function": code.co_name, "qualname": getattr(code, "co_qualname", code.co_name),
                  "filename": filename, "lineno": lineno,
                  "line": linecache.getline(filename, lineno, frame.f_globals).strip(),
                  "library": library, "module_level": module_level,
                  "cell": _kernel_cell(filename) if in_kernel else None,
                  "variables": {}, "left_out": {}}
        if not library:
            saved, left_out, size = _variables(_kept_names(frame, module_level, in_kernel),
                                               TOTAL_LIMIT - used, dump)
            record["variables"], record["left_out"] = saved, left_out
            used += size
            if filename not in sources:
                text = "".join(linecache.getlines(filename, frame.f_globals))
                if text and len(text) <= SOURCE_LIMIT:
                    sources[filename] = text
        frames.append(record)
    frames.reverse()
    exception = None
    try:
        exception = _pickle(exc, VALUE_LIMIT, dump)
    except BaseException as err:  # noqa: BLE001 - the type and message are kept anyway
        if isinstance(err, KeyboardInterrupt):
            raise
    return {"format": FORMAT, "pickler": how, "python": "%d.%d.%d" % sys.version_info[:3],
            "frames": frames, "sources": sources, "exception": exception,
            "exc_type": type(exc).__name__, "message": str(exc)[:2000],
            "value_limit": VALUE_LIMIT, "total_limit": TOTAL_LIMIT}


def save_frames(exc, output_dir, in_kernel=False):
    """Write ``frames.pkl`` for ``exc`` into ``output_dir``; True when written. Never raises:
    a failure to save frames must not hide the program's own error."""
    if exc is None or getattr(exc, "fairing_frames_saved", False):
        return False
    try:
        record = collect_frames(exc, in_kernel=in_kernel)
        if record is None:
            return False
        path = os.path.join(output_dir, FRAMES_FILE)
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(record, fh, protocol=4)
        os.replace(tmp, path)
        return True
    except Exception as err:  # noqa: BLE001 - say why, keep the real error first
        sys.stderr.write("fairing: could not save the failing frames: %s: %s\n" % (type(err).__name__, err))
        return False


def failure_traceback(exc, tb_text):
    """The traceback to record for ``exc``: a notebook cell's own when it carries one."""
    return getattr(exc, "fairing_traceback", None) or tb_text
