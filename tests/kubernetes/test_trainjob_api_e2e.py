"""``%%fairing_train --kind trainjob`` on an emulated cluster whose Trainer is older (v2.0's
``podSpecOverrides``): the pods carry the service account and the output volume (without the
CRD check the API server would prune them silently), and a notebook that may not read CRDs gets
the newest field and one notice saying what an older Trainer would drop."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.trainjob_api import forget_trainjob_apis
from tests.harness import clear_user_namespace, ipython_shell
from tests.harness.kube.trainer_crds import install_trainjob_crd

pytestmark = pytest.mark.e2e

_base = {}


@pytest.fixture
def shell(kube_cluster, tmp_path, monkeypatch, request):
    from kubernetes.client import CoreV1Api

    namespace = "tja-" + request.node.name.replace("_", "-")[5:28].strip("-").lower()
    api = kube_cluster.api_client()
    CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    if "image" not in _base:
        _base["image"] = kube_cluster.python_image()
    host = kube_cluster.registry_host
    for key, value in {"KUBECONFIG": str(kube_cluster.kubeconfig),
                       "FAIRING_HOME": str(tmp_path / "home"), "FAIRING_UI": "text",
                       "FAIRING_BACKEND": "kubernetes", "FAIRING_NAMESPACE": namespace,
                       "FAIRING_STORAGE": str(tmp_path / "storage"),
                       "FAIRING_REGISTRY": f"{host}/trainjob-api-e2e",
                       "FAIRING_BASE_IMAGE": _base["image"],
                       "FAIRING_INSECURE_REGISTRIES": host}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    forget_trainjob_apis()
    ip = ipython_shell()
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    try:
        yield ip, api, namespace, kube_cluster.emulator
    finally:
        ip.run_cell("%unload_ext fairing_magics")
        install_trainjob_crd(kube_cluster.emulator, None)  # the shared cluster's open CRD
        kube_cluster.emulator.faults.clear()
        forget_trainjob_apis()
        api.close()


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
