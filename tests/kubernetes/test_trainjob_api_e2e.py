"""``%%fairing_train --kind trainjob`` on an emulated cluster whose Trainer is older (v2.0's
``podSpecOverrides``): the pods carry the service account and the output volume (without the
CRD check the API server would prune them silently), and a notebook that may not read CRDs gets
the newest field and one notice saying what an older Trainer would drop."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.trainjob_api import forget_trainjob_apis
from tests.harness.kube.trainer_crds import install_trainjob_crd
from tests.kubernetes.magics_shell import magics_on_cluster

pytestmark = pytest.mark.e2e

@pytest.fixture
def shell(kube_cluster, tmp_path, monkeypatch, request):
    namespace = "tja-" + request.node.name.replace("_", "-")[5:28].strip("-").lower()
    forget_trainjob_apis()
    try:
        with magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace,
                               "trainjob-api-e2e") as (ip, api):
            yield ip, api, namespace, kube_cluster.emulator
    finally:
        install_trainjob_crd(kube_cluster.emulator, None)  # the shared cluster's open CRD
        kube_cluster.emulator.faults.clear()
        forget_trainjob_apis()


def _pods(api, namespace: str, run_name: str) -> list:
    from kubernetes.client import CoreV1Api

    return CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"jobset.sigs.k8s.io/jobset-name={run_name}").items


def test_a_v2_0_trainer_gets_pod_spec_overrides_and_the_pods_their_service_account(shell):
    ip, api, namespace, emulator = shell
    install_trainjob_crd(emulator, "podSpecOverrides")
    plan = ip.run_cell("%%fairing_train --kind trainjob --dry-run --requirements none "
                       "--service-account s3-reader\nx = 1\n")
    assert plan.success, plan.error_in_exec
    ip.user_ns["values"] = [1, 2, 3]
    result = ip.run_cell(
        "%%fairing_train --kind trainjob --service-account s3-reader --requirements none "
        "--name old --outputs total\n"
        "total = sum(values)\n")
    assert result.success, result.error_in_exec
    run = result.result
    assert run.status == ev.SUCCEEDED and ip.user_ns["total"] == 6  # the output volume got there
    (pod,) = _pods(api, namespace, run.name)
    assert pod.spec.service_account_name == "s3-reader"
    assert "cannot read the TrainJob CRD" not in run.logs()
    from kubernetes.client import CustomObjectsApi

    job = CustomObjectsApi(api).get_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", namespace, "trainjobs", run.name)
    assert job["spec"]["podSpecOverrides"][0]["serviceAccountName"] == "s3-reader"


def test_a_forbidden_crd_read_sends_the_newest_field_with_one_notice(shell):
    ip, api, namespace, emulator = shell
    emulator.deny("get", "customresourcedefinitions", group="apiextensions.k8s.io")
    result = ip.run_cell("%%fairing_train --kind trainjob --service-account s3-reader "
                         "--requirements none --name denied\nprint('ok')\n")
    assert result.success, result.error_in_exec
    run = result.result
    assert run.status == ev.SUCCEEDED
    logs = run.logs()
    assert logs.count("cannot read the TrainJob CRD") == 1, logs
    assert "these settings are dropped: --service-account s3-reader, volume fairing-output" in logs
    (pod,) = _pods(api, namespace, run.name)
    assert pod.spec.service_account_name == "s3-reader"  # this cluster's Trainer is the newest
