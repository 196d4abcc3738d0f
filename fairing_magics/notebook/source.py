"""A notebook to run as a job: read and checked, its parameters injected the way papermill does.

- :func:`read_notebook` refuses, in one line each, a path that is not there, a file that is not a
  notebook (JSON, nbformat 4) or a notebook with no code to run.
- :func:`parse_parameters` reads ``-p NAME=VALUE`` flags: ``True``/``False``/``None``, integers and
  floats become those, anything else stays a string (papermill's ``-p``).
- :func:`inject_parameters` puts a cell tagged ``injected-parameters`` after the cell tagged
  ``parameters`` (replacing an injected cell already there, as papermill does on a re-run of its
  own output); with no ``parameters`` cell the new cell goes first and a notice says so. A name
  the ``parameters`` cell does not assign gets a notice too ("Passed unknown parameter").
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fairing_magics.errors import ConfigError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


@dataclass(frozen=True)
class NotebookSource:
    """A notebook read from ``path``: its folder is the job's working folder. ``data`` is the
    file's JSON as it is (what is shipped, so the same file always gives the same bundle);
    ``notebook`` the same, read and validated by nbformat."""

    path: Path
    data: dict
    notebook: object  # nbformat.NotebookNode

    @property
    def name(self) -> str:
        """The file name without ``.ipynb``."""
        return self.path.name[:-len(".ipynb")] if self.path.name.endswith(".ipynb") else self.path.stem

    @property
    def folder(self) -> Path:
        return self.path.parent

    def code_cells(self) -> list:
        return [c for c in self.notebook.cells if c.cell_type == "code" and c.source.strip()]

    def executed_path(self, run: str) -> Path:
        """Where the executed notebook of ``run`` goes: ``NAME.<run>.ipynb`` next to the source."""
        return self.folder / f"{self.name}.{run}.ipynb"


def read_notebook(path: str | Path, *, cwd: Path | None = None) -> NotebookSource:
    """The notebook at ``path`` (relative to ``cwd``); ConfigError saying what is wrong."""
    import nbformat

    given = Path(path).expanduser()
    full = (Path(cwd) / given if cwd is not None and not given.is_absolute() else given).resolve()
    if not full.exists():
        hint = ""
        if not full.name.endswith(".ipynb") and full.with_name(full.name + ".ipynb").exists():
            hint = f" (did you mean {given}.ipynb?)"
        raise ConfigError(f"notebook {str(given)!r} does not exist{hint}: give the path of an "
                          f".ipynb file, relative to {Path(cwd or Path.cwd())}")
    if full.is_dir():
        raise ConfigError(f"{str(given)!r} is a folder: give the path of an .ipynb file in it")
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read notebook {str(given)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{str(given)!r} is not a notebook: it is not JSON ({exc}). Save it from "
                          "Jupyter, or convert a script with jupytext") from None
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise ConfigError(f"{str(given)!r} is not a notebook: JSON without 'cells' and 'nbformat'")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # noqa: BLE001 - nbformat's ValidationError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{str(given)!r} is not a valid notebook (nbformat 4): {first}. Open and "
                          "save it in Jupyter to repair it") from None
    source = NotebookSource(full, data, notebook)
    if not source.code_cells():
        raise ConfigError(f"notebook {str(given)!r} has no code cell to run")
    language = (notebook.metadata.get("kernelspec") or {}).get("language") or \
        (notebook.metadata.get("language_info") or {}).get("name") or "python"
    if language != "python":
        raise ConfigError(f"notebook {str(given)!r} is written in {language}; notebook jobs run "
                          "Python notebooks (an ipykernel)")
    return source


def _resolve(value: str):
    """papermill's ``-p`` value types: bools, None, int, float, else the string."""
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def parse_parameters(pairs: Sequence[str]) -> dict:
    """``["alpha=0.5", "name=run 1"]`` -> ``{"alpha": 0.5, "name": "run 1"}``."""
    parameters: dict = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"-p {pair!r} is not NAME=VALUE with NAME a Python variable name "
                              "(e.g. -p alpha=0.5)")
        parameters[name] = _resolve(value)
    return parameters


def _assigned_names(source: str) -> set[str] | None:
    """Names a parameters cell assigns, or None when it cannot be read as Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def parameters_source(parameters: Mapping) -> str:
    """The injected cell's text: ``# Parameters`` and one ``name = repr(value)`` a line."""
    return "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())


def inject_parameters(source: NotebookSource, parameters: Mapping) -> tuple[dict, list[str]]:
    """The notebook to ship (its JSON) with ``parameters`` injected, and the notices to show.

    Outputs and execution counts of the source are cleared (the job makes its own; they are not
    inputs, so a notebook saved after running it interactively gives the same bundle)."""
    data = copy.deepcopy(source.data)
    for cell in data["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
    notices: list[str] = []
    if not parameters:
        return data, notices
    cells = [c for c in data["cells"] if INJECTED_TAG not in _tags(c)]
    position = next((i for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c)), None)
    if position is None:
        notices.append(f"{source.path.name} has no cell tagged 'parameters': the parameters "
                       f"({', '.join(parameters)}) were put in a new first cell (tag a cell "
                       "'parameters' to choose where; papermill does the same)")
        insert_at = 0
    else:
        insert_at = position + 1
        assigned = _assigned_names(_text(cells[position]))
        if assigned is not None:
            for name in parameters:
                if name not in assigned:
                    notices.append(f"Passed unknown parameter: {name} (the 'parameters' cell "
                                   "does not set it)")
    cell = {"cell_type": "code", "execution_count": None, "metadata": {"tags": [INJECTED_TAG]},
            "outputs": [], "source": parameters_source(parameters)}
    if (data.get("nbformat"), data.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = INJECTED_TAG  # fixed, not random: the same parameters, the same bundle
    cells.insert(insert_at, cell)
    data["cells"] = cells
    return data, notices


def notebook_bytes(data: dict) -> bytes:
    """The notebook's JSON as nbformat writes it (sorted keys, one-space indent)."""
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _tags(cell: dict) -> list:
    return (cell.get("metadata") or {}).get("tags") or []


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source
