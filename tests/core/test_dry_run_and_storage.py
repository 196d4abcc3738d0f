"""--dry-run shows the capture report and the ECR plan (China partition included) and makes
nothing; runs put their folder in S3 storage (moto) with the same layout as local storage."""

from __future__ import annotations

import pickle

import pytest

from tests.core.conftest import run

ECR = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job"


def test_dry_run_shows_capture_report_and_ecr_plan_and_touches_nothing(shell, capsys, tmp_path):
    assert run(shell, f"%fairing_config --registry {ECR}").success
    run(shell, "import json\nscale = 3\ndef f(v):\n    return v * scale")
    capsys.readouterr()
    result = run(shell, "%%fairing_train --dry-run --outputs r\nr = json.dumps(f(2))")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "Capture report" in out and "def f(v):" in out and "import json" in out
    assert "scale" in out  # the value it uses
    assert "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn" in out
    assert "region: cn-northwest-1" in out
    assert "aws-cn" in out and "arn:aws-cn:" in out
    assert "ensure repository exists" in out and "get authorization token" in out
    assert "nothing was built, pushed or started" in out
    assert not (tmp_path / "home" / "runs").exists()
    assert "r" not in shell.user_ns


def test_dry_run_names_the_package_index_without_its_credentials(shell, capsys):
    assert run(shell, f"%fairing_config --registry {ECR} --index-url "
                      "https://ci:s3cr3t-t0ken@mirror.example/simple "
                      "--extra-index-url https://extra.example/simple").success
    run(shell, "import numpy as np\nweights = np.ones(3)")
    capsys.readouterr()
    result = run(shell, "%%fairing_train --dry-run\nprint(weights.sum())")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "numpy==" in out
    assert "Package index: https://mirror.example/simple + https://extra.example/simple" in out
    assert "s3cr3t-t0ken" not in out
    assert run(shell, "%fairing_config --index-url '' --extra-index-url ''").success


@pytest.mark.e2e
def test_run_folder_goes_to_s3_storage(shell, aws, capsys):
    from fairing_magics.storage import storage_for

    storage = storage_for("s3://fairing-runs-test/team-a")
    storage.ensure_bucket()
    assert run(shell, "%fairing_config --storage s3://fairing-runs-test/team-a").success
    result = run(shell, "%%fairing_train --name s3run --outputs total\nimport os\n"
                        "total = sum(range(10))\n"
                        "open(os.path.join(os.environ['FAIRING_OUTPUT_DIR'], 'note.txt'), 'w')"
                        ".write('hi')")
    assert result.success, result.error_in_exec
    name = result.result.name
    assert shell.user_ns["total"] == 45
    assert pickle.loads(storage.read_bytes(name, "outputs.pkl")) == {"total": 45}
    assert storage.read_bytes(name, "note.txt") == b"hi"
