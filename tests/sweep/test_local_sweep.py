"""``%%fairing_sweep`` on the local backend, in a real IPython shell: real subprocess trials
driven by Optuna, the objective read from their logs, the best trial's outputs back in the
kernel; pruning, grids, failures, cancel, and ``%fairing_jobs``."""

from __future__ import annotations

import math
import threading
import time

import pytest

from tests.core.conftest import run

CELL = """%%fairing_sweep --param lr=loguniform:1e-3:1 --param depth=int:1:4 --param kind=choice:a,b --objective loss --metric acc --trials 6 --parallel 3 --seed 7 --outputs model
model = {"lr": lr, "depth": depth, "kind": kind, "offset": offset}
score = (math.log10(lr) + 2) ** 2 + depth * 0.1 + (0.5 if kind == "b" else 0) + offset
for step in range(3):
    print(f"step={step} loss={score + 2 - step} acc={0.5 + step / 10}")
"""


def _score(lr, depth, kind, offset=1.0):
    return (math.log10(lr) + 2) ** 2 + depth * 0.1 + (0.5 if kind == "b" else 0) + offset


def test_a_local_sweep_runs_every_trial_and_brings_the_best_back(shell):
    run(shell, "import math\noffset = 1.0")
    result = run(shell, CELL)
    assert result.success, result.error_in_exec
    sweep = result.result
    assert sweep.status == "Succeeded"
    trials = sweep.trials
    assert list(trials.index) == [1, 2, 3, 4, 5, 6]
    assert set(trials["status"]) == {"Succeeded"}
    for _, row in trials.iterrows():
        assert isinstance(row["depth"], (int,)) or float(row["depth"]).is_integer()
        assert row["kind"] in ("a", "b") and 1e-3 <= row["lr"] <= 1
        # the objective is the lowest loss the trial printed (Katib's strategy for minimize)
        assert row["loss"] == pytest.approx(_score(row["lr"], row["depth"], row["kind"]))
        assert row["acc"] == pytest.approx(0.7)  # the latest value of an extra metric
    best = trials["loss"].idxmin()
    assert sweep.best_value == pytest.approx(trials.loc[best, "loss"])
    assert sweep.best_params == {k: trials.loc[best, k] for k in ("lr", "depth", "kind")}
    model = shell.user_ns["model"]  # the best trial's --outputs, back in the kernel
    assert model == {**sweep.best_params, "offset": 1.0}
    assert sweep.best_run.outputs["model"] == model
    assert "loss=" in sweep.best_run.logs()
    # the same seed gives the same parameters again (Optuna's TPE, seeded)
    again = run(shell, CELL).result
    assert [t.params for t in again.trial_list()] == [t.params for t in sweep.trial_list()]


def test_the_capture_is_made_once_and_parameters_are_injected_not_captured(shell):
    run(shell, "import math\noffset = 1.0")
    sweep = run(shell, CELL.replace("--trials 6 --parallel 3", "--trials 2 --parallel 2")).result
    bundle = sweep.folder / "bundle"
    manifest = (bundle / "fairing_manifest.json").read_text()
    assert '"parameters"' in manifest and '"lr": "float"' in manifest and '"depth": "int"' in manifest
    main = (bundle / "main.py").read_text()
    assert "lr =" not in main.split("# --- cell ---")[0]  # not captured from the kernel
    assert sorted(p.name for p in (sweep.folder / "trials").iterdir()) == sorted(
        t.name for t in sweep.trial_list())
    assert not list((sweep.folder / "trials").glob("*/bundle"))  # one bundle for every trial


def test_median_early_stopping_stops_trials_worse_than_the_median(shell):
    cell = """%%fairing_sweep --param x=uniform:0:1 --objective loss --trials 8 --parallel 1 --early-stopping median --algorithm random --seed 3 --max-failed 8
import time
for step in range(12):
    print(f"step={step} loss={x * 10 + 1 / (step + 1)}", flush=True)
    time.sleep(0.05)
"""
    result = run(shell, cell)
    assert result.success, result.error_in_exec
    trials = result.result.trials
    stopped = trials[trials["status"] == "EarlyStopped"]
    assert len(stopped) >= 1, trials[["status", "x", "loss"]]
    done = trials[trials["status"] == "Succeeded"]
    # a stopped trial was worse than the median of the trials before it
    assert stopped["x"].min() > done["x"].min()
    assert all("stopped early" in m for m in stopped["message"])


