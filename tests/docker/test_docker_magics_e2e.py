"""``%%fairing_train --backend docker`` in a real IPython shell: the image is built, pushed and
run in a container of podman's Docker API; outputs come back into the notebook, a failing cell
fails with the remote traceback."""

from __future__ import annotations

import time

import pytest

from fairing_magics.errors import JobFailed
from tests.core.conftest import _session_shell, run, shell  # noqa: F401 - fixtures
from tests.core.kernels import Kernel, gate_code

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


def test_a_new_kernel_cancels_a_docker_run_and_shows_its_log(docker_api, registry, base_image,
                                                             tmp_path):
    """Another kernel's docker run, stopped and read by name from a new kernel: its backend finds
    the container by its label, and the kernel that started it reports it Cancelled."""
    env = {"DOCKER_HOST": docker_api, "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
           "FAIRING_BACKEND": "docker", "FAIRING_REGISTRY": f"{registry.host}/magics/held",
           "FAIRING_BASE_IMAGE": base_image.tag_ref, "FAIRING_INSECURE_REGISTRIES": registry.host}
    gate = tmp_path / "never"
    owner, other = Kernel(tmp_path, **env), None
    try:
        owner.execute("%load_ext fairing_magics")
        reply, out = owner.execute("%%fairing_train --no-wait --name held\n"
                                   "print('waiting', flush=True)\n" + gate_code(gate), timeout=300)
        assert reply["content"]["status"] == "ok", out
        folder = next((tmp_path / "home" / "runs").glob("held-*"))
        deadline = time.monotonic() + 120
        while "waiting" not in (folder / "logs.txt").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # the container prints, then waits at its gate: no race
        other = Kernel(tmp_path, **env)
        other.execute("%load_ext fairing_magics")
        reply, said = other.execute(f"%fairing_cancel {folder.name}")
        assert reply["content"]["status"] == "ok", said
        assert f"{folder.name}: its container " in said and "was stopped and removed" in said
        _, status = owner.execute("r = _\nr.wait_done(60)\nprint(r.status, '|', r.summary)")
        assert status.startswith("Cancelled | cancelled after"), status
        reply, log = other.execute(f"%fairing_logs {folder.name}")
        assert reply["content"]["status"] == "ok", log
        assert "waiting" in log and f"[fairing] {folder.name} Cancelled" in log
        _, again = other.execute(f"%fairing_cancel {folder.name}")
        assert f"{folder.name} already ended: Cancelled" in again
    finally:
        owner.stop()
        if other is not None:
            other.stop()
