"""IPython-only syntax in captured code: turned into plain Python, or dropped, with a note.

The runtime is a plain Python process: there is no ``get_ipython()`` there. :func:`to_python`
runs IPython's own input transformation (``%magic``, ``!shell``, ``x = !cmd``, ``x?``,
``%%cell_magic``) and then rewrites each resulting ``get_ipython()`` call:

==========================  ==========================================================
``%time stmt``, ``%%time``  the statement / cell body itself (timing is dropped)
``%timeit stmt``            the statement, run once
``%env K=V`` / ``%env K V``  ``os.environ["K"] = "V"``
``%cd DIR``                 ``os.chdir("DIR")``
``%%capture``, ``%%time``   the cell body
``!cmd``                    ``subprocess.run("cmd", shell=True)`` (``{expr}`` and ``$name``
                            expanded as IPython does), except ``!pip``/``!conda`` installs,
                            which are dropped (use ``--requirements``)
``x = !cmd``                the command's output lines
``%%bash`` / ``%%sh``       the body run by ``bash -c`` / ``sh -c`` (the image's shell)
``%%writefile F``, ``%%file``  the file written, with IPython's "Writing F" line
everything else             dropped (``%matplotlib``, ``%load_ext``, ``%config``, ``x?``...)
==========================  ==========================================================

Every change adds one line to the notes of the capture report. Plain Python cells (almost all
of them) are recognised by a successful ``ast.parse`` and never go through the transformer.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

from fairing_magics.errors import CaptureError


@dataclass(frozen=True)
class PythonSource:
    """A cell as plain Python: its text, its parsed tree, and what was changed to get there."""

    text: str
    tree: ast.Module
    notes: tuple[str, ...] = ()
    note_lines: tuple[int, ...] = ()  # the line each note is about

    def notes_between(self, first: int, last: int) -> tuple[str, ...]:
        """The notes about lines ``first``..``last`` (1-based, inclusive)."""
        return tuple(n for n, line in zip(self.notes, self.note_lines, strict=True)
                     if first <= line <= last)


_TRANSFORMER = None
_TIMING = frozenset({"time", "timeit", "prun"})
_SHELL_CELLS = frozenset({"bash", "sh", "script", "system"})
_BODY_CELLS = frozenset({"time", "timeit", "capture", "prun", "python", "python3"})
_INSTALLERS = re.compile(r"^\s*(?:python3?\s+-m\s+)?(?:pip3?|conda|mamba|uv\s+pip)\s+install\b")


def _transformer():
    global _TRANSFORMER
    if _TRANSFORMER is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _TRANSFORMER = TransformerManager()
    return _TRANSFORMER


def _ipython_call(node: ast.AST) -> tuple[str, list] | None:
    """``get_ipython().METHOD(args...)`` -> (METHOD, [literal args]) or None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    inner = node.func.value
    if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
            and inner.func.id == "get_ipython" and not inner.args):
        return None
    try:
        args = [ast.literal_eval(a) for a in node.args]
    except ValueError:
        return None
    return node.func.attr, args


def _label(method: str, args: list) -> str:
    if method == "run_line_magic":
        return f"%{args[0]} {args[1]}".rstrip()
    if method == "run_cell_magic":
        return f"%%{args[0]} {args[1]}".rstrip()
    if method in ("system", "getoutput"):
        return f"!{args[0]}"
    return f"get_ipython().{method}(...)"


def _translate_statement(method: str, args: list, indent: str, depth: int) -> tuple[list[str], str]:
    """Replacement lines for a statement that is only an IPython call, and the note."""
    label = _label(method, args)
    if method == "run_line_magic":
        name, line = args[0], args[1]
        if name in _TIMING and line.strip():
            return [indent + line.strip()], f"{label}: runs the statement, without timing"
        if name == "env" and line.strip():
            key, _, value = (line.strip().partition("=") if "=" in line
                             else line.strip().partition(" "))
            return ([indent + f"__import__('os').environ[{key.strip()!r}] = {value.strip()!r}"],
                    f"{label}: translated to os.environ")
        if name == "cd" and line.strip():
            return ([indent + f"__import__('os').chdir({line.strip()!r})"],
                    f"{label}: translated to os.chdir")
        if name in ("pip", "conda", "mamba") and "install" in line:
            return ([indent + "pass"],
                    f"{label}: dropped (use --requirements FILE to install packages)")
        return [indent + "pass"], f"{label}: dropped (IPython only)"
    if method == "system":
        command = args[0]
        if _INSTALLERS.match(command):
            return ([indent + "pass"],
                    f"{label}: dropped (use --requirements FILE to install packages)")
        return ([indent + f"__import__('subprocess').run({_expanded(command)}, shell=True)"],
                f"{label}: translated to subprocess.run")
    if method == "run_cell_magic" and depth == 0:
        name, line, body = args
        if name in _BODY_CELLS:
            inner = _to_python(body, depth + 1)
            lines = [indent + text if text else text for text in inner.text.splitlines()]
            return lines or [indent + "pass"], f"%%{name}: runs the cell body" + (
                "; " + "; ".join(inner.notes) if inner.notes else "")
        if name in _SHELL_CELLS:
            program = {"bash": "bash", "sh": "sh"}.get(name)
            if program is None and name == "script" and line.strip():
                program = line.split()[0]
            call = (f"[{program!r}, '-c', {body!r}]" if program else f"{body!r}, shell=True")
            return ([indent + f"__import__('subprocess').run({call})"],
                    f"%%{name}: runs in the job's shell ({program or 'sh'}), as in the kernel")
        if name in ("writefile", "file") and line.strip():
            return _writefile(indent, line, body)
    return [indent + "pass"], f"{label}: dropped (IPython only)"


