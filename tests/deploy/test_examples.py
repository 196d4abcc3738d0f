"""examples/aws_china.ipynb runs top to bottom in a real Jupyter kernel (nbclient) with no AWS
credentials and no cluster: its cluster cells are --dry-run, its endpoint runs locally."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
AWS_CHINA = ROOT / "examples" / "aws_china.ipynb"


def _text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "".join(parts)


@pytest.fixture
def offline_kernel_env(tmp_path, monkeypatch):
    """A kernel environment in which any AWS or cluster call would fail."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL", "FAIRING_REGISTRY", "FAIRING_STORAGE", "FAIRING_BACKEND",
                 "FAIRING_NAMESPACE", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    return tmp_path


def test_aws_china_notebook_runs_with_dry_run_and_a_local_endpoint(offline_kernel_env):
    nb = nbformat.read(AWS_CHINA, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(AWS_CHINA.parent)}}).execute()
    by_source = {cell.source.split("\n")[0]: _text(cell) for cell in nb.cells
                 if cell.cell_type == "code"}
    train = next(text for first, text in by_source.items() if first.startswith("%%fairing_train"))
    assert "nothing was built, pushed or started" in train
    assert "cn-northwest-1" in train and "arn:aws-cn:ecr" in train and "kind: Job" in train
    # The base image and the packages come from where the China regions reach: no warning left.
    ecr = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"
    assert (f"Base image: {ecr}/python:3." in train
            and "-slim (resolved to a digest at build time)" in train)
    assert "Package index: https://pypi.tuna.tsinghua.edu.cn/simple" in train
    assert ("Run storage: s3://fairing-runs-123456789012/linreg/runs/linreg-<suffix>/ "
            "(region cn-northwest-1)" in train)
    assert "Warning" not in train
    deploy_plan = next(text for first, text in by_source.items()
                       if "--dry-run" in first and "fairing_deploy" in first)
    assert "type: LoadBalancer" in deploy_plan and "replicas: 2" in deploy_plan
    assert "fairing-job@sha256:" in deploy_plan
    compare = next(text for first, text in by_source.items() if first.startswith("x_new"))
    assert "the endpoint's predictions equal the notebook's" in compare
    assert "endpoint linreg (local) deleted" in by_source["%fairing_undeploy linreg"]
