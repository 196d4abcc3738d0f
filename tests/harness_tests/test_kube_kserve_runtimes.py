"""The emulator's KServe stock runtimes: runtime resolution, the storage-initializer's S3 settings,
the predictor pod, and (through the official client) a model no runtime supports."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.harness.kserve_standin import sklearn_runtime
from tests.harness.kube.controllers.kserve_runtimes import (
    CLUSTER_SERVING_RUNTIME,
    SECRET,
    SERVICE_ACCOUNT,
    SERVING_RUNTIME,
    RuntimeUnavailable,
    StorageInitializer,
    find_runtime,
    runtime_pod_spec,
    s3_settings,
)
from tests.harness.kube.resources import find_type
from tests.harness.kube.store import Store

SERVED = [SERVING_RUNTIME, CLUSTER_SERVING_RUNTIME]
NAMESPACE = find_type("", "v1", "namespaces")
MODEL = {"modelFormat": {"name": "sklearn"}, "protocolVersion": "v1",
         "storageUri": "s3://b/models/m/0123"}


def _store() -> Store:
    store = Store()
    for name in ("team", "other"):
        store.create(NAMESPACE, "", {"metadata": {"name": name}})
    return store


def _runtime(name: str, fmt: str = "sklearn", auto: bool = True, protocols=("v1",),
             disabled=False) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "disabled": disabled, "protocolVersions": list(protocols),
        "supportedModelFormats": [{"name": fmt, "autoSelect": auto}],
        "containers": [{"name": "kserve-container", "image": f"{name}:1",
                        "args": ["--model_name={{.Name}}"]}]}}


def test_runtime_resolution_prefers_the_namespace_then_the_cluster_and_honours_the_rules():
    store = _store()
    store.create(CLUSTER_SERVING_RUNTIME, "", _runtime("kserve-sklearnserver"))
    store.create(CLUSTER_SERVING_RUNTIME, "", _runtime("kserve-xgbserver", fmt="xgboost"))
    assert find_runtime(store, "team", MODEL, SERVED)["metadata"]["name"] == "kserve-sklearnserver"
    store.create(SERVING_RUNTIME, "team", _runtime("team-sklearn"))
    assert find_runtime(store, "team", MODEL, SERVED)["metadata"]["name"] == "team-sklearn"
    assert find_runtime(store, "other", MODEL, SERVED)["metadata"]["name"] == "kserve-sklearnserver"
    named = {**MODEL, "runtime": "kserve-sklearnserver"}
    assert find_runtime(store, "team", named, SERVED)["metadata"]["name"] == "kserve-sklearnserver"
    with pytest.raises(RuntimeUnavailable, match="model type: {name: onnx}") as caught:
        find_runtime(store, "team", {**MODEL, "modelFormat": {"name": "onnx"}}, SERVED)
    assert caught.value.reason == "NoSupportingRuntime"
    with pytest.raises(RuntimeUnavailable, match="protocol v2"):
        find_runtime(store, "other", {**MODEL, "protocolVersion": "v2"}, SERVED)
    quiet = Store()
    quiet.create(CLUSTER_SERVING_RUNTIME, "", _runtime("manual", auto=False))
    quiet.create(CLUSTER_SERVING_RUNTIME, "", _runtime("off", disabled=True))
    with pytest.raises(RuntimeUnavailable):
        find_runtime(quiet, "team", MODEL, SERVED)  # not autoSelect, or disabled
    assert (find_runtime(quiet, "team", {**MODEL, "runtime": "manual"}, SERVED)["metadata"]["name"]
            == "manual")


def test_s3_settings_come_from_the_service_account_and_its_secrets():
    store = _store()
    # KServe's default
    assert s3_settings(store, "team", "default")["endpoint"] == "s3.amazonaws.com"
    store.create(SECRET, "team", {"metadata": {"name": "creds", "annotations": {
        "serving.kserve.io/s3-endpoint": "127.0.0.1:9000", "serving.kserve.io/s3-usehttps": "0"}},
        "data": {"AWS_ACCESS_KEY_ID": base64.b64encode(b"AKIA").decode(),
                 "AWS_SECRET_ACCESS_KEY": base64.b64encode(b"secret").decode()}})
    store.create(SERVICE_ACCOUNT, "team", {"metadata": {"name": "sa", "annotations": {
        "serving.kserve.io/s3-region": "cn-northwest-1"}}, "secrets": [{"name": "creds"}]})
    assert s3_settings(store, "team", "sa") == {"endpoint": "127.0.0.1:9000", "usehttps": "0",
                                                "region": "cn-northwest-1", "key": "AKIA",
                                                "secret": "secret"}


def test_a_remote_s3_endpoint_is_never_contacted(tmp_path):
    store = Store()
    with pytest.raises(RuntimeUnavailable, match="not on this machine") as caught:
        StorageInitializer(tmp_path).provide(store, "team", "m", "s3://b/models/m/0123", "default")
    assert caught.value.reason == "StorageInitializerFailed"
    assert not any(tmp_path.rglob("*"))


def test_predictor_pod_runs_the_runtime_container_with_the_model_mounted():
    predictor = {"minReplicas": 1, "serviceAccountName": "sa",
                 "model": {**MODEL, "resources": {"limits": {"cpu": "500m"}}}}
    spec = runtime_pod_spec(predictor, sklearn_runtime("registry/sklearnserver@sha256:ab"),
                            "linreg", Path("/data/m"))
    [container] = spec["containers"]
    assert container["image"] == "registry/sklearnserver@sha256:ab"
    assert container["args"] == ["--model_name=linreg", "--model_dir=/mnt/models",
                                 "--http_port=8080"]
    assert container["resources"] == {"limits": {"cpu": "500m"}}
    assert container["volumeMounts"] == [{"name": "kserve-provision-location",
                                          "mountPath": "/mnt/models", "readOnly": True}]
    assert (spec["volumes"][0]["hostPath"]["path"] == "/data/m"
            and spec["serviceAccountName"] == "sa")


def test_a_model_no_runtime_supports_is_not_ready_with_a_warning_event(kube_api):
    from kubernetes import client

    api = kube_api.api_client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    try:
        custom.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", "default", "inferenceservices", {
                "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": "onnx"},
                "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"},
                                                 "storageUri": "s3://b/m"}}}})

        def not_ready():
            isvc = custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", "default",
                                                       "inferenceservices", "onnx")
            conds = {c["type"]: c for c in (isvc.get("status") or {}).get("conditions", [])}
            return conds.get("Ready")
        ready = kube_api.emulator.wait_for(not_ready, 10, what="Ready condition")
        assert ready["status"] == "False" and ready["reason"] == "NoSupportingRuntime"
        events = kube_api.emulator.wait_for(
            lambda: [e for e in core.list_namespaced_event("default").items
                     if e.reason == "NoSupportingRuntime"], 10)
        assert (len(events) == 1 and events[0].involved_object.name == "onnx"
                and events[0].count == 1)
        assert custom.list_cluster_custom_object("serving.kserve.io", "v1alpha1",
                                                 "clusterservingruntimes")["items"] == []
    finally:
        api.close()
