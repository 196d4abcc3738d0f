"""``%%fairing_train --backend docker`` in a real IPython shell: the image is built, pushed and
run in a container of podman's Docker API; outputs come back into the notebook, a failing cell
fails with the remote traceback."""

from __future__ import annotations

import pytest

from fairing_magics.errors import JobFailed
from tests.core.conftest import _session_shell, run, shell  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e


@pytest.fixture
def docker_shell(shell, docker_api, registry, base_image, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    result = run(shell, f"%fairing_config --backend docker --registry {registry.host}/magics/job "
                        f"--base-image {base_image.tag_ref} --insecure-registry {registry.host}")
    assert result.success, result.error_in_exec
    return shell


def test_train_on_the_docker_backend_brings_outputs_back(docker_shell, capsys, registry):
    run(docker_shell, "import json\nfactor = 7")
    result = run(docker_shell, "%%fairing_train --name magic --outputs answer\n"
                               "answer = factor * 6\nprint(json.dumps({'answer': answer}))")
    assert result.success, result.error_in_exec
    assert docker_shell.user_ns["answer"] == 42
    assert result.result.image.startswith(f"{registry.host}/magics/job@sha256:")
    out = capsys.readouterr().out
    assert '{"answer": 42}' in out and "Succeeded" in out


def test_a_failing_cell_fails_on_the_docker_backend(docker_shell):
    result = run(docker_shell,
                 "%%fairing_train --name boom\nraise RuntimeError('no luck in the container')")
    assert not result.success
    assert isinstance(result.error_in_exec, JobFailed)
    assert "RuntimeError: no luck in the container" in str(result.error_in_exec)
    assert "raise RuntimeError" in result.error_in_exec.remote_traceback
