"""The bad-input catalogue, rows that need a service: the emulated Kubernetes API (RBAC 403, a
missing CRD), the test registries (auth failure, unreachable, missing base image, a package with
no wheel), moto (ECR AccessDenied, a missing S3 bucket), a local run that times out and a local
endpoint that crashes on start. Same checks as tests/hardening/test_bad_inputs.py: the cell fails
with one clear line and nothing is left behind.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from fairing_magics.train_request import merge_request
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning, run_folders
from tests.hardening.test_bad_inputs import assert_nothing_left, assert_refused
from tests.harness import need

# fixture: a namespace of the emulated cluster
from tests.kubernetes.test_backend_e2e import kube  # noqa: F401

pytestmark = pytest.mark.e2e


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tags_of(registry_host: str, repository: str) -> list[str]:
    """Tags the registry holds for ``repository`` (none when it was never pushed)."""
    try:
        with urllib.request.urlopen(f"http://{registry_host}/v2/{repository}/tags/list",
                                    timeout=10) as reply:
            return json.loads(reply.read()).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


# -- Kubernetes -----------------------------------------------------------------------------
def _cluster_objects(kube_api) -> tuple[list, list]:
    from kubernetes.client import BatchV1Api, CoreV1Api, CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    client = kube_api.api_client()
    try:
        jobs = BatchV1Api(client).list_namespaced_job("default").items
        pods = CoreV1Api(client).list_namespaced_pod("default").items
        for plural in ("tfjobs", "pytorchjobs"):
            try:
                jobs += CustomObjectsApi(client).list_namespaced_custom_object(
                    "kubeflow.org", "v1", "default", plural)["items"]
            except ApiException as exc:  # the CRD was removed: no such objects either
                assert exc.status == 404
        return jobs, pods
    finally:
        client.close()


@pytest.mark.parametrize("fault, flags, problem, advice", [
    (("deny", "create", "jobs"), "", "create", "kubectl"),
    (("remove_crd", "tfjobs.kubeflow.org"), "--kind tfjob --workers 1", "TFJob", "install"),
], ids=["rbac-403", "missing-crd"])
def test_cluster_refusals_are_one_line_and_leave_no_job(fault, flags, problem, advice, shell,
                                                        tmp_path, monkeypatch, kube_api):
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    getattr(kube_api.emulator, fault[0])(*fault[1:])
    result = run(shell, "%%fairing_train --backend kubernetes --registry 127.0.0.1:9/hardening "
                        f"{flags}\nprint(1)\n")
    message = assert_refused(result, problem, advice)
    print(f"[{fault[0]}] {message}")
    assert_nothing_left(shell, tmp_path)
    assert _cluster_objects(kube_api) == ([], [])


# -- registries -----------------------------------------------------------------------------
@pytest.fixture
def image_shell(shell, registry, monkeypatch, tmp_path):
    """The shell with the plain test registry named insecure and no docker credentials."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    assert run(shell, f"%fairing_config --insecure-registry {registry.host}").success
    return shell


def _image_cell(registry: str, base: str, extra: str = "") -> str:
    return (f"%%fairing_train --image-only --requirements none --registry {registry} "
            f"--base-image {base} {extra}\nprint(1)\n")


def test_registry_auth_failure(image_shell, tmp_path, auth_registry, base_image):
    run(image_shell, f"%fairing_config --insecure-registry {auth_registry.host}")
    result = run(image_shell, _image_cell(f"{auth_registry.host}/hardening/auth", base_image.ref))
    message = assert_refused(result, auth_registry.host, "credentials")
    assert auth_registry.password not in message
    assert_nothing_left(image_shell, tmp_path)


def test_unreachable_registry(image_shell, tmp_path, base_image):
    """Refused connections are not worth 8 retries with backoff (that took ~18 s): a few quick
    tries, then one line naming the host and the reason. (Timing figures live in benchmarks;
    this bound only says "fast", generously.)"""
    port = closed_port()
    run(image_shell, f"%fairing_config --insecure-registry 127.0.0.1:{port}")
    started = time.monotonic()
    result = run(image_shell, _image_cell(f"127.0.0.1:{port}/hardening/x", base_image.ref))
    seconds = time.monotonic() - started
    message = assert_refused(result, f"cannot reach registry 127.0.0.1:{port} (connection refused",
                             "is --registry")
    print(f"[unreachable registry, {seconds:.1f} s] {message}")
    assert "object at 0x" not in message and "HTTPConnection" not in message
    assert seconds < 5
    assert_nothing_left(image_shell, tmp_path)