def test_a_grid_tries_every_point_once(shell):
    cell = ("%%fairing_sweep --param a=int:1:3 --param b=choice:x,y --objective m --algorithm grid "
            "--trials 10 --parallel 2 --goal maximize\nprint(f\"m={a * (2 if b == 'y' else 1)}\")\n")
    result = run(shell, cell)
    assert result.success, result.error_in_exec
    sweep = result.result
    points = sorted((t.params["a"], t.params["b"]) for t in sweep.trial_list())
    assert points == [(a, b) for a in (1, 2, 3) for b in ("x", "y")]  # 6 points, not 10 trials
    assert sweep.best_params == {"a": 3, "b": "y"} and sweep.best_value == 6


def test_a_cell_that_never_prints_the_objective_fails_naming_the_line(shell):
    cell = ("%%fairing_sweep --param x=uniform:0:1 --objective val_loss --trials 3 --parallel 1 "
            "--max-failed 2\nprint('loss is', x)\n")
    result = run(shell, cell)
    assert not result.success
    message = str(result.error_in_exec)
    assert "2 trials failed" in message and "val_loss=<number>" in message, message
    sweep = shell.user_ns.get("_")
    trials = shell.magics_manager.registry["FairingMagics"].runs.all()[-1].trial_list()
    assert [t.status for t in trials] == ["MetricsUnavailable", "MetricsUnavailable"]
    assert sweep is None or sweep is not trials


def test_a_failing_trial_says_why_and_the_others_go_on(shell):
    cell = ("%%fairing_sweep --param x=choice:1,2,3 --objective m --algorithm grid --trials 3 "
            "--parallel 1\nif x == 2:\n    raise ValueError('two is bad')\nprint(f'm={x}')\n")
    result = run(shell, cell)
    assert result.success, result.error_in_exec
    trials = result.result.trials.set_index("x")
    assert dict(trials["status"]) == {1: "Succeeded", 2: "Failed", 3: "Succeeded"}
    assert "the cell raised ValueError: two is bad" in trials.loc[2, "message"]
    assert result.result.best_params == {"x": 1}


def test_cancel_stops_every_running_trial(shell):
    magics = shell.magics_manager.registry["FairingMagics"]
    cell = ("%%fairing_sweep --name slow --param x=uniform:0:1 --objective m --trials 4 "
            "--parallel 2\nimport time\ntime.sleep(60)\nprint(f'm={x}')\n")

    def cancel_when_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sweeps = [r for r in magics.runs.all() if r.name.startswith("slow-")]
            if sweeps and sum(t.status == "Running" for t in sweeps[-1].trial_list()) == 2:
                shell.run_line_magic("fairing_cancel", sweeps[-1].name)
                return
            time.sleep(0.1)

    threading.Thread(target=cancel_when_running, daemon=True).start()
    started = time.monotonic()
    result = run(shell, cell)
    assert not result.success and time.monotonic() - started < 30
    sweep = magics.runs.all()[-1]
    assert sweep.status == "Cancelled"
    assert {t.status for t in sweep.trial_list()} == {"Killed"}
    assert all(r.status == "Cancelled" for r in sweep.trial_runs.values())


def test_fairing_jobs_lists_the_sweep(shell, capsys):
    run(shell, "%%fairing_sweep --name listed --param x=uniform:0:1 --objective m --trials 2 "
               "--parallel 2\nprint(f'm={x}')\n")
    capsys.readouterr()
    shell.run_line_magic("fairing_jobs", "")
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("listed-"))
    assert "Succeeded" in line and "best m=" in line
    shell.run_line_magic("fairing_jobs", "--all")
    assert "listed-" in capsys.readouterr().out


def test_trials_run_under_the_kernels_names_and_folder_as_a_run_does(shell, tmp_path):
    """A trial gets what a run gets beside its bundle, in its environment: the kernel's cell
    names (its traceback names the cell as the kernel does) and the notebook folder's paths (a
    file left behind is named with --include)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("1\n")
    run(shell, "folder = 'data'")
    number = shell.execution_count
    cell = ("%%fairing_sweep --param x=choice:1,2 --objective m --algorithm grid --trials 2 "
            "--parallel 1\nif x == 2:\n    print(open(folder + '/rows.csv').read())\nprint(f'm={x}')\n")
    result = run(shell, cell)
    assert result.success, result.error_in_exec
    sweep = result.result
    failed = next(t for t in sweep.trial_list() if t.params == {"x": 2})
    assert failed.status == "Failed" and "FileNotFoundError" in failed.message
    log = sweep.trial_runs[failed.name].logs()
    assert "fairing: 'data/rows.csv' exists in the notebook's folder" in log
    assert "add --include data/rows.csv" in log
    body = cell.split("\n", 1)[1]
    cell_file = shell.compile.get_code_name(body, shell.transform_cell(body), number)
    assert f'File "{cell_file}", line 2, in <module>' in log
