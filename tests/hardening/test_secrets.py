"""Credentials in the kernel (AWS keys, a session token, a docker login, a bearer token, a
Kubernetes service-account token) never reach an image, a rendered Kubernetes spec, a panel or
an error message; errors that quote them show them redacted."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
import yaml

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.config import Settings
from fairing_magics.errors import FairingError, JobFailed
from fairing_magics.run import RunBook
from fairing_magics.secrets_scan import find_credentials, find_credentials_in_blob
from fairing_magics.train_request import merge_request
from tests.core.conftest import run
from tests.harness.fixtures_aws import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEHardeningSessionToken" + "Y" * 90
DOCKER_PASSWORD = "hardeningDockerPassw0rd"
BEARER = "hardeningBearerToken0123456789abcdef"
KUBE_TOKEN = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImhhcmRlbmluZyJ9."
              "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpmYWlyaW5nIn0."
              "c2lnbmF0dXJlaGFyZGVuaW5n")
URL_PASSWORD = "hunter2secretpw"
KNOWN = [FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, SESSION_TOKEN, DOCKER_PASSWORD, BEARER,
         KUBE_TOKEN, URL_PASSWORD]

AWS_CELLS = [
    "import os\nimport boto3\n",
    "def bucket_region(name):\n"
    "    client = boto3.client('s3', region_name=os.environ.get('AWS_REGION'))\n"
    "    return client.get_bucket_location(Bucket=name)['LocationConstraint']\n",
    f"api_headers = {{'Authorization': 'Bearer {BEARER}'}}\nkube_token = {KUBE_TOKEN!r}\n",
]
AWS_CELL = "print('region of', 'fairing-runs', 'is known to', bucket_region.__name__)\n"


@pytest.fixture
def secret_kernel(shell, monkeypatch, tmp_path):
    """The shell with credentials in its environment, a docker login and secrets in its
    namespace."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", "cn-northwest-1")
    monkeypatch.setenv("GITHUB_TOKEN", BEARER)
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"robot:{DOCKER_PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(
        json.dumps({"auths": {"registry.example.com": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    for source in AWS_CELLS:
        assert run(shell, source).success
    yield shell, [*KNOWN, auth]
    for name in ("api_headers", "kube_token", "bucket_region"):
        shell.user_ns.pop(name, None)


def assert_clean(text: str | bytes, known, where: str) -> None:
    assert find_credentials(text, known) == [], where


def _get(url: str, accept: str = "") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.read()


@pytest.mark.e2e
def test_built_image_layers_and_config_hold_no_credentials(secret_kernel, registry, base_image,
                                                           capsys):
    shell, known = secret_kernel
    assert run(shell, f"%fairing_config --insecure-registry {registry.host}").success
    capsys.readouterr()
    result = run(shell, "%%fairing_train --image-only --requirements none "
                        f"--registry {registry.host}/hardening/secrets "
                        f"--base-image {base_image.ref}\n{AWS_CELL}")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert_clean(out, known, "text panel of the build")
    ref = out.strip().splitlines()[-1]
    repository, digest = ref.split("/", 1)[1].split("@")
    manifest = _get(f"http://{registry.host}/v2/{repository}/manifests/{digest}",
                    "application/vnd.oci.image.manifest.v1+json")
    assert_clean(manifest, known, "manifest")
    parsed = json.loads(manifest)
    config = _get(f"http://{registry.host}/v2/{repository}/blobs/{parsed['config']['digest']}")
    assert_clean(config, known, "image config")
    assert_clean(json.dumps(json.loads(config).get("config", {}).get("Labels") or {}), known,
                 "labels")
    scanned = 0
    for layer in parsed["layers"]:
        if layer["digest"] == base_image.layer_digest:
            continue  # Debian's rootfs, not ours (its own scan is tests/aws)
        blob = _get(f"http://{registry.host}/v2/{repository}/blobs/{layer['digest']}")
        assert find_credentials_in_blob(blob, known) == [], layer["digest"]
        scanned += 1
    assert scanned >= 1
    print(f"[secrets] image {ref}: manifest, config, labels and {scanned} layer(s) of ours hold "
          "no credentials")


def test_rendered_kubernetes_specs_hold_no_credentials(secret_kernel, capsys, monkeypatch):
    shell, known = secret_kernel
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    capsys.readouterr()
    for kind in ("job", "tfjob --workers 2", "pytorchjob --workers 1"):
        result = run(shell, "%%fairing_train --dry-run --backend kubernetes --registry "
                            "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job "
                            "--aws-secret aws-creds "
                            f"--service-account trainer --kind {kind}\n{AWS_CELL}")
        assert result.success, result.error_in_exec
        out = capsys.readouterr().out
        assert_clean(out, known, f"dry run of {kind}")
        documents = [d for d in yaml.safe_load_all(out[out.index("apiVersion:"):]) if d]
        assert documents
        for document in documents:
            metadata = [document.get("metadata", {})]
            spec = document.get("spec", {})
            metadata += [t.get("metadata", {}) for t in _templates(spec)]
            for meta in metadata:
                for field in ("labels", "annotations"):
                    assert_clean(json.dumps(meta.get(field) or {}), known, f"{kind} {field}")


def _templates(spec: dict) -> list[dict]:
    found = []
    if "template" in spec:
        found.append(spec["template"])
    for replica in (spec.get("tfReplicaSpecs") or spec.get("pytorchReplicaSpecs") or {}).values():
        found.append(replica.get("template", {}))
    return found


FAILING_CELL = (f"print('calling https://admin:{URL_PASSWORD}@registry.example.com/v2/', "
                "flush=True)\n"
                "raise RuntimeError('refused: "
                f"https://admin:{URL_PASSWORD}@registry.example.com/v2/ "
                f"with Authorization: Bearer {BEARER}')\n")


def test_failing_run_shows_credentials_redacted_in_message_and_panels(secret_kernel, capsys,
                                                                      tmp_path):
    shell, known = secret_kernel
    capsys.readouterr()
    result = run(shell, "%%fairing_train\n" + FAILING_CELL)
    assert result.success is False and isinstance(result.error_in_exec, JobFailed)
    error = result.error_in_exec
    for text, where in ((str(error), "message"), ("\n".join(error.last_lines), "last lines"),
                        (error.remote_traceback, "remote traceback"),
                        ("\n".join(error._render_traceback_()), "rendered error")):
        assert_clean(text, known, where)
    assert "https://***@registry.example.com" in str(error)
    assert_clean(capsys.readouterr().out, known, "text panel")

    settings = Settings(backend="local", home=tmp_path / "widget-home", ui="widget")
    request = merge_request(pipeline.TrainOptions(name="secret", wait=False), settings)
    widget_run = pipeline.train(FAILING_CELL, {}, [], request, RunBook(), cwd=tmp_path)
    with pytest.raises(JobFailed):
        widget_run.wait(timeout=60)
    view = widget_run.view
    view.close()
    assert widget_run.status == ev.FAILED
    panel = [view.header.value, view.stage_row.value, view.notice_box.value, view.summary_box.value,
             view.log_boxes[""].text(), view.chart.value]
    assert_clean("\n".join(panel), known, "JobView values")
    assert_clean(widget_run.logs(), known, "run.logs()")
    assert_clean((widget_run.folder / "logs.txt").read_text(), known, "logs.txt")


@pytest.mark.parametrize("flags", [
    f"--registry admin:{URL_PASSWORD}@127.0.0.1:9/hardening",
    f"--registry https://admin:{URL_PASSWORD}@127.0.0.1:9/hardening",
    f"--registry 127.0.0.1:9/hardening --base-image admin:{URL_PASSWORD}@127.0.0.1:9/base:1",
], ids=["registry-userinfo", "registry-url-userinfo", "base-userinfo"])
def test_references_with_credentials_are_refused_redacted(secret_kernel, capsys, flags):
    shell, known = secret_kernel
    capsys.readouterr()
    result = run(shell, f"%%fairing_train --image-only --requirements none {flags}\nprint(1)\n")
    assert result.success is False and isinstance(result.error_in_exec, FairingError)
    message = str(result.error_in_exec)
    assert "***@127.0.0.1:9/" in message and "\n" not in message
    assert_clean(message, known, "message")
    assert_clean(capsys.readouterr().out, known, "text panel")


@pytest.mark.e2e
def test_registry_auth_failure_through_a_url_with_credentials(secret_kernel, auth_registry,
                                                               base_image, capsys, registry):
    shell, known = secret_kernel
    run(shell, f"%fairing_config --insecure-registry {auth_registry.host} "
               f"--insecure-registry {registry.host}")
    capsys.readouterr()
    result = run(shell, "%%fairing_train --image-only --requirements none "
                        "--registry "
                        f"http://admin:{URL_PASSWORD}@{auth_registry.host}/hardening/secret "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    assert result.success is False and isinstance(result.error_in_exec, FairingError)
    message = str(result.error_in_exec)
    assert_clean(message, known, "message")
    assert_clean(capsys.readouterr().out, known, "text panel")
    assert auth_registry.password not in message


@pytest.fixture
def secret_index(tmp_path_factory):
    """A private package index on 127.0.0.1 whose basic-auth password is one of the known
    secrets."""
    from tests.harness.package_index import PackageIndexServer, make_wheel

    wheels = tmp_path_factory.mktemp("index-wheels")
    make_wheel(wheels, "fairing-probe", "1.0", "ANSWER = 42\n")
    server = PackageIndexServer(wheels, "robot", URL_PASSWORD)
    yield server
    server.stop()


@pytest.mark.e2e
def test_package_index_credentials_stay_out_of_settings_panel_and_image(secret_kernel,
                                                                        secret_index, registry,
                                                                        base_image, capsys,
                                                                        tmp_path):
    shell, known = secret_kernel
    (tmp_path / "requirements.txt").write_text("fairing-probe==1.0\n")
    assert run(shell, f"%fairing_config --insecure-registry {registry.host} "
                      f"--index-url {secret_index.auth_url}").success
    shown = capsys.readouterr().out
    assert_clean(shown, known, "%fairing_config")
    assert f"http://***@127.0.0.1:{secret_index.port}/simple" in shown
    result = run(shell, f"%%fairing_train --image-only --requirements requirements.txt "
                        f"--registry {registry.host}/hardening/index "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert_clean(out, known, "text panel of the build")
    assert secret_index.served_files(), "the dependency layer came from the private index"
    ref = out.strip().splitlines()[-1]
    repository, digest = ref.split("/", 1)[1].split("@")
    manifest = _get(f"http://{registry.host}/v2/{repository}/manifests/{digest}",
                    "application/vnd.oci.image.manifest.v1+json")
    assert_clean(manifest, known, "manifest")
    parsed = json.loads(manifest)
    config = _get(f"http://{registry.host}/v2/{repository}/blobs/{parsed['config']['digest']}")
    assert_clean(config, known, "image config (history, env, labels)")
    assert b"robot" not in config and str(secret_index.port).encode() not in config
    ours = [layer for layer in parsed["layers"] if layer["digest"] != base_image.layer_digest]
    assert len(ours) == 2  # dependency layer and code layer
    for layer in ours:
        blob = _get(f"http://{registry.host}/v2/{repository}/blobs/{layer['digest']}")
        assert find_credentials_in_blob(blob, known) == [], layer["digest"]
    # The same index with a wrong password: the cell fails with one line, credentials redacted.
    wrong = secret_index.url_with("robot", "x" + URL_PASSWORD)
    assert run(shell, f"%fairing_config --index-url {wrong}").success
    capsys.readouterr()
    # a new layer
    (tmp_path / "requirements.txt").write_text("fairing-probe==1.0\ncloudpickle==3.1.1\n")
    result = run(shell, f"%%fairing_train --image-only --requirements requirements.txt "
                        f"--registry {registry.host}/hardening/index "
                        f"--base-image {base_image.ref}\nprint(1)\n")
    assert result.success is False and isinstance(result.error_in_exec, FairingError)
    message = str(result.error_in_exec)
    assert "refused the credentials (401)" in message and "\n" not in message
    assert_clean(message, known, "message")
    assert_clean(capsys.readouterr().out, known, "text panel of the failed build")
    run(shell, "%fairing_config --index-url ''")
