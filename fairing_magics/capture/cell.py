"""capture_cell: a notebook cell plus exactly what it needs from the live kernel, as a Bundle.

The bundle's ``main.py`` is written for a person to read::

    # header: what this is, which values are loaded from the one pickle
    import ...                      # modules and imported names the code uses
    name = <literal>                # small values nothing else shares, as source
    def helper(...): ...            # notebook functions and classes, in dependency order
    # --- cell ---
    <the cell, IPython syntax turned into plain Python>

Everything else goes into ONE pickle (``values.pkl``): the values, the live state of the
definitions (defaults, closures, class attributes that moved on since their cell ran) and the
library settings. The bootstrap runs main.py part by part, each definition and the cell under
the file name and line IPython gave it; the pickle loads after the definitions (or just before
the first one that needs a pickled value), the live state and settings are put back, and the
cell runs. The capture report says what was carried and why.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fairing_magics.capture.bundle import Bundle, CaptureReport, PackageInfo, ValueInfo
from fairing_magics.capture.files import collect_includes, collect_local_modules
from fairing_magics.capture.history import usable_cells
from fairing_magics.capture.live import live_state
from fairing_magics.capture.names import find_free_names, find_imported_modules
from fairing_magics.capture.origin import (
    Origin,
    cell_filename,
    code_of,
    kernel_shell,
    stable_filename,
)
from fairing_magics.capture.paths import (
    collect_named_files,
    path_candidates,
    path_hints_env,
    source_path_candidates,
)
from fairing_magics.capture.requirements import (
    find_package,
    loaded_with,
    pin_requirements,
    requirement_lines,
)
from fairing_magics.capture.resolve import Resolution, resolve_names
from fairing_magics.capture.strings import (
    attribute_chains,
    names_in_strings,
    source_chains,
    submodule_imports,
)
from fairing_magics.capture.syntax import to_python
from fairing_magics.capture.values import capture_value, pickle_state
from fairing_magics.errors import CaptureError
from fairing_magics.runtime.settings import SETTINGS, encode_setting

CELL_MARKER = "# --- cell ---"
DEFAULT_VALUE_LIMIT = 100 * 2**20
DEFAULT_FILE_LIMIT = 20 * 2**20  # files the code names, shipped without --include


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


@dataclass
class _Program:
    """main.py as text, and its parts for the bootstrap (see :func:`_render_main`)."""

    text: str
    segments: list[dict]
    load_at: int  # index of the segment before which the pickle loads


def _blank_future_imports(text: str, tree: ast.Module) -> tuple[list[str], str]:
    """``from __future__`` lines of the cell (they open main.py; the bootstrap compiles every
    part with their flags) and the cell with those lines left blank, so its lines keep their
    numbers."""
    lines = text.splitlines()
    future: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and not future:
            continue  # a docstring may precede them
        if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            break
        span = range(node.lineno - 1, node.end_lineno)
        future.append(" ".join(lines[i].strip() for i in span))
        for i in span:
            lines[i] = ""
    return future, "\n".join(lines) + "\n"


def _render_main(res: Resolution, order: list[str], cell_text: str, tree: ast.Module, *,
                 inlined: set[str], pickled: list[str], submodules: tuple[str, ...],
                 origins: dict[str, Origin], cell_origin: Origin | None, load_before: str | None) -> _Program:
    future, cell_text = _blank_future_imports(cell_text, tree)
    header = [
        "# Captured by fairing_magics from a notebook cell: imports, definitions, then the cell.",
        "# Run it with `python fairing_bootstrap.py` in this folder.",
    ]
    if pickled:
        header.append("# Loaded into __main__ from values.pkl (one pickle): " + ", ".join(pickled))
    header.extend(future)
    sections = ["\n".join(header)]  # sections are separated by one blank line, definitions by two
    imports = _import_statements(res)
    if imports:
        sections.append("\n".join(imports))
    if submodules:
        sections.append("\n".join(f"__import__({m!r})  # reached by attribute in the kernel" for m in submodules))
    literals = [res.values[n].source.rstrip("\n") for n in sorted(res.values) if n in inlined]
    if literals:
        sections.append("\n".join(literals))
    text = "\n\n".join(sections) + "\n"
    segments = [{"kind": "prelude", "name": "", "first": 1, "last": text.count("\n"), "filename": "", "line": 1}]
    load_at = None
    for name in order:
        block = (f"{name} = {res.aliases[name].target}" if name in res.aliases
                 else res.definitions[name].source.rstrip("\n"))
        text += "\n\n"
        first = text.count("\n") + 1
        text += block + "\n"
        origin = origins.get(name)
        if name == load_before:
            load_at = len(segments)
        segments.append({"kind": "definition", "name": name, "first": first, "last": text.count("\n"),
                         "filename": origin.filename if origin else "", "line": origin.line if origin else first})
    text += "\n\n" + CELL_MARKER + "\n"
    first = text.count("\n") + 1
    text += cell_text.rstrip("\n") + "\n"
    segments.append({"kind": "cell", "name": "", "first": first, "last": text.count("\n"),
                     "filename": cell_origin.filename if cell_origin else "",
                     "line": cell_origin.line if cell_origin else first})
    return _Program(text, segments, len(segments) - 1 if load_at is None else load_at)


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


def _definition_origins(res: Resolution, cells: Sequence[str], namespace: Mapping, shell,
                        env: dict[str, str]) -> dict[str, Origin]:
    """The kernel's file name and first line of each captured definition."""
    origins = {}
    for name, definition in res.definitions.items():
        filename = cell_filename(shell, cells[definition.cell_index], ran=True)
        if filename is None:
            code = code_of(namespace.get(name))
            if code is None or code.co_filename.startswith("<string"):
                continue
            filename = code.co_filename
        stable, more = stable_filename(filename)
        env.update(more)
        origins[name] = Origin(stable, definition.line)
    return origins


