"""``%fairing_deploy`` and ``%fairing_undeploy`` in a real IPython shell."""

from __future__ import annotations

import numpy as np
import pytest

from fairing_magics.deploy import ENDPOINTS, Endpoint
from tests.deploy.conftest import alive
from tests.harness import clear_user_namespace, ipython_shell


@pytest.fixture
def shell(tmp_path, monkeypatch, linreg):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    monkeypatch.setenv("FAIRING_BACKEND", "local")
    monkeypatch.chdir(tmp_path)
    ip = ipython_shell()  # one shell per process
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    ip.user_ns["fitted_model"], ip.user_ns["rows"] = linreg
    yield ip
    for endpoint in ENDPOINTS.all():
        endpoint.delete()
    ip.run_cell("%unload_ext fairing_magics")


def test_deploy_predict_and_undeploy_from_magics(shell, linreg, capsys):
    model, x = linreg
    result = shell.run_cell("%fairing_deploy fitted_model --predictor double", store_history=True)
    assert not result.success and "no such variable" in str(result.error_in_exec)
    shell.run_cell("def double(model, x):\n    return model.predict(x) * 2", store_history=True)
    result = shell.run_cell("%fairing_deploy fitted_model --predictor double", store_history=True)
    assert result.success, result.error_in_exec
    endpoint = result.result
    assert isinstance(endpoint, Endpoint) and endpoint.name == "fitted-model"
    assert np.allclose(endpoint.predict(x), model.predict(x) * 2)
    pid = endpoint.server.pid
    assert "fitted-model ready at http://127.0.0.1:" in capsys.readouterr().out
    assert shell.run_cell("%fairing_jobs").success
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "No runs in this kernel yet: start one with %%fairing_train."
    assert listed[2].split() == ["ENDPOINT", "BACKEND", "STATUS", "REVISION", "URL"]
    assert listed[3].split() == ["fitted-model", "local", "Ready", "1", endpoint.predict_url]
    assert shell.run_cell("%fairing_undeploy fitted-model").success
    assert "endpoint fitted-model (local) deleted" in capsys.readouterr().out
    assert not alive(pid) and ENDPOINTS.get("fitted-model") is None
    result = shell.run_cell("%fairing_undeploy fitted-model")
    assert not result.success and "no endpoint" in str(result.error_in_exec)


def test_bad_model_names_and_dry_run(shell, capsys):
    result = shell.run_cell("%fairing_deploy no_such_model")
    assert (not result.success
            and "there is no variable 'no_such_model'" in str(result.error_in_exec))
    result = shell.run_cell("%fairing_deploy")
    assert not result.success and "--from-run" in str(result.error_in_exec)
    shell.run_cell("%fairing_config --registry "
                   "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job")
    capsys.readouterr()
    result = shell.run_cell("%fairing_deploy fitted_model --name linreg --backend kubernetes "
                            "--dry-run --expose loadbalancer --replicas 2 --cpu 500m")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "kind: Deployment" in out and "type: LoadBalancer" in out and "replicas: 2" in out
    assert "scikit-learn==" in out and "arn:aws-cn:ecr:cn-northwest-1" in out
    assert ENDPOINTS.all() == []
