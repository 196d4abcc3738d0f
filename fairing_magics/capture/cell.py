"""capture_cell: a notebook cell plus exactly what it needs from the live kernel, as a Bundle.

The bundle's ``main.py`` is written for a person to read::

    # header: what this is, which values are loaded before it runs
    import ...                      # modules and imported names the code uses
    name = <literal>                # small values, as source
    def helper(...): ...            # notebook functions and classes, in dependency order
    # --- cell ---
    <the cell, IPython syntax turned into plain Python>

Bigger values are cloudpickled into ``values/NAME.pkl``; the runtime loads them into
``__main__`` before ``main.py`` runs.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from fairing_magics.capture.bundle import Bundle, CaptureReport, PackageInfo
from fairing_magics.capture.files import collect_includes, collect_local_modules
from fairing_magics.capture.history import usable_cells
from fairing_magics.capture.names import find_free_names, find_imported_modules
from fairing_magics.capture.requirements import find_package, pin_requirements, requirement_lines
from fairing_magics.capture.resolve import DISPLAY_SHIM, Resolution, resolve_names
from fairing_magics.capture.syntax import to_python
from fairing_magics.errors import CaptureError

CELL_MARKER = "# --- cell ---"
DEFAULT_VALUE_LIMIT = 100 * 2**20


def _python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _order_definitions(res: Resolution) -> list[str]:
    """Definitions and aliases, each after what it needs immediately; otherwise history order."""
    def position(name: str) -> tuple:
        if name in res.definitions:
            d = res.definitions[name]
            return (d.cell_index, d.line, name)
        target = res.aliases[name].target
        return (*position(target)[:2], name) if target in res.definitions else (10**9, 0, name)

    names = sorted([*res.definitions, *res.aliases], key=position)
    ordered: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str) -> None:
        if state.get(name):
            return  # done, or a cycle (mutual recursion needs no order)
        state[name] = 1
        for dep in sorted(res.deps.get(name, ()), key=lambda n: position(n) if n in names else (0, 0, n)):
            if dep in res.definitions or dep in res.aliases:
                visit(dep)
        state[name] = 2
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def _import_statements(res: Resolution) -> list[str]:
    plain = sorted(i.statement for i in res.imports.values() if not i.attr)
    froms = sorted(i.statement for i in res.imports.values() if i.attr)
    return plain + froms


def _split_future_imports(text: str, tree: ast.Module) -> tuple[list[str], str]:
    """``from __future__`` lines of the cell (they must open main.py) and the rest of the cell."""
    lines = text.splitlines()
    future: list[str] = []
    cut: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and not future and not cut:
            continue  # a docstring may precede them
        if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            break
        span = range(node.lineno - 1, node.end_lineno)
        future.append(" ".join(lines[i].strip() for i in span))
        cut.update(span)
    rest = "\n".join(line for i, line in enumerate(lines) if i not in cut)
    return future, rest + "\n"


def _render_main(res: Resolution, cell_text: str, tree: ast.Module) -> str:
    pickled = sorted(n for n, v in res.values.items() if not v.info.as_source)
    future, cell_text = _split_future_imports(cell_text, tree)
    header = [
        "# Captured by fairing_magics from a notebook cell: imports, definitions, then the cell.",
        "# Run it with `python fairing_bootstrap.py` in this folder.",
    ]
    if pickled:
        header.append("# Loaded into __main__ before this runs (values/NAME.pkl): " + ", ".join(pickled))
    header.extend(future)
    sections = ["\n".join(header)]  # sections are separated by one blank line, definitions by two
    imports = _import_statements(res)
    if imports:
        sections.append("\n".join(imports))
    literals = [res.values[n].source.rstrip("\n") for n in sorted(res.values) if res.values[n].info.as_source]
    if literals:
        sections.append("\n".join(literals))
    blocks = [DISPLAY_SHIM.rstrip("\n")] if res.display_shim else []
    for name in _order_definitions(res):
        if name in res.aliases:
            blocks.append(f"{name} = {res.aliases[name].target}")
        else:
            blocks.append(res.definitions[name].source.rstrip("\n"))
    text = "\n\n".join(sections) + "\n"
    if blocks:
        text += "\n\n" + "\n\n\n".join(blocks) + "\n"
    return text + "\n\n" + CELL_MARKER + "\n" + cell_text.rstrip("\n") + "\n"


def _requirements(res: Resolution, local_third_party: set[str], local_modules: set[str],
                  requirements: str, cwd: Path, need_cloudpickle: bool):
    modules = {m for m in res.modules if m.split(".")[0] not in {x.split(".")[0] for x in local_modules}}
    packages, notes = pin_requirements(modules | local_third_party)
    packages = list(packages)
    notes = list(notes)
    if need_cloudpickle and not any(p.dist.lower() == "cloudpickle" for p in packages):
        info = find_package("cloudpickle")
        if info is not None:
            packages.append(PackageInfo("cloudpickle", info.dist, info.version, info.reproducible,
                                        "needed by the runtime to load values and return outputs"))
    for pkg in packages:
        if not pkg.reproducible:
            notes.append(f"{pkg.dist} is an {pkg.note}: not reproducible, left out of requirements.txt")
    if requirements == "auto":
        lines = requirement_lines(tuple(packages))
    elif requirements == "none":
        lines = ()
        notes.append("--requirements none: no packages will be installed")
    else:
        path = (cwd / requirements)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CaptureError(f"--requirements {requirements}: cannot read it ({exc.strerror}); "
                               "give a requirements file, 'auto' or 'none'.") from None
        lines = tuple(line.strip() for line in text.splitlines()
                      if line.strip() and not line.strip().startswith("#"))
        notes.append(f"--requirements {requirements}: used instead of the detected packages")
    return tuple(sorted(packages, key=lambda p: p.dist.lower())), lines, notes


def capture_cell(
    cell: str,
    namespace: Mapping,
    history: Sequence[str],
    *,
    cwd: Path | None = None,
    includes: Sequence[str] = (),
    requirements: str = "auto",
    outputs: Sequence[str] = (),
    value_limit: int = DEFAULT_VALUE_LIMIT,
) -> Bundle:
    """Capture ``cell`` and what it needs from the kernel into a :class:`Bundle`.

    ``namespace`` is the kernel's user namespace, ``history`` its raw input cells in order
    (``%%fairing_train`` cells are skipped: they ran elsewhere). ``cwd`` is the notebook's
    working folder: modules under it are shipped as files, ``includes`` are relative to it.
    ``requirements`` is ``"auto"`` (pinned from the installed packages), ``"none"`` or a
    requirements file. ``outputs`` are recorded in the manifest. A value whose pickle is larger
    than ``value_limit`` bytes is refused.

    Raises CaptureError for a syntax error, a name defined nowhere, or a value that cannot be
    pickled or is too large; the message says what to do.
    """
    cwd = Path(cwd if cwd is not None else os.getcwd()).resolve()
    python = to_python(cell)
    free = find_free_names(python.tree)
    cells = usable_cells(history)
    if cells and cells[-1].strip() == cell.strip():
        cells = cells[:-1]
    res = resolve_names(free.free, namespace, cells, value_limit=value_limit)
    res.modules.update(find_imported_modules(python.tree))
    for module in free.star_imports:
        res.modules.add(module)
    provided = {m for m in res.modules if m.split(".")[0] == "fairing_magics"}
    res.modules -= provided  # the run's runtime provides it (log_metric): not shipped, not installed

    local = collect_local_modules(res.modules, cwd)
    files = dict(local.files)
    for rel, data in collect_includes(includes, cwd).items():
        files[rel] = data
    pickled = {n: v.data for n, v in res.values.items() if not v.info.as_source}
    packages, req_lines, req_notes = _requirements(
        res, local.third_party, local.modules, requirements, cwd, bool(pickled or outputs))

    source = _render_main(res, python.text, python.tree)
    cell_notes = [f"line {line}: {note}" for line, note in zip(python.note_lines, python.notes, strict=True)]
    notes = [*cell_notes, *res.notes, *local.notes, *req_notes]
    if provided:
        notes.append("fairing_magics: provided by the run's runtime (log_metric), not installed")
    version = _python_version()
    report = CaptureReport(
        source=source,
        values=tuple(res.values[n].info for n in sorted(res.values)),
        files=tuple((rel, len(data)) for rel, data in sorted(files.items())),
        packages=packages,
        notes=tuple(notes),
        python=version,
        imports=tuple(_import_statements(res)),
        definitions=tuple(_order_definitions(res)),
    )
    return Bundle(
        source=source,
        values=dict(sorted(pickled.items())),
        files=dict(sorted(files.items())),
        requirements=req_lines,
        outputs=tuple(outputs),
        python=version,
        report=report,
    )

