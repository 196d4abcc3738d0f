"""examples/sweep.ipynb runs top to bottom in a real Jupyter kernel (nbclient): a local sweep of
a scikit-learn model for real, then the Kubernetes variant as a dry run."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.deploy.test_examples import _text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep.ipynb"


def test_the_sweep_notebook_tunes_locally_and_plans_a_katib_experiment(offline_kernel_env):
    nb = nbformat.read(EXAMPLE, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLE.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    sweep_text = _text(code[2])
    assert "digits-" in sweep_text and "Succeeded" in sweep_text and "best accuracy=" in sweep_text
    best = _text(code[3])
    assert "'kernel':" in best
    model_line = _text(code[4])
    assert model_line.startswith("SVC ") and float(model_line.split()[-1]) > 0.9
    plan = _text(code[5])
    assert "nothing was built, pushed or started" in plan
    assert "kind: Experiment" in plan and "algorithmName: tpe" in plan
    assert "distribution: logUniform" in plan and "kind: StdOut" in plan
    assert "sidecar.istio.io/inject: 'false'" in plan and "${trialParameters.C}" in plan
