"""A dry run refuses what the real run would refuse, as an error with the same message; storage
URLs render with the bucket's region beside the path, never inside it."""

from __future__ import annotations

import pytest

from fairing_magics.errors import FairingError
from fairing_magics.storage import describe_run_folder
from tests.core.conftest import run

ECR_CN = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No AWS region, credentials or cluster: whatever would need them must be refused."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "FAIRING_REGISTRY", "FAIRING_STORAGE",
                 "FAIRING_BASE_IMAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


@pytest.mark.parametrize("config, flags, message", [
    ("", "--backend kubernetes --registry 127.0.0.1:5000/me --outputs model",
     "--outputs on the kubernetes backend needs run storage to bring them back"),
    ("", "--backend kubernetes", "no registry is set"),
    ("", "--backend docker --registry 127.0.0.1:5000/me:v1", "names a tag or digest"),
    ("", "--backend kubernetes --registry ecr/fairing-job",
     "--registry ecr/fairing-job needs an AWS region"),
    ("", "--backend kubernetes --registry 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com/job",
     "is not a valid Amazon ECR host"),
    ("", f"--backend kubernetes --registry {ECR_CN}/Fairing", "repository component 'Fairing'"),
    ("", "--backend docker --registry 127.0.0.1:5000/me --base-image 'python:3.11 slim'",
     "invalid tag"),
    ("", "--image-only --registry 127.0.0.1:5000/me --platform arm64", "is not OS/ARCH"),
    ("--storage s3://Bad_Bucket/runs", "", "is not an S3 bucket name"),
    ("--storage s3://fairing-runs-test/team", "", "needs an AWS region"),
])
def test_the_dry_run_refuses_what_the_run_refuses_with_the_same_message(
        shell, offline, config, flags, message, tmp_path):
    if config:
        assert run(shell, f"%fairing_config {config}").success
    dry = run(shell, f"%%fairing_train --dry-run {flags}\nmodel = 1")
    real = run(shell, f"%%fairing_train {flags}\nmodel = 1")
    assert isinstance(dry.error_in_exec, FairingError), dry.error_in_exec
    assert message in str(dry.error_in_exec)
    assert type(real.error_in_exec) is type(dry.error_in_exec)
    assert str(real.error_in_exec) == str(dry.error_in_exec)
    assert "model" not in shell.user_ns
    assert not (tmp_path / "home" / "runs").exists()
    run(shell, "%fairing_config --storage ''")


def test_run_storage_with_a_region_renders_the_region_beside_the_path(shell, capsys, tmp_path):
    assert describe_run_folder("s3://fairing-runs-1/linreg?region=cn-northwest-1",
                               "linreg-<suffix>") == \
        "s3://fairing-runs-1/linreg/runs/linreg-<suffix>/ (region cn-northwest-1)"
    assert describe_run_folder("s3://fairing-runs-1/", "a*") == "s3://fairing-runs-1/runs/a*/"
    assert describe_run_folder(str(tmp_path / "store") + "/", "b") == f"{tmp_path}/store/runs/b/"
    assert run(shell, "%fairing_config --storage "
                      "s3://fairing-runs-1/linreg?region=cn-northwest-1").success
    capsys.readouterr()
    assert run(shell, "%%fairing_train --dry-run --name linreg\nx = 1").success
    out = capsys.readouterr().out
    assert ("Run storage: s3://fairing-runs-1/linreg/runs/linreg-<suffix>/ (region cn-northwest-1)"
            in out)
    assert "?region=cn-northwest-1/" not in out
    assert run(shell, "%fairing_deploy --from-run linreg --dry-run").success
    out = capsys.readouterr().out
    assert "outputs.pkl in s3://fairing-runs-1/linreg/runs/linreg*/ (region cn-northwest-1)" in out
    assert "?region=cn-northwest-1/" not in out
    run(shell, "%fairing_config --storage ''")