def test_unreachable_kubernetes_api(shell, tmp_path, monkeypatch):
    """A kubeconfig whose server is a closed port: refused before anything is built, fast."""
    port = closed_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters: [{{name: gone, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token-123456}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: u, namespace: default}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    started = time.monotonic()
    result = run(shell, "%%fairing_train --backend kubernetes --registry 127.0.0.1:9/hardening\n"
                        "print(1)\n")
    seconds = time.monotonic() - started
    message = assert_refused(result, f"cannot reach the Kubernetes API at http://127.0.0.1:{port}",
                             "connection refused")
    print(f"[unreachable kubernetes, {seconds:.1f} s] {message}")
    assert "object at 0x" not in message and "not-a-real-token" not in message
    assert seconds < 5
    assert_nothing_left(shell, tmp_path)


def test_unreachable_s3_endpoint(shell, tmp_path, monkeypatch):
    """``--storage s3://...`` with AWS_ENDPOINT_URL at a closed port: one line, fast."""
    need(importlib.util.find_spec("boto3") is not None, "boto3 (the [aws] extra) is not installed")
    port = closed_port()
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_REGION", "cn-northwest-1")
    assert run(shell, "%fairing_config --storage s3://fairing-unreachable/team\n").success
    started = time.monotonic()
    result = run(shell, "%%fairing_train --backend local\nprint(1)\n")
    seconds = time.monotonic() - started
    message = assert_refused(result, "Cannot reach the AWS s3 endpoint", "connection refused")
    print(f"[unreachable s3, {seconds:.1f} s] {message}")
    assert f"127.0.0.1:{port}" in message and secret not in message and \
        "AKIAIOSFODNN7EXAMPLE" not in message
    assert seconds < 5
    assert_nothing_left(shell, tmp_path)


def test_missing_base_image(image_shell, tmp_path, registry):
    result = run(image_shell, _image_cell(f"{registry.host}/hardening/nobase",
                                          f"{registry.host}/nope/python:missing"))
    message = assert_refused(result, "nope/python:missing", "base")
    print(f"[missing base] {message}")
    assert_nothing_left(image_shell, tmp_path)
    assert tags_of(registry.host, "hardening/nobase") == []


def test_package_without_a_wheel_for_the_target(image_shell, tmp_path, registry, base_image):
    (tmp_path / "req.txt").write_text("docopt==0.6.2\n")
    cell = ("%%fairing_train --image-only --requirements req.txt "
            f"--registry {registry.host}/hardening/nowheel "
            f"--base-image {base_image.ref}\nprint(1)\n")
    result = run(image_shell, cell)
    message = assert_refused(result, "docopt", "wheel")
    print(f"[no wheel] {message}")
    assert_nothing_left(image_shell, tmp_path)
    assert tags_of(registry.host, "hardening/nowheel") == []


# -- AWS ------------------------------------------------------------------------------------
ECR = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job"


def test_ecr_access_denied(image_shell, tmp_path, aws, base_image, monkeypatch):
    import boto3

    iam = boto3.client("iam")
    iam.create_user(UserName="hardening")
    key = iam.create_access_key(UserName="hardening")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    aws.enforce_iam()
    result = run(image_shell, _image_cell(ECR, base_image.ref))
    message = assert_refused(result,
                             "AccessDenied" if "AccessDenied" in str(result.error_in_exec)
                             else "ecr:",
                             "ecr:")
    print(f"[ecr denied] {message}")
    assert key["SecretAccessKey"] not in message and key["AccessKeyId"] not in message
    assert_nothing_left(image_shell, tmp_path)


def test_missing_s3_bucket(shell, tmp_path, aws):
    """Refused before the run starts (it used to train, then fail uploading its outputs)."""
    assert run(shell, "%fairing_config --storage s3://fairing-absent-bucket/team\n").success
    result = run(shell, "%%fairing_train --backend local --outputs w\nw = 1\n")
    message = assert_refused(result, "S3 bucket fairing-absent-bucket does not exist",
                             "aws s3 mb s3://fairing-absent-bucket")
    print(f"[missing bucket] {message}")
    assert_nothing_left(shell, tmp_path)


# -- runs that fail ----------------------------------------------------------------------------
def test_job_timeout_stops_the_run(shell, tmp_path):
    result = run(shell, "%%fairing_train --timeout 1\nimport time\nprint('started', flush=True)\n"
                        "time.sleep(60)\n")
    message = assert_refused(result, "longer than --timeout 1 s and was stopped", "raise --timeout")
    folders = run_folders(tmp_path / "home")
    assert len(folders) == 1  # the run existed; its process must not outlive the cell
    assert processes_mentioning(str(folders[0])) == []
    print(f"[timeout] {message}")


def test_endpoint_that_crashes_on_start(shell, tmp_path):
    setup = ("def make_broken():\n"
             "    class CorruptWeights:\n"
             "        def __init__(self):\n"
             "            self.weights = 'corrupt'\n"
             "        def __setstate__(self, state):\n"
             "            raise RuntimeError('the weights file is corrupt')\n"
             "        def predict(self, x):\n"
             "            return x\n"
             "    return CorruptWeights()\n"
             "broken = make_broken()\n")
    assert run(shell, setup).success
    result = run(shell, "%fairing_deploy broken --backend local --timeout 60\n")
    assert result.success is False
    error = result.error_in_exec
    from fairing_magics.errors import DeployError

    assert isinstance(error, DeployError)
    first = str(error).splitlines()[0]
    print(f"[endpoint crash] {first}")
    assert "the weights file is corrupt" in first and first.endswith("Fix that and deploy again.")
    assert processes_mentioning(str(tmp_path)) == []
    shell.user_ns.pop("broken", None)


# -- runs that fail on the emulated cluster ---------------------------------------------------
def _kube_shell(shell, cluster) -> None:
    s = cluster.settings
    assert run(shell, f"%fairing_config --backend kubernetes --registry {s.registry} "
                      f"--base-image {s.base_image} "
                      f"--insecure-registry {s.insecure_registries[0]} --namespace {s.namespace} "
                      f"--storage {s.storage}").success


def test_oomkilled_run_fails_clearly(shell, kube, tmp_path, monkeypatch):  # noqa: F811
    _kube_shell(shell, kube)
    result = run(shell, "%%fairing_train --name oom --memory 64Mi --requirements none\n"
                        "hog = bytearray(400 * 2**20)\nprint(len(hog))\n")
    assert result.success is False
    error = result.error_in_exec
    from fairing_magics.errors import JobFailed

    assert isinstance(error, JobFailed), error
    first = str(error).splitlines()[0]
    print(f"[oomkilled] {first}")
    assert "OOMKilled" in str(error) and "--memory" in str(error)
    run_name = shell.magics_manager.registry["FairingMagics"].runs.all()[-1].name
    assert processes_mentioning(str(tmp_path)) == []
    kube.cluster.emulator.wait_for(lambda: all(p.status.phase in ("Failed", "Succeeded")
                                               for p in kube.pods(run_name)),
                                   30, what="no pod of the run still running")


def test_image_pull_failure_fails_clearly_and_leaves_no_pod(kube, tmp_path):  # noqa: F811
    """The pipeline never pushes an unpullable image, so this row starts the backend itself."""
    from fairing_magics import pipeline
    from fairing_magics.backends import Launch
    from fairing_magics.backends.kubernetes.backend import KubernetesBackend
    from fairing_magics.errors import JobFailed
    from fairing_magics.run import Run

    backend = KubernetesBackend(image_pull_grace=3.0, poll_seconds=0.2)
    options = pipeline.TrainOptions(name="nopull", backend="kubernetes")
    backend.check(merge_request(options, kube.settings))
    image = f"{kube.cluster.registry_host}/missing/image@sha256:" + "0" * 64
    job = Run("nopull-hard01", "kubernetes", tmp_path / "run", stages=backend.stages)
    request = merge_request(options, kube.settings)
    backend.start(Launch(bundle_dir=tmp_path, image=image, request=request), job)
    with pytest.raises(JobFailed) as failure:
        job.wait(90)
    first = str(failure.value).splitlines()[0]
    print(f"[image pull] {first}")
    assert "could not pull its image" in first
    kube.cluster.emulator.wait_for(lambda: not kube.pods(job.name), 30, what="pods deleted")
