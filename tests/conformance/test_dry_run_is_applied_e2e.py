"""The dry run is what is applied: for every training kind (a TrainJob on each Trainer shape) and
every deploy mode, the YAML ``--dry-run`` prints equals the body the emulated API server received
from the real run, once the run's name suffix and the built image's digest (unknown to a dry run)
are put in. The emulator checks each body against the real schemas with
``fieldValidation=Strict`` (sent by the client, asserted here): nothing dropped, nothing refused.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest
import yaml

from fairing_magics.backends.kubernetes.trainjob_api import forget_trainjob_apis
from fairing_magics.deploy import ENDPOINTS
from fairing_magics.errors import FairingError
from tests.harness.kube.trainer_crds import install_trainjob_crd
from tests.kubernetes.magics_shell import magics_on_cluster

pytestmark = pytest.mark.e2e

TRAIN_FLAGS = ("--requirements none --cpu 500m --memory 256Mi --env LEARNING_RATE=0.1 "
               "--timeout 600 --toleration dedicated=ml:NoSchedule "
               "--node-selector kubernetes.io/os=linux")
BUCKET = "fairing-dry-run"


@pytest.fixture
def shell(kube_cluster, tmp_path, monkeypatch):
    namespace = f"dry-{uuid.uuid4().hex[:6]}"
    forget_trainjob_apis()
    try:
        with magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace,
                               "dry-run-e2e") as (ip, api):
            yield ip, api, namespace, kube_cluster.emulator
    finally:
        for endpoint in ENDPOINTS.all():
            endpoint.delete()
        install_trainjob_crd(kube_cluster.emulator, None)
        forget_trainjob_apis()


def printed_objects(text: str) -> list[dict]:
    """The YAML documents after the plan's 'Kubernetes: would create' line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Kubernetes: would create"))
    blank = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return [doc for doc in yaml.safe_load_all("\n".join(lines[blank + 1:])) if doc]


def received(emulator, namespace: str, name: str) -> list[dict]:
    """The create requests the emulator got for objects called ``name`` in ``namespace``."""
    found = [r for r in emulator.received if r["method"] == "POST"
             and f"/namespaces/{namespace}/" in r["path"]
             and (r["body"].get("metadata") or {}).get("name") == name]
    assert found, f"no create of {name} in {namespace}"
    for request in found:
        assert request["query"].get("fieldValidation") == "Strict", request["path"]
    return [r["body"] for r in found]


def same_after_substitution(printed: dict, sent: dict, pairs: dict[str, str]) -> None:
    text = json.dumps(sent, sort_keys=True)
    for real, shown in pairs.items():
        text = text.replace(real, shown)
    assert json.loads(text) == json.loads(json.dumps(printed, sort_keys=True)), \
        "--dry-run printed:\n" + yaml.safe_dump(printed) + "\nthe cluster received:\n" + \
        yaml.safe_dump(json.loads(text))


@pytest.mark.parametrize("kind,trainer", [("job", None), ("tfjob", None), ("pytorchjob", None),
                                          ("trainjob", "v2.0.1"), ("trainjob", "v2.1.0"),
                                          ("trainjob", "v2.3.0")])
def test_training_sends_what_its_dry_run_printed(shell, capsys, kind, trainer):
    ip, api, namespace, emulator = shell
    if trainer:
        install_trainjob_crd(emulator, trainer)
    workers = "" if kind == "job" else " --workers 2"
    flags = f"--kind {kind}{workers} {TRAIN_FLAGS} --name dry-{kind}"
    cell = "total = sum(range(10))\nprint('total', total)\n"
    capsys.readouterr()
    assert ip.run_cell(f"%%fairing_train {flags} --dry-run\n{cell}").success
    plan = capsys.readouterr().out
    (printed,) = printed_objects(plan)
    if trainer in ("v2.0.1", "v2.1.0"):
        assert "no spec.activeDeadlineSeconds" in plan  # and the kernel enforces --timeout
    result = ip.run_cell(f"%%fairing_train {flags} --no-wait\n{cell}")
    assert result.success, result.error_in_exec
    run = result.result
    try:
        (sent,) = received(emulator, namespace, run.name)
        dry_name = printed["metadata"]["name"]
        same_after_substitution(printed, sent, {run.name: dry_name,
                                                run.image: printed_image(printed)})
    finally:
        run.cancel()
        with contextlib.suppress(FairingError):
            run.wait(60)  # ended before the test's output capture closes


def printed_image(obj: dict) -> str:
    """The image a dry run shows (``REGISTRY@sha256:<digest-of-the-built-image>``)."""
    text = json.dumps(obj)
    start = text.index('"image": "') + len('"image": "')
    return text[start:text.index('"', start)]


@pytest.mark.parametrize("flags", ["--replicas 2 --cpu 250m --memory 128Mi --expose nodeport",
                                   "--replicas 2 --cpu 250m --memory 128Mi --kserve"])
def test_deploying_our_predictor_sends_what_its_dry_run_printed(shell, capsys, flags):
    from sklearn.linear_model import LinearRegression

    ip, api, namespace, emulator = shell
    ip.user_ns["model"] = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    name = "dry-kserve" if "--kserve" in flags else "dry-deploy"
    capsys.readouterr()
    assert ip.run_cell(f"%fairing_deploy model --name {name} {flags} --dry-run").success
    printed = printed_objects(capsys.readouterr().out)
    result = ip.run_cell(f"%fairing_deploy model --name {name} {flags} --timeout 300")
    assert result.success, result.error_in_exec
    endpoint = result.result
    bodies = received(emulator, namespace, name)
    assert sorted(b["kind"] for b in bodies) == sorted(p["kind"] for p in printed)
    for shown in printed:
        sent = next(b for b in bodies if b["kind"] == shown["kind"])
        same_after_substitution(shown, sent, {endpoint.server.image: printed_image(printed[0])})
    endpoint.delete()


def test_deploying_with_a_stock_runtime_sends_what_its_dry_run_printed(shell, capsys, aws):
    """The defect that started this: the runtime's dry run left out --replicas, --cpu and
    --memory. No ServingRuntime is installed here, so the rollout does not finish: what matters is
    what was sent."""
    import boto3
    from sklearn.linear_model import LinearRegression

    ip, api, namespace, emulator = shell
    boto3.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-northwest-1"})
    assert ip.run_cell(f"%fairing_config --storage s3://{BUCKET}/team "
                       "--service-account kserve-s3").success
    ip.user_ns["model"] = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    flags = "--kserve --runtime sklearn --replicas 2 --cpu 250m --memory 128Mi"
    capsys.readouterr()
    assert ip.run_cell(f"%fairing_deploy model --name dry-sklearn {flags} --dry-run").success
    (printed,) = printed_objects(capsys.readouterr().out)
    predictor = printed["spec"]["predictor"]
    assert predictor["minReplicas"] == 2
    assert predictor["model"]["resources"]["limits"] == {"cpu": "250m", "memory": "128Mi"}
    ip.run_cell(f"%fairing_deploy model --name dry-sklearn {flags} --timeout 3")
    (sent,) = received(emulator, namespace, "dry-sklearn")
    same_after_substitution(printed, sent, {})
