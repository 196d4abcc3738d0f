"""Notebooks the notebook-job tests write: made with nbformat, as Jupyter saves them."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, *cells: str, parameters: str | None = None,
                   parameters_at: int = 0) -> Path:
    """A notebook of code ``cells``; with ``parameters``, a cell tagged 'parameters' at
    ``parameters_at`` (a markdown title first, as people write them)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = [nbformat.v4.new_code_cell(text) for text in cells]
    if parameters is not None:
        tagged = nbformat.v4.new_code_cell(parameters)
        tagged.metadata["tags"] = ["parameters"]
        code.insert(parameters_at, tagged)
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), *code]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def code_sources(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return "".join(parts)
