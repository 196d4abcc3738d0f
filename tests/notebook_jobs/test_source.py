"""Reading a notebook to run, papermill's parameters, and what a notebook job ships: pure, no
kernel, no services."""

from __future__ import annotations

import json

import nbformat
import pytest

from fairing_magics.errors import ConfigError
from fairing_magics.notebook.capture import capture_notebook, kernel_requirements
from fairing_magics.notebook.source import (
    inject_parameters,
    parse_parameters,
    read_notebook,
)
from tests.notebook_jobs.notebooks import write_notebook


def _text(cell: dict) -> str:
    """A cell's source as text (a file keeps it as a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_parameters_take_papermill_types():
    assert parse_parameters(["a=0.5", "n=3", "on=True", "off=False", "none=None", "s=run 1",
                             "e=", "neg=-2", "x=1e3"]) == {
        "a": 0.5, "n": 3, "on": True, "off": False, "none": None, "s": "run 1", "e": "",
        "neg": -2, "x": 1000.0}
    for bad in ("alpha", "1a=2", "=3", "a-b=1"):
        with pytest.raises(ConfigError, match="is not NAME=VALUE"):
            parse_parameters([bad])


def test_parameters_go_after_the_tagged_cell_and_replace_an_injected_one(tmp_path):
    path = write_notebook(tmp_path / "train.ipynb", "print(alpha)", "print(name)",
                          parameters="alpha = 0.1\nname = 'base'", parameters_at=1)
    source = read_notebook(path)
    data, notices = inject_parameters(source, {"alpha": 0.5, "name": "x"})
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    assert [_text(c) for c in code] == ["print(alpha)", "alpha = 0.1\nname = 'base'",
                                           "# Parameters\nalpha = 0.5\nname = 'x'\n", "print(name)"]
    assert code[2]["metadata"]["tags"] == ["injected-parameters"] and notices == []
    nbformat.validate(nbformat.from_dict(data))
    # A notebook that already has an injected cell (papermill's output run again) gets one.
    path.write_text(json.dumps(data))
    again, _ = inject_parameters(read_notebook(path), {"alpha": 0.9})
    injected = [_text(c) for c in again["cells"]
                if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected == ["# Parameters\nalpha = 0.9\n"]


def test_no_parameters_cell_is_a_notice_and_the_parameters_go_first(tmp_path):
    source = read_notebook(write_notebook(tmp_path / "plain.ipynb", "print(alpha)"))
    data, notices = inject_parameters(source, {"alpha": 2})
    assert _text(data["cells"][0]) == "# Parameters\nalpha = 2\n"
    assert len(notices) == 1 and "has no cell tagged 'parameters'" in notices[0]
    assert "alpha" in notices[0]
    tagged = read_notebook(write_notebook(tmp_path / "t.ipynb", "x", parameters="alpha = 1"))
    _, notices = inject_parameters(tagged, {"alpha": 2, "beta": 3})
    assert notices == ["Passed unknown parameter: beta (the 'parameters' cell does not set it)"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("this is not json", "is not a notebook: it is not JSON"),
    ('{"cells": []}', "JSON without 'cells' and 'nbformat'"),
    ('{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     r"is not a valid notebook \(nbformat 4\): .*missing an expected key"),
])
def test_a_notebook_that_cannot_run_is_one_clear_message(tmp_path, content, message):
    path = tmp_path / "broken.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_notebook(path)


def test_missing_suffix_folder_no_code_and_other_languages_are_named(tmp_path):
    write_notebook(tmp_path / "train.ipynb", "1")
    with pytest.raises(ConfigError, match=r"did you mean train\.ipynb"):
        read_notebook("train", cwd=tmp_path)
    with pytest.raises(ConfigError, match="is a folder"):
        read_notebook(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("only words")]
    nbformat.write(nb, tmp_path / "words.ipynb")
    with pytest.raises(ConfigError, match="has no code cell"):
        read_notebook(tmp_path / "words.ipynb")
    nb.cells = [nbformat.v4.new_code_cell("println(1)")]
    nb.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    nbformat.write(nb, tmp_path / "julia.ipynb")
    with pytest.raises(ConfigError, match="written in julia"):
        read_notebook(tmp_path / "julia.ipynb")


def test_the_bundle_ships_the_notebook_its_modules_and_pinned_imports(tmp_path):
    (tmp_path / "helpers.py").write_text("import json\ndef double(v):\n    return 2 * v\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    path = write_notebook(tmp_path / "train.ipynb", "import helpers\nimport numpy as np",
                          "%time y = helpers.double(alpha)", parameters="alpha = 1")
    bundle, notices = capture_notebook(read_notebook(path), {"alpha": 3}, includes=["data.csv"])
    assert notices == []
    assert set(bundle.files) == {"train.ipynb", "helpers.py", "data.csv"}
    shipped = json.loads(bundle.files["train.ipynb"])
    assert any(_text(c) == "# Parameters\nalpha = 3\n" for c in shipped["cells"])
    import numpy

    assert f"numpy=={numpy.__version__}" in bundle.requirements
    kernel = {f"{p.dist}=={p.version}" for p in kernel_requirements()}
    assert kernel <= set(bundle.requirements)
    assert {"nbclient", "ipykernel", "nbformat", "jupyter_client", "pyzmq"} <= \
        {line.split("==")[0].lower().replace("-", "_") for line in bundle.requirements} | {"pyzmq"}
    assert bundle.source.rstrip().endswith("run_notebook('train.ipynb', output_name='train.ipynb', "
                                           "outputs=[])")
    assert "--- cell" in bundle.source  # the runner's text is in main.py, readable


def test_the_same_notebook_gives_the_same_bundle_whatever_its_saved_outputs(tmp_path):
    path = write_notebook(tmp_path / "train.ipynb", "print(1)", parameters="alpha = 1")
    first, _ = capture_notebook(read_notebook(path), {"alpha": 2})
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[2].execution_count = 7
    nbformat.write(nb, path)
    second, _ = capture_notebook(read_notebook(path), {"alpha": 2})
    third, _ = capture_notebook(read_notebook(path), {"alpha": 3})
    assert first.digest == second.digest != third.digest
