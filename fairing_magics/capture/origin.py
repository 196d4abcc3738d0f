"""The kernel's identity of the code: the file name and first line IPython gave each cell.

The job compiles the cell and each captured definition under the same file name and line
numbers, so a warning or a traceback reads as it did in the kernel. IPython names a cell
``<ipython-input-N-HASH>``; ipykernel names it ``/tmp/ipykernel_<pid>/<hash>.py``. The pid
changes with every kernel start, so it never enters the bundle: the folder is written as
:data:`KERNEL_CELLS_TOKEN` and handed to the job in the environment (:data:`KERNEL_CELLS_ENV`),
keeping the bundle's digest the same across kernel restarts. Likewise IPython's ``N`` (the
execution count, new at every run of the same cell) is written as ``#`` and handed over as
``FAIRING_INPUT_<HASH>=N`` (:data:`KERNEL_INPUT_ENV`): running an unchanged cell again gives the
same bundle, so ``--cache`` and the build caches see the same inputs.
"""

from __future__ import annotations

import linecache
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass

KERNEL_CELLS_TOKEN = "<kernel-cells>"
KERNEL_CELLS_ENV = "FAIRING_KERNEL_CELLS"
KERNEL_INPUT_ENV = "FAIRING_INPUT_"  # + the cell's hash: its execution count
_KERNEL_DIR = re.compile(r"^(.*[/\\]ipykernel_\d+)(?=[/\\])")
_INPUT_NAME = re.compile(r"^<ipython-input-(\d+)-([0-9A-Za-z]+)>$")


@dataclass(frozen=True)
class Origin:
    """Where code came from in the kernel: a file name (maybe tokenized) and its first line."""

    filename: str
    line: int


def stable_filename(filename: str) -> tuple[str, dict[str, str]]:
    """``filename`` with the kernel's per-process folder (or the cell's execution count)
    replaced by a token, and the env that gives the job the real name back."""
    numbered = _INPUT_NAME.match(filename)
    if numbered is not None:
        number, cell_hash = numbered.groups()
        return f"<ipython-input-#-{cell_hash}>", {KERNEL_INPUT_ENV + cell_hash: number}
    match = _KERNEL_DIR.match(filename)
    if match is None:
        return filename, {}
    return KERNEL_CELLS_TOKEN + filename[match.end(1):], {KERNEL_CELLS_ENV: match.group(1)}


def kernel_shell(namespace: Mapping):
    """The IPython shell that owns ``namespace`` (its ``get_ipython``), or None."""
    getter = namespace.get("get_ipython")
    if not callable(getter):
        return None
    try:
        shell = getter()
    except Exception:  # noqa: BLE001 - not a live shell
        return None
    if getattr(shell, "user_ns", None) is not namespace or not hasattr(shell, "compile"):
        return None
    return shell


def cell_filename(shell, raw: str, *, ran: bool) -> str | None:
    """The name IPython gives (``ran=False``: would give) the cell ``raw``; None if unknown.

    A cell that ran is numbered by its latest place in the input history, and its name must be
    in ``linecache`` (IPython caches every cell it compiles there).
    """
    if shell is None:
        return None
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None) or []
    number = shell.execution_count
    if ran:
        wanted = raw.strip()
        for index in range(len(history) - 1, 0, -1):
            if history[index].strip() == wanted:
                number = index
                break
        else:
            return None
    try:
        transformed = shell.transform_cell(raw)
        name = shell.compile.get_code_name(raw, transformed, number)
    except Exception:  # noqa: BLE001 - an older or unusual shell: no name
        return None
    if not isinstance(name, str) or (ran and name not in linecache.cache):
        return None
    return name


def remember_cell(shell, raw: str) -> str | None:
    """Have the kernel know the cell ``raw`` (a cell magic's body that runs in a job) under the
    name the job compiles it as (:func:`cell_filename` with ``ran=False``): IPython's own cache
    of the code it runs, which puts the text in ``linecache`` and maps the name to ``In[N]``,
    so the kernel shows the job's frames of the cell as ``Cell In[N], line L``, as it shows its
    own cells. Returns the name, or None when ``shell`` is not an IPython shell."""
    if shell is None:
        return None
    try:
        return shell.compile.cache(shell.transform_cell(raw), shell.execution_count, raw_code=raw)
    except Exception:  # noqa: BLE001 - an older or unusual shell: no name
        return None


def kernel_label(filename: str, shell=None) -> str:
    """``Cell In[N]`` for code of the kernel's cell N, as IPython labels it in tracebacks: a
    name this kernel compiled (its cells, and the bodies :func:`remember_cell` noted), or an
    IPython cell name, which holds its execution count (the kernel that ran it may be gone);
    "" for any other file."""
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
    try:
        label = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:  # noqa: BLE001 - an older or unusual shell: IPython names only
        label = None
    if label:
        return " ".join(label)
    numbered = _INPUT_NAME.match(filename)
    return f"Cell In[{numbered.group(1)}]" if numbered is not None else ""


def code_of(obj) -> types.CodeType | None:
    """The code object behind a function or class (through decorators' ``__wrapped__``)."""
    if isinstance(obj, type):
        for member in vars(obj).values():
            member = getattr(member, "__func__", getattr(member, "fget", member))
            code = code_of(member) if not isinstance(member, type) else None
            if code is not None:
                return code
        return None
    for _ in range(10):
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            return code
        obj = getattr(obj, "__wrapped__", None)
        if obj is None:
            return None
    return None