_GLOBAL_RNG = re.compile(r"\brandom\.(?!default_rng|Generator|RandomState|SeedSequence|BitGenerator|PCG64|"
                         r"MT19937|Philox|SFC64)[a-z_]+\s*\(")
_SEEDED = re.compile(r"\brandom\.seed\s*\(")


def _settings(res: Resolution, texts: list[str], cells: Sequence[str]) -> list[tuple[str, object]]:
    """Library settings to carry (see :mod:`fairing_magics.runtime.settings`), read now."""
    modules = {m.split(".")[0] for m in res.modules}
    modules |= {type(v.obj).__module__.split(".")[0] for v in res.values.values()}
    # a DataFrame that statsmodels prints follows pandas' options: libraries loaded with count
    modules |= loaded_with(modules, {e.module for e in SETTINGS if e.module} - modules)
    draws = any(_GLOBAL_RNG.search(text) for text in texts)
    draws = draws or any(line.module.split(".")[0] in ("random", "numpy") and line.module.endswith("random")
                         and line.attr and line.attr[:1].islower() for line in res.imports.values())
    seeded = any("seed" in cell and _SEEDED.search(cell) for cell in cells)
    out = []
    for entry in SETTINGS:
        if entry.module is not None and (entry.module not in modules or entry.module not in sys.modules):
            continue
        if entry.random_state and not (draws or seeded):
            continue
        try:
            snapshot = entry.read(modules)
        except Exception:  # noqa: BLE001 - a library that cannot say: nothing carried
            continue
        if snapshot is not None:
            out.append((entry.name, snapshot))
    return out


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
    file_limit: int = DEFAULT_FILE_LIMIT,
    injected: Mapping[str, str] | None = None,
) -> Bundle:
    """Capture ``cell`` and what it needs from the kernel into a :class:`Bundle`.

    ``namespace`` is the kernel's user namespace, ``history`` its raw input cells in order
    (``%%fairing_train`` cells are skipped: they ran elsewhere). ``cwd`` is the notebook's
    working folder: modules under it are shipped as files, ``includes`` are relative to it, and
    files the code names by a string literal are shipped while they fit in ``file_limit``
    bytes. ``requirements`` is ``"auto"`` (pinned from the installed packages), ``"none"`` or a
    requirements file. ``outputs`` are recorded in the manifest. A value whose pickle is larger
    than ``value_limit`` bytes is refused.

    Raises CaptureError for a syntax error, a name defined nowhere, or a value that cannot be
    pickled or is too large; the message says what to do.

    ``injected`` names values the run is given instead (a sweep's parameters: name -> ``float``,
    ``int``, ``bool`` or ``str``): the cell may read them although the kernel does not define
    them; the manifest lists them and the runtime sets each from ``FAIRING_PARAM_<name>``.
    """
    cwd = Path(cwd if cwd is not None else os.getcwd()).resolve()
    python = to_python(cell)
    free = find_free_names(python.tree)
    injected = dict(injected or {})
    free_names = {name: immediate for name, immediate in free.free.items() if name not in injected}
    soft = [n for n in names_in_strings(python.tree) if n not in free.bound and n not in injected]
    cells = usable_cells(history)
    if cells and cells[-1].strip() == cell.strip():
        cells = cells[:-1]
    res = resolve_names(free_names, namespace, cells, lazy=free.lazy, soft=soft)
    res.modules.update(find_imported_modules(python.tree))
    for module in free.star_imports:
        res.modules.add(module)
    shell = kernel_shell(namespace)
    runtime_env: dict[str, str] = path_hints_env(cwd)

    settings = _settings(res, [python.text, *(d.source for d in res.definitions.values())], cells)
    by_name = {entry.name: entry for entry in SETTINGS}
    encoded = [[name, data] for name, snapshot in settings
               if (data := encode_setting(by_name[name], snapshot)) is not None]
    pickled_settings = [(n, snap) for n, snap in settings if n not in {e[0] for e in encoded}]
    moved: list[str] = []
    for _ in range(3):  # a class whose instances are pickled by value is pickled too (below)
        order = _order_definitions(res)
        live, carried = {}, []
        for name in order:
            if name in res.definitions:
                state = live_state(name, namespace.get(name), res.definitions[name].source)
                if state.patch:
                    live[name] = state.patch
                    carried.extend(state.notes)
        mutable_literals = {n: v.obj for n, v in res.values.items()
                            if v.info.as_source and isinstance(v.obj, (list, dict, set))}
        to_pickle = {n: v.obj for n, v in res.values.items() if not v.info.as_source}
        may_pickle = set(to_pickle) | set(mutable_literals)
        load_before = next((n for n in order if res.deps.get(n, set()) & may_pickle), None)
        before = order[: order.index(load_before)] if load_before else order
        main_refs = {id(namespace[n]): n for n in before if n in res.definitions and n in namespace}
        pickled = pickle_state(to_pickle, mutable_literals, live, pickled_settings, namespace=namespace,
                               main_refs=main_refs, limit=value_limit)
        conflicts = sorted(c for c in pickled.main_classes if c in res.definitions and c not in before
                           and res.definitions[c].kind == "class" and isinstance(namespace.get(c), type))
        if not conflicts:
            break
        for name in conflicts:
            del res.definitions[name]
            res.deps.pop(name, None)
            res.values[name] = capture_value(name, namespace[name])
            moved.append(name)
    res.modules.update(pickled.modules)
    provided = {m for m in res.modules if m.split(".")[0] == "fairing_magics"}
    res.modules -= provided  # the run's runtime provides it (log_metric): not shipped, not installed
    for name in moved:
        res.notes.append(f"class {name}: pickled (not shipped as source) because values of it are "
                         "pickled before it could be defined; this keeps isinstance() true for them")

    sources = [d.source for d in res.definitions.values()]
    local = collect_local_modules(res.modules, cwd, data_limit=file_limit)
    files = dict(local.files)
    for rel, data in collect_includes(includes, cwd).items():
        files[rel] = data
    candidates = [*path_candidates(python.tree), *(c for s in sources for c in source_path_candidates(s))]
    named = collect_named_files(candidates, cwd, file_limit, already=files)
    files.update(named.files)
    value_order = [entry.split(":", 1)[1] for entry in pickled.order if entry.startswith("value:")]
    packages, req_lines, req_notes = _requirements(
        res, local.third_party, local.modules, requirements, cwd, bool(pickled.data or outputs))

    cell_name = cell_filename(shell, cell, ran=False)
    cell_origin = None
    if cell_name is not None:
        stable, more = stable_filename(cell_name)
        runtime_env.update(more)
        cell_origin = Origin(stable, 1)
    origins = _definition_origins(res, cells, namespace, shell, runtime_env)
    chains = [*attribute_chains(python.tree), *(c for s in sources for c in source_chains(s))]
    submodules = submodule_imports(chains, {n: i.module for n, i in res.imports.items() if not i.attr})
    inlined = {n for n, v in res.values.items() if v.info.as_source and n not in value_order}
    program = _render_main(res, order, python.text, python.tree, inlined=inlined,
                           pickled=sorted(value_order), submodules=submodules, origins=origins,
                           cell_origin=cell_origin, load_before=load_before)
    doc = namespace.get("__doc__")
    manifest_program = {
        "segments": program.segments,
        "load_at": program.load_at,
        "pickle_order": list(pickled.order),
        "settings": encoded,
        "future": [line for line in program.text.splitlines() if line.startswith("from __future__ import")],
        "doc": doc if isinstance(doc, str) else None,
        "has_doc": "__doc__" in namespace,
        "name": namespace.get("__name__", "__main__") if isinstance(namespace.get("__name__"), str) else "__main__",
        "file": "__file__" in namespace,
        "absolute_paths": named.absolute,
    }
    cell_notes = [f"line {line}: {note}" for line, note in zip(python.note_lines, python.notes, strict=True)]
    notes = [*cell_notes, *res.notes, *local.notes, *named.notes, *req_notes]
    if provided:
        notes.append("fairing_magics: provided by the run's runtime (log_metric), not installed")
    if injected:
        notes.append("parameters set by each trial: " + ", ".join(
            f"{name} ({kind})" for name, kind in sorted(injected.items())))
    version = _python_version()
    infos = []
    for name in sorted(res.values):
        info = res.values[name].info
        if name in pickled.sizes:  # pickled (a shared literal too)
            info = ValueInfo(name, info.type_name, pickled.sizes[name], as_source=False)
        infos.append(info)
    report = CaptureReport(
        source=program.text,
        values=tuple(infos),
        files=tuple((rel, len(data)) for rel, data in sorted(files.items())),
        packages=packages,
        notes=tuple(notes),
        python=version,
        imports=tuple(_import_statements(res)),
        definitions=tuple(order),
        settings=tuple(name for name, _ in settings),
        carried=tuple(carried),
    )
    return Bundle(
        source=program.text,
        values=tuple(value_order),
        pickle=pickled.data,
        files=dict(sorted(files.items())),
        requirements=req_lines,
        outputs=tuple(outputs),
        python=version,
        program=manifest_program,
        runtime_env=runtime_env,
        report=report,
        parameters=dict(sorted(injected.items())),
    )