def _expanded(command: str) -> str:
    """The command as Python source: with IPython's ``{expr}``/``$name`` expansion when it has
    any (done in the job by the bundle's ``fairing_shell.py``, as IPython does it)."""
    if "{" not in command and "$" not in command:
        return repr(command)
    return f"__import__('fairing_shell').expand({command!r}, {{**globals(), **locals()}})"


def _writefile(indent: str, line: str, body: str) -> tuple[list[str], str]:
    """``%%writefile [-a] FILE``: write the body and print what IPython prints."""
    words = line.split()
    append = "-a" in words or "--append" in words
    target = [w for w in words if not w.startswith("-")][-1]
    verb = "Appending to" if append else "Overwriting"
    return ([indent + f"print(({verb + ' '!r} if __import__('os').path.exists({target!r}) "
                      f"else 'Writing ') + {target!r})",
             indent + f"open({target!r}, {'a' if append else 'w'!r}, encoding='utf-8')"
                      f".write({body!r})"],
            f"%%writefile {target}: writes the file in the job's working folder, as in the kernel")


def _translate_expression(method: str, args: list) -> tuple[str, str] | None:
    """Replacement text for an IPython call used as a value (``x = !ls``)."""
    label = _label(method, args)
    if method == "getoutput":
        return (f"__import__('subprocess').run({_expanded(args[0])}, shell=True, "
                f"capture_output=True, text=True).stdout.splitlines()",
                f"{label}: translated to subprocess output lines")
    if method == "run_line_magic" and args[0] in _TIMING and args[1].strip():
        return f"({args[1].strip()})", f"{label}: evaluates the expression, without timing"
    if method == "run_line_magic" and args[0] == "pwd":
        return "__import__('os').getcwd()", f"{label}: translated to os.getcwd()"
    return None


def _splice(text: str, tree: ast.Module, depth: int) -> tuple[str, list[tuple[int, str]]]:
    lines = text.splitlines()
    edits: list[tuple[int, int, list[str]]] = []  # (first line index, last line index, new lines)
    notes: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr):
            call = _ipython_call(node.value)
            if call is None:
                continue
            indent = lines[node.lineno - 1][: node.col_offset]
            new, note = _translate_statement(call[0], call[1], indent, depth)
            edits.append((node.lineno - 1, node.end_lineno - 1, new))
            notes.append((node.lineno, note))
        elif (isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
              and node.value is not None):
            call = _ipython_call(node.value)
            if call is None:
                continue
            done = _translate_expression(call[0], call[1])
            if done is None:
                raise CaptureError(
                    f"line {node.lineno}: {_label(*call)} gives a value that only exists inside "
                    "IPython; compute it with plain Python in the cell instead."
                )
            value = node.value
            first = lines[value.lineno - 1]
            last = lines[value.end_lineno - 1]
            merged = first[: value.col_offset] + done[0] + last[value.end_col_offset:]
            edits.append((value.lineno - 1, value.end_lineno - 1, [merged]))
            notes.append((node.lineno, done[1]))
    for first, last, new in sorted(edits, reverse=True):
        lines[first: last + 1] = new
    return "\n".join(lines) + ("\n" if lines else ""), notes


def _to_python(cell: str, depth: int = 0) -> PythonSource:
    try:
        return PythonSource(cell, ast.parse(cell))
    except SyntaxError:
        pass
    text = _transformer().transform_cell(cell)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise CaptureError(
            f"the cell has a syntax error on line {exc.lineno}: {exc.msg}. "
            "Fix it and run the cell again."
        ) from None
    if "get_ipython" not in text:
        return PythonSource(text, tree)
    new_text, notes = _splice(text, tree, depth)
    try:
        new_tree = ast.parse(new_text)
    except SyntaxError as exc:  # a translation we cannot express in place
        raise CaptureError(
            f"IPython syntax on line {exc.lineno} cannot be turned into plain Python; "
            "write that line in plain Python."
        ) from None
    notes.sort()
    return PythonSource(new_text, new_tree, tuple(n for _, n in notes),
                        tuple(line for line, _ in notes))


@lru_cache(maxsize=4096)
def to_python(cell: str) -> PythonSource:
    """``cell`` (which may hold IPython syntax) as plain Python; raises CaptureError on a syntax
    error.

    Cached by cell text: history cells are converted once per kernel, not once per capture.
    """
    return _to_python(cell)
