"""A notebook becomes a Bundle that runs it whole (the bundle layout of any captured cell).

::

    bundle/
      main.py            fairing_magics/runtime/notebook.py, then run_notebook("NAME.ipynb", ...)
      files/NAME.ipynb   the notebook, parameters injected, outputs cleared
      files/...          its local modules and --include files (paths relative to its folder)
      requirements.txt   its imports pinned from this environment, and the headless kernel
                         (nbclient, nbformat, ipykernel and everything they need, pinned too)

The job's working folder is the notebook's folder: the runtime copies ``files/`` there, so the
notebook finds its modules and data where it found them here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as metadata
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from fairing_magics.capture.bundle import Bundle, CaptureReport, PackageInfo, runtime_source
from fairing_magics.capture.files import collect_includes, collect_local_modules
from fairing_magics.capture.names import find_imported_modules
from fairing_magics.capture.requirements import find_package, pin_requirements, requirement_lines
from fairing_magics.capture.syntax import to_python
from fairing_magics.errors import CaptureError
from fairing_magics.notebook.source import NotebookSource, inject_parameters, notebook_bytes

#: What the job's headless kernel needs besides the notebook's own imports.
KERNEL_DISTRIBUTIONS = ("nbclient", "nbformat", "ipykernel")


@contextlib.contextmanager
def _importable_from(folder: Path) -> Iterator[None]:
    """Local modules are found the way the notebook's kernel finds them: from its folder."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def kernel_requirements() -> tuple[PackageInfo, ...]:
    """``nbclient``, ``nbformat``, ``ipykernel`` and what they need (their ``Requires-Dist``,
    followed, markers evaluated here), each pinned to the version installed in this kernel, so
    the job's kernel is this one's (the same IPython, the same ipykernel)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging absent: pin the three and let the installer choose the rest
        Requirement = None
    seen: dict[str, PackageInfo] = {}
    todo = list(KERNEL_DISTRIBUTIONS)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in KERNEL_DISTRIBUTIONS:
                raise CaptureError(f"{name} is not installed here, and a notebook job pins it from this "
                                   f"environment: pip install {name}") from None
            continue
        canonical = dist.metadata["Name"] or name
        seen[key] = PackageInfo(canonical, canonical, dist.version, True,
                                "the notebook job's headless kernel")
        if Requirement is None:
            continue
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except Exception:  # noqa: BLE001 - an unreadable requirement is skipped
                continue
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(requirement.name)
    return tuple(sorted(seen.values(), key=lambda p: p.dist.lower()))


def notebook_modules(cells: Sequence[str]) -> tuple[set[str], list[str]]:
    """The modules the notebook's code cells import (IPython syntax allowed), and notes on cells
    that cannot be read (they run, and fail, in the job as they would here)."""
    modules: set[str] = set()
    notes = []
    for index, text in enumerate(cells, start=1):
        try:
            tree = to_python(text).tree
        except CaptureError as exc:
            notes.append(f"code cell {index} cannot be read as Python ({exc}); its imports are not "
                         "pinned")
            continue
        modules |= set(find_imported_modules(tree))
    return modules, notes


def _runner_source(notebook_file: str, outputs: Sequence[str]) -> str:
    body = runtime_source("notebook.py").decode("utf-8")
    call = (f"\n\nrun_notebook({notebook_file!r}, output_name={notebook_file!r}, "
            f"outputs={list(outputs)!r})\n")
    header = ("# A notebook job made by fairing_magics: the runtime below executes "
              f"{notebook_file} headless\n# (nbclient, a fresh ipykernel), then the call at the end "
              "starts it.\n")
    return header + body + call


def capture_notebook(source: NotebookSource, parameters: Mapping, *, includes: Sequence[str] = (),
                     requirements: str = "auto", outputs: Sequence[str] = ()) -> tuple[Bundle, list[str]]:
    """The bundle that runs ``source`` with ``parameters``, and the notices to show (papermill's
    parameter notices, notes on what was not captured)."""
    data, notices = inject_parameters(source, parameters)
    cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
             for c in data["cells"] if c.get("cell_type") == "code"]
    folder = source.folder
    with _importable_from(folder):
        modules, notes = notebook_modules(cells)
        local = collect_local_modules(modules, folder)
        includes_found = collect_includes(includes, folder)
    files = dict(local.files)
    files.update(includes_found)
    notebook_file = source.path.name
    files[notebook_file] = notebook_bytes(data)
    local_tops = {m.split(".")[0] for m in local.modules}
    third_party = {m for m in modules | local.third_party if m.split(".")[0] not in local_tops}
    packages, pin_notes = pin_requirements(third_party)
    packages = list(packages)
    notes += list(pin_notes) + list(local.notes)
    kernel = kernel_requirements()
    taken = {p.dist.lower() for p in packages}
    packages += [p for p in kernel if p.dist.lower() not in taken]
    if outputs and "cloudpickle" not in {p.dist.lower() for p in packages}:
        found = find_package("cloudpickle")
        if found is not None:
            packages.append(found)
    if requirements == "auto":
        lines = requirement_lines(tuple(packages))
    elif requirements == "none":
        lines = requirement_lines(kernel)
        notes.append("--requirements none: only the headless kernel (nbclient, ipykernel) is installed")
    else:
        path = folder / requirements
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CaptureError(f"--requirements {requirements}: cannot read it ({exc.strerror}); give "
                               "a requirements file (relative to the notebook), 'auto' or 'none'.") from None
        given = tuple(line.strip() for line in text.splitlines()
                      if line.strip() and not line.strip().startswith("#"))
        names = {line.split("==")[0].split(">")[0].split("<")[0].strip().lower() for line in given}
        kernel_lines = requirement_lines(tuple(p for p in kernel if p.dist.lower() not in names))
        lines = tuple(sorted(set(given) | set(kernel_lines), key=str.lower))
        notes.append(f"--requirements {requirements}: used instead of the detected packages "
                     "(plus the headless kernel)")
    packages.sort(key=lambda p: p.dist.lower())
    listing = "\n".join(f"[{i}] " + (text.splitlines() or [""])[0][:90]
                        for i, text in enumerate(cells, start=1))
    version = ".".join(str(part) for part in sys.version_info[:3])
    report = CaptureReport(
        source=f"notebook {source.path} ({len(cells)} code cells):\n{listing}",
        files=tuple((rel, len(blob)) for rel, blob in sorted(files.items())),
        packages=tuple(packages), notes=tuple(notes), python=version)
    bundle = Bundle(source=_runner_source(notebook_file, outputs), files=dict(sorted(files.items())),
                    requirements=lines, outputs=tuple(outputs), python=version, report=report)
    return bundle, notices
