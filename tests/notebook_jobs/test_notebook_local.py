"""Notebook jobs on the local backend, end to end: %fairing_notebook and fairing-magics submit
run a real notebook in a fresh headless kernel (nbclient, ipykernel) of a subprocess, with
papermill's parameters, its local module, --include files and --outputs; the executed notebook
comes back next to the source; a failing cell fails the run naming the cell, and its variables
come back for %fairing_debug. Bad input is one clear message and a failed cell."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import nbformat

from fairing_magics.cli import main as cli_main
from tests.notebook_jobs.conftest import run
from tests.notebook_jobs.notebooks import outputs_text, write_notebook

ROOT = Path(__file__).resolve().parents[2]


def _train_notebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpers.py").write_text("def scale(values, by):\n    return [v * by for v in values]\n")
    (folder / "points.csv").write_text("1\n2\n3\n")
    return write_notebook(
        folder / "train.ipynb",
        "import os, helpers\nprint('kernel pid', os.getpid())",
        "values = [float(line) for line in open('points.csv')]\n"
        "scaled = helpers.scale(values, alpha)\nprint(f'loss={sum(scaled):.2f}')",
        "summary = {'alpha': alpha, 'label': label, 'total': sum(scaled)}\nsummary",
        parameters="alpha = 1.0\nlabel = 'base'", parameters_at=0)


def test_a_notebook_runs_remotely_with_parameters_and_comes_back_executed(shell, tmp_path,
                                                                           capsys):
    path = _train_notebook(tmp_path / "project")
    result = run(shell, "nb_run = %fairing_notebook project/train.ipynb -p alpha=2.5 "
                        "-p label='nightly run' --include points.csv --outputs summary")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    run_obj = shell.user_ns["nb_run"]
    assert run_obj.status == "Succeeded" and run_obj.name.startswith("train-")
    # the outputs come back into this kernel, computed with the injected parameters
    assert shell.user_ns["summary"] == {"alpha": 2.5, "label": "nightly run", "total": 15.0}
    # each cell's output streamed into the log, under its cell line; the job's pid is not ours
    assert "--- cell 5 (In [4]) values = [float(line)" in out and "loss=15.00" in out
    remote_pid = int(out.split("kernel pid ")[1].split()[0])
    import os

    assert remote_pid != os.getpid()
    # the executed notebook, next to the source, holds the parameters and the outputs
    executed = tmp_path / "project" / f"train.{run_obj.name}.ipynb"
    assert run_obj.notebook == executed and f"executed notebook: {executed}" in out
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].metadata["tags"] == ["injected-parameters"]
    assert code[1].source == "# Parameters\nalpha = 2.5\nlabel = 'nightly run'\n"
    assert "loss=15.00" in outputs_text(code[3])
    assert "'total': 15.0" in outputs_text(code[4]) and code[4].execution_count == 5
    # the source notebook is untouched
    assert [c.source for c in nbformat.read(path, as_version=4).cells][1] == "alpha = 1.0\nlabel = 'base'"
    # and the run is in storage like any run
    assert (tmp_path / "storage" / "runs" / run_obj.name / "train.ipynb").is_file()


def test_a_failing_cell_fails_the_run_naming_it_and_its_frames_come_back(shell, tmp_path, capsys):
    write_notebook(tmp_path / "fit.ipynb",
                   "def fit(rate):\n    steps = [1, 2, 3]\n    return steps[0] / (rate - rate)",
                   "print('before')",
                   "history = list(range(5))\nresult = fit(0.5)",
                   "print('never runs')")
    result = run(shell, "%fairing_notebook fit.ipynb")
    assert not result.success
    error = result.error_in_exec
    message = str(error)
    assert message.startswith("notebook fit.ipynb failed: cell 4 (In [3]: history = list(range(5))) "
                              "raised ZeroDivisionError: float division by zero")
    run_name = message.split("(run ")[1].split(";")[0]
    executed = tmp_path / f"fit.{run_name}.ipynb"
    assert f"the executed notebook, with the error in it, is {executed}" in message
    assert error.reason == "ZeroDivisionError"
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "ZeroDivisionError: float division by zero" in outputs_text(code[2])
    assert code[3].outputs == [] and code[3].execution_count is None  # never ran
    # the traceback is the cell's own, with its line numbers
    assert "Cell In[1], line 3" in error.remote_traceback or "line 3, in fit" in error.remote_traceback
    # the variables of the failing frames, saved in the job's kernel
    frames = error.frames
    assert [f.function for f in frames] == ["<module>", "fit"]
    assert frames.failing.values() == {"rate": 0.5, "steps": [1, 2, 3]}
    assert frames[0].values()["history"] == [0, 1, 2, 3, 4]
    assert frames.failing.where == "Cell In[1], line 3" and frames[0].where == "Cell In[3], line 2"
    capsys.readouterr()
    assert run(shell, "%fairing_debug").success
    shown = capsys.readouterr().out
    assert "Variables of fit (Cell In[1], line 3): 2 saved" in shown
    assert "now in your namespace: rate, steps" in shown
    assert shell.user_ns["steps"] == [1, 2, 3]


def test_submit_runs_a_notebook_headless_and_exits_by_its_outcome(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRING_STORAGE", raising=False)
    _train_notebook(tmp_path)
    out = io.StringIO()
    monkeypatch.chdir(tmp_path)
    with redirect_stdout(out):
        code = cli_main(["submit", "train.ipynb", "-p", "alpha=3", "--include", "points.csv"])
    text = out.getvalue()
    assert code == 0, text
    assert "loss=18.00" in text and "Succeeded" in text
    executed = Path(text.split("executed notebook: ")[1].split()[0])
    assert executed.parent == tmp_path and executed.is_file()
    write_notebook(tmp_path / "bad.ipynb", "raise KeyError('no such column')")
    proc = subprocess.run([sys.executable, "-m", "fairing_magics.cli", "submit", "bad.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "notebook bad.ipynb failed: cell 2 (In [1]: raise KeyError('no such column')) raised " \
           "KeyError: 'no such column'" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "fairing_magics.cli", "submit", "missing.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "notebook 'missing.ipynb' does not exist" in proc.stdout


def test_bad_input_is_one_clear_message_and_a_failed_cell(shell, tmp_path, capsys):
    write_notebook(tmp_path / "plain.ipynb", "print('alpha is', alpha)")
    (tmp_path / "broken.ipynb").write_text("{not json")

    def refused(line: str) -> str:
        result = run(shell, line)
        assert not result.success, line
        return str(result.error_in_exec)

    assert "notebook 'nowhere.ipynb' does not exist" in refused("%fairing_notebook nowhere.ipynb")
    assert "is not a notebook: it is not JSON" in refused("%fairing_notebook broken.ipynb")
    assert "name the notebook to run" in refused("%fairing_notebook")
    assert "is not a cron expression: it has 3 field(s)" in refused(
        "%fairing_notebook plain.ipynb --backend kubernetes --schedule '0 6 *'")
    assert "--schedule makes a Kubernetes CronJob; the backend is local" in refused(
        "%fairing_notebook plain.ipynb --schedule '@daily'")
    assert "-p 'alpha' is not NAME=VALUE" in refused("%fairing_notebook plain.ipynb -p alpha")
    shell.run_cell("%fairing_config --storage ''")
    assert "--cache reuses runs kept in run storage, and none is set" in refused(
        "%fairing_notebook plain.ipynb --cache")
    assert "--cache reuses runs kept in run storage" in refused("%%fairing_train --cache\nx = 1")
    assert "on (reuse a successful run" in refused(
        "%fairing_notebook plain.ipynb --cache sometimes")
    # -p with no parameters cell: a notice, as papermill gives, and the run goes on
    capsys.readouterr()
    assert run(shell, "%fairing_notebook plain.ipynb -p alpha=7").success
    out = capsys.readouterr().out
    assert "plain.ipynb has no cell tagged 'parameters': the parameters (alpha) were put in a " \
           "new first cell" in out
    assert "alpha is 7" in out
    # %fairing_debug of a run that succeeded
    name = shell.user_ns["_"].name if hasattr(shell.user_ns.get("_"), "name") else \
        sorted(p.name for p in (tmp_path / "home" / "runs").iterdir())[-1]
    assert f"run {name} succeeded: there is no remote failure to debug" in refused(
        f"%fairing_debug {name}")
    assert "no run of this kernel failed" in refused("%fairing_debug")


def test_dry_run_shows_what_would_ship_and_touches_nothing(shell, tmp_path, capsys):
    _train_notebook(tmp_path)
    assert run(shell, "%fairing_notebook train.ipynb -p alpha=2 --dry-run").success
    out = capsys.readouterr().out
    assert "Dry run of notebook" in out and "nothing was built, pushed or started" in out
    assert "[2] # Parameters" in out and "helpers.py" in out and "nbclient==" in out
    assert not (tmp_path / "home" / "runs").exists()
    shell.run_cell("%fairing_config --registry 127.0.0.1:5999/nb --namespace team")
    assert run(shell, "%fairing_notebook train.ipynb --backend kubernetes --schedule '0 6 * * *' "
                      "--dry-run").success
    out = capsys.readouterr().out
    assert "would create CronJob train-dryrun" in out and "concurrencyPolicy: Forbid" in out
    assert "subPathExpr: $(FAIRING_RUN_NAME)" in out
    json.dumps(out)  # plain text
