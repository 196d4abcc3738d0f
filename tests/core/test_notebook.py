"""Notebooks executed in a real Jupyter kernel with nbclient, as papermill and CI would."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.ipynb"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    return tmp_path


def _execute(nb, folder: Path, **kwargs):
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}, **kwargs)
    client.execute()
    return nb


def _text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def _notebook(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_quickstart_runs_remote_and_outputs_equal_local_fit(kernel_env):
    nb = nbformat.read(QUICKSTART, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import os\nprint('kernel pid', os.getpid())"))
    _execute(nb, QUICKSTART.parent)
    train_cell = next(c for c in nb.cells if c.source.startswith("%%fairing_train"))
    train_out = _text(train_cell)
    assert "epoch=0 loss=" in train_out and "remote: weight=" in train_out
    assert "Succeeded" in train_out
    remote_pid = int(train_out.split("training in process ")[1].split()[0])
    kernel_pid = int(_text(nb.cells[-1]).split("kernel pid ")[1].split()[0])
    assert remote_pid != kernel_pid
    compare = "".join(_text(c) for c in nb.cells if "the remote fit equals" in c.source)
    assert "the remote fit equals the local fit" in compare
    assert "linreg-" in "".join(_text(c) for c in nb.cells if c.source.strip() == "%fairing_jobs")
    served = "".join(_text(c) for c in nb.cells if "endpoint.predict" in c.source)
    kernel_line = [line for line in served.splitlines() if line.startswith("kernel:")][0]
    # served == kernel predictions
    assert served.count(kernel_line.replace("kernel:", "served:")) == 1
    assert "deleted" in "".join(_text(c) for c in nb.cells if "%fairing_undeploy" in c.source)


HEADLESS_TEXT = ROOT / "build" / "quickstart-headless.txt"


def test_quickstart_headless_with_the_default_ui_saves_the_panel_as_text(tmp_path, monkeypatch):
    """nbclient (as papermill) with the default ui: the kernel shows widgets, nobody renders them;
    the saved notebook's output of the training cell is the panel as readable text."""
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRING_UI", raising=False)
    nb = nbformat.read(QUICKSTART, as_version=4)
    _execute(nb, QUICKSTART.parent)
    train_cell = next(c for c in nb.cells if c.source.startswith("%%fairing_train"))
    shown = _text(train_cell)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in train_cell.outputs)
    assert "VBox(" not in shown and "HTML(value=" not in shown
    header, stages = shown.splitlines()[:2]
    assert header.startswith("linreg-") and " · local · Succeeded · " in header
    assert stages.startswith("stages: ✓ capture") and "✓ run" in stages
    assert ("training in process" in shown and "epoch=1000 loss=" in shown
            and "remote: weight=" in shown)
    assert "metrics: loss " in shown and "(step 1000," in shown and "6 values" in shown
    assert "Succeeded: succeeded in" in shown
    duration = header.rsplit(" · ", 1)[1]
    assert f"succeeded in {duration} " in shown  # one duration: the header's and the summary's
    HEADLESS_TEXT.parent.mkdir(parents=True, exist_ok=True)
    HEADLESS_TEXT.write_text(shown, encoding="utf-8")


def test_remote_exception_fails_notebook_with_remote_traceback(kernel_env):
    nb = _notebook("%load_ext fairing_magics",
                   "def check(v):\n    if v > 1:\n        raise ValueError(f'too big: {v}')",
                   "%%fairing_train\ncheck(5)",
                   "print('must not run')")
    with pytest.raises(CellExecutionError) as info:
        _execute(nb, kernel_env)
    message = str(info.value)
    assert "JobFailed" in message and "ValueError: too big: 5" in message
    assert "raise ValueError" in message  # the remote traceback
    assert not nb.cells[3].get("outputs")


def test_bad_flag_fails_notebook_with_one_line_usage_error(kernel_env):
    nb = _notebook("%load_ext fairing_magics", "%%fairing_train --gpus-please 3\nprint('x')")
    with pytest.raises(CellExecutionError) as info:
        _execute(nb, kernel_env)
    shown = _text(nb.cells[1])
    assert "UsageError: unknown flag --gpus-please: did you mean --gpus?" in shown
    assert "Traceback" not in shown and len(shown.strip().splitlines()) == 1
    assert "UsageError" in str(info.value)


def test_widget_panel_holds_header_stages_logs_and_summary(kernel_env, monkeypatch):
    monkeypatch.setenv("FAIRING_UI", "widget")
    nb = _notebook("%load_ext fairing_magics",
                   "%%fairing_train --name widgety --outputs n\nfor i in range(3000):\n"
                   "    print('line', i)\nn = 3",
                   "print(n)")
    _execute(nb, kernel_env, store_widget_state=True)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    blob = json.dumps(state)
    assert "fairing-header" in blob and "widgety-" in blob and "Succeeded" in blob
    assert "capture" in blob and "fairing-stages" in blob and "fairing-summary" in blob
    texts = [m["state"].get("value", "") for m in state.values()
             if m.get("model_name") == "HTMLModel"]
    assert any("line 2999" in t for t in texts)
    assert not any("line 0\n" in t for t in texts)  # bounded: only the last lines stay
    assert _text(nb.cells[2]).strip() == "3"
    # the saved output's text is the panel as text (not a "VBox(children=...)" placeholder)
    shown = _text(nb.cells[1])
    assert "VBox" not in shown and shown.startswith("widgety-") and "· local · Succeeded ·" in shown
    assert "log (last 20 of 3000 lines; run.logs() has all):" in shown and "  line 2999" in shown
    assert "Succeeded: succeeded in" in shown
