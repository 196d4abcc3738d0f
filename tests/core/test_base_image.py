"""The base image: where a copy goes, the check that its registry answers before a build (a real
HTTP server, a closed port, a socket that never answers), and the China warnings of the dry run
and the build."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.base_image import (
    base_image_findings,
    check_base_reachable,
    china_notice,
    copy_advice,
    mirror_reference,
)
from fairing_magics.config import Settings
from fairing_magics.errors import RegistryError
from fairing_magics.train_request import TrainOptions, merge_request
from tests.core.conftest import run

ECR_CN = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"


def test_the_copy_goes_next_to_the_registry_images_are_pushed_to():
    assert mirror_reference("python:3.11-slim", f"{ECR_CN}/fairing-job") == \
        f"{ECR_CN}/python:3.11-slim"
    assert mirror_reference("python:3.11-slim", "harbor.example.com/team/ml/job") == \
        "harbor.example.com/team/ml/python:3.11-slim"
    assert mirror_reference("bitnami/pytorch", "127.0.0.1:5000/me") == \
        "127.0.0.1:5000/bitnami/pytorch:latest"
    digest = "sha256:" + "a" * 64
    assert mirror_reference(f"python@{digest}", "127.0.0.1:5000/me") == \
        f"127.0.0.1:5000/python@{digest}"
    assert mirror_reference("python:3.11-slim", "") == "<your-registry>/python:3.11-slim"
    advice = copy_advice(f"python@{digest}", f"{ECR_CN}/fairing-job")
    assert f"fairing-magics copy-image python@{digest} {ECR_CN}/python\n" in advice
    assert f"%fairing_config --base-image {ECR_CN}/python@{digest}" in advice


class _Answering(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(401)  # what Docker Hub answers an anonymous GET /v2/
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def answering():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the with ends: nothing listens there


def test_a_registry_that_answers_passes_and_is_remembered(answering):
    base = f"{answering}/python:3.11-slim"
    check_base_reachable(base, "127.0.0.1:5000/me", insecure_registries=[answering])
    findings = base_image_findings(base, "127.0.0.1:5000/me", insecure_registries=[answering])
    assert [str(f) for f in findings] == \
        [f"[ok] base image: {base}: its registry {answering} answers"]


def test_a_registry_that_is_not_there_fails_with_the_copy_command(closed_port):
    base = f"127.0.0.1:{closed_port}/python:3.11-slim"
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        check_base_reachable(base, f"{ECR_CN}/fairing-job",
                             insecure_registries=[f"127.0.0.1:{closed_port}"])
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"the base image {base} cannot be reached: its registry 127.0.0.1:{closed_port} " \
           "did not answer (connection refused)" in message
    assert f"fairing-magics copy-image {base} {ECR_CN}/python:3.11-slim" in message
    assert f"%fairing_config --base-image {ECR_CN}/python:3.11-slim" in message
    finding = base_image_findings(base, f"{ECR_CN}/fairing-job")[0]
    assert finding.problem and "fairing-magics copy-image" in finding.message


def test_a_registry_that_never_answers_times_out_quickly():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"did not answer \(no answer within 0.5 s\)"):
            check_base_reachable(f"{host}/python:3.11", "127.0.0.1:5000/me",
                                 insecure_registries=[host], timeout=0.5)
        assert time.monotonic() - started < 4


def test_the_same_registry_is_not_told_to_copy_to_itself(closed_port):
    host = f"127.0.0.1:{closed_port}"
    with pytest.raises(RegistryError, match="Is it running, and is --base-image right?") as info:
        check_base_reachable(f"{host}/python:3.11", f"{host}/me", insecure_registries=[host])
    assert "copy-image" not in str(info.value)


def test_image_only_checks_the_base_before_capturing(shell, closed_port, tmp_path):
    assert run(shell, f"%fairing_config --insecure-registry 127.0.0.1:{closed_port}").success
    result = run(shell, "%%fairing_train --image-only --registry harbor.example.com/team/job "
                        f"--base-image 127.0.0.1:{closed_port}/python:3.11-slim\nx = 1")
    assert isinstance(result.error_in_exec, RegistryError)
    assert "fairing-magics copy-image 127.0.0.1:" in str(result.error_in_exec)
    assert "harbor.example.com/team/python:3.11-slim" in str(result.error_in_exec)
    assert not (tmp_path / "home" / "runs").exists()


def test_china_dry_run_warns_about_docker_hub_and_pypi_and_not_once_they_are_set(shell, capsys):
    assert run(shell, f"%fairing_config --registry {ECR_CN}/fairing-job --backend kubernetes "
                      "--storage s3://fairing-runs-123456789012/linreg"
                      "?region=cn-northwest-1").success
    assert run(shell, "import numpy as np\nx = np.ones(3)").success
    capsys.readouterr()
    assert run(shell, "%%fairing_train --dry-run --name linreg\nprint(x.sum())").success
    out = capsys.readouterr().out
    base = Settings().base_image
    assert f"Warning: the base image {base} comes from Docker Hub, which is often unreachable " \
           "or very slow from cn-northwest-1" in out
    assert f"    fairing-magics copy-image {base} {ECR_CN}/{base}\n" in out
    assert f"    %fairing_config --base-image {ECR_CN}/{base}" in out
    assert "Warning: the dependency layer would come from PyPI, which is often slow from " \
           "cn-northwest-1" in out
    assert run(shell, f"%fairing_config --base-image {ECR_CN}/{base} "
                      "--index-url https://mirrors.example.cn/pypi/simple").success
    capsys.readouterr()
    assert run(shell, "%%fairing_train --dry-run --name linreg\nprint(x.sum())").success
    out = capsys.readouterr().out
    assert f"Base image: {ECR_CN}/{base}" in out and \
        "Package index: https://mirrors.example.cn/pypi/simple" in out
    assert "Warning" not in out
    assert run(shell, f"%fairing_config --base-image {base} --index-url '' --backend local "
                      "--storage ''").success


def test_the_build_says_it_before_anything_is_pushed():
    settings = Settings(registry=f"{ECR_CN}/fairing-job")
    notices = []
    request = merge_request(TrainOptions(gpus=1, backend="kubernetes"), settings)
    pipeline.announce(notices.append, request)
    assert [n.level for n in notices] == ["warning", "warning"]
    assert all(isinstance(n, ev.Notice) for n in notices)
    assert "comes from Docker Hub" in notices[0].text and \
        "fairing-magics copy-image" in notices[0].text
    assert "PyPI" in notices[1].text
    assert china_notice("python:3.11-slim", "127.0.0.1:5000/me") == ""
    assert china_notice(f"{ECR_CN}/python:3.11-slim", f"{ECR_CN}/fairing-job") == ""
    assert china_notice("python:3.11-slim",
                        "123456789012.dkr.ecr.us-east-1.amazonaws.com/job") == ""


def test_deploy_checks_the_base_too_and_its_dry_run_warns(shell, closed_port, capsys, tmp_path):
    assert run(shell, "class Model:\n    def predict(self, x):\n        return x\n"
                      "model = Model()").success
    assert run(shell, f"%fairing_config --insecure-registry 127.0.0.1:{closed_port}").success
    assert run(shell, f"%fairing_config --registry harbor.example.com/team/serve "
                      f"--base-image 127.0.0.1:{closed_port}/python:3.11-slim").success
    result = run(shell, "%fairing_deploy model --backend docker --name m")
    assert isinstance(result.error_in_exec, RegistryError)
    assert f"fairing-magics copy-image 127.0.0.1:{closed_port}/python:3.11-slim " \
           "harbor.example.com/team/python:3.11-slim" in str(result.error_in_exec)
    assert run(shell, f"%fairing_config --registry {ECR_CN}/fairing-job "
                      f"--base-image {Settings().base_image}").success
    capsys.readouterr()
    assert run(shell, "%fairing_deploy model --backend kubernetes --name m --dry-run").success
    out = capsys.readouterr().out
    assert "Warning: the base image" in out and "comes from Docker Hub" in out and \
        "Warning: the dependency layer" in out
