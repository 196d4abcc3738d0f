"""``%fairing_deploy model --kserve --runtime sklearn`` on the emulated cluster with moto's S3.

The model is uploaded to moto, the emulator resolves ``modelFormat: sklearn`` to the
``kserve-sklearnserver`` ClusterServingRuntime, downloads the storageUri into ``/mnt/models`` with
the service account's S3 Secret (its ``serving.kserve.io/s3-endpoint`` annotation names moto) and
runs the runtime's image: a stand-in built here with our image builder that holds the real
``kserve`` package (:mod:`tests.harness.kserve_standin`). Each test uses its own namespace.

Deleting the endpoint removes the InferenceService and its pods; the model folder in S3
(``models/NAME/<digest12>/``) stays, as run outputs do: it is content-addressed, so deploying
the same model again reuses it.
"""

from __future__ import annotations

import base64
import time
import uuid

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from fairing_magics.deploy import ENDPOINTS
from tests.harness import clear_user_namespace, ipython_shell
from tests.harness.fixtures_aws import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

pytestmark = pytest.mark.e2e

BUCKET = "fairing-models"


@pytest.fixture(scope="module")
def sklearn_runtime(kube_cluster):
    """The stand-in sklearnserver image, pushed, and the ClusterServingRuntime naming it."""
    from kubernetes import client

    from tests.harness.kserve_standin import build_sklearnserver_image, sklearn_runtime

    started = time.perf_counter()
    image = build_sklearnserver_image(kube_cluster.registry_host, kube_cluster.python_image())
    seconds = time.perf_counter() - started
    print(f"stand-in sklearnserver image built and pushed in {seconds:.1f} s: {image}")
    api = kube_cluster.api_client()
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object("serving.kserve.io", "v1alpha1", "clusterservingruntimes",
                                        sklearn_runtime(image))
    yield image
    custom.delete_cluster_custom_object("serving.kserve.io", "v1alpha1", "clusterservingruntimes",
                                        "kserve-sklearnserver")
    api.close()


@pytest.fixture
def cluster_shell(kube_cluster, aws, sklearn_runtime, tmp_path, monkeypatch):
    """An IPython shell with the magics on the emulated cluster, S3 storage on moto, and the
    namespace's ``kserve-s3`` service account holding the S3 Secret as KServe documents it."""
    import boto3
    from kubernetes import client

    namespace = f"runtime-{uuid.uuid4().hex[:6]}"
    api = kube_cluster.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    endpoint = aws.url.split("://", 1)[1]
    core.create_namespaced_secret(namespace, {
        "metadata": {"name": "s3-creds", "annotations": {
            "serving.kserve.io/s3-endpoint": endpoint, "serving.kserve.io/s3-usehttps": "0",
            "serving.kserve.io/s3-region": "cn-northwest-1"}},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in (
            ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY))}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "kserve-s3"},
                                                       "secrets": [{"name": "s3-creds"}]})
    boto3.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-northwest-1"})
    for key, value in {"KUBECONFIG": str(kube_cluster.kubeconfig),
                       "FAIRING_HOME": str(tmp_path / "home"), "FAIRING_UI": "text",
                       "FAIRING_BACKEND": "kubernetes", "FAIRING_NAMESPACE": namespace,
                       "FAIRING_STORAGE": f"s3://{BUCKET}/team",
                       "FAIRING_SERVICE_ACCOUNT": "kserve-s3"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FAIRING_REGISTRY", raising=False)
    shell = ipython_shell()
    clear_user_namespace(shell)
    shell.run_cell("%unload_ext fairing_magics")
    shell.extension_manager.loaded.discard("fairing_magics")
    assert shell.run_cell("%load_ext fairing_magics").success
    yield shell, api, namespace
    for endpoint in ENDPOINTS.all():
        endpoint.delete()
    shell.run_cell("%unload_ext fairing_magics")
    api.close()


def _left(api, namespace: str) -> dict:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    return {
        "inferenceservices": [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices")["items"]],
        "pods": [p.metadata.name
                 for p in client.CoreV1Api(api).list_namespaced_pod(namespace).items],
    }


def test_sklearn_runtime_serves_the_uploaded_model_rolls_out_and_deletes(cluster_shell, linreg,
                                                                         capsys):
    import boto3

    shell, api, namespace = cluster_shell
    model, x = linreg
    shell.user_ns["model"], shell.user_ns["rows"] = model, x
    result = shell.run_cell(
        "%fairing_deploy model --name linreg --kserve --runtime sklearn --timeout 300")
    assert result.success, result.error_in_exec
    endpoint = result.result
    out = capsys.readouterr().out
    assert endpoint.status == "Ready" and endpoint.url.startswith("http://127.0.0.1:")
    assert np.allclose(endpoint.predict(x), model.predict(x), rtol=0, atol=1e-12)
    assert "saved with scikit-learn" in out and "linreg ready at" in out

    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("team/models/linreg/")
    assert keys[0].endswith("/model.joblib")
    from kubernetes import client

    isvc = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "linreg")
    spec = isvc["spec"]["predictor"]
    assert spec["serviceAccountName"] == "kserve-s3"
    assert spec["model"]["storageUri"] == f"s3://{BUCKET}/{keys[0].rsplit('/', 1)[0]}"
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    assert [c.image for c in pods[0].spec.containers] == [sklearn_image(api)]
    assert "--model_name=linreg" in pods[0].spec.containers[0].args
    assert "Registering model: linreg" in endpoint.logs()  # KServe's own ModelServer

    second = LinearRegression().fit(x, x[:, 1] * -4.0 + 2.0)
    shell.user_ns["model"] = second
    result = shell.run_cell(
        "%fairing_deploy model --name linreg --kserve --runtime sklearn --timeout 300")
    assert result.success, result.error_in_exec
    assert result.result is endpoint and endpoint.revision == 2
    assert np.allclose(endpoint.predict(x), second.predict(x), rtol=0, atol=1e-12)

    assert shell.run_cell("%fairing_undeploy linreg").success
    assert _left(api, namespace) == {"inferenceservices": [], "pods": []}
    # the model folders stay
    assert len(boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]) == 2


def test_a_crashing_runtime_fails_with_its_log_and_leaves_no_inferenceservice(cluster_shell, linreg,
                                                                              sklearn_runtime):
    """A namespace's ServingRuntime wins over the ClusterServingRuntime, as in KServe: this one
    looks for the model in an empty folder, so KServe's server exits with ModelMissingError."""
    from kubernetes import client

    from tests.harness.kserve_standin import sklearn_runtime as runtime_object

    shell, api, namespace = cluster_shell
    broken = runtime_object(sklearn_runtime)
    broken.update(kind="ServingRuntime", metadata={"name": "broken-sklearn"})
    broken["spec"]["containers"][0]["args"][1] = "--model_dir=/tmp"
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "serving.kserve.io", "v1alpha1", namespace, "servingruntimes", broken)
    shell.user_ns["model"] = linreg[0]
    result = shell.run_cell(
        "%fairing_deploy model --name broken --kserve --runtime sklearn --timeout 300")
    assert not result.success
    message = str(result.error_in_exec)
    # the server's log
    assert "pod broken-predictor-" in message and "ModelMissingError: /tmp" in message
    assert _left(api, namespace) == {"inferenceservices": [], "pods": []}


def sklearn_image(api) -> str:
    from kubernetes import client

    runtime = client.CustomObjectsApi(api).get_cluster_custom_object(
        "serving.kserve.io", "v1alpha1", "clusterservingruntimes", "kserve-sklearnserver")
    return runtime["spec"]["containers"][0]["image"]


def test_refusals_come_before_anything_is_uploaded(cluster_shell, linreg, monkeypatch):
    import boto3

    shell, api, namespace = cluster_shell
    shell.user_ns["model"], shell.user_ns["rows"] = linreg
    shell.run_cell("def double(model, x):\n    return model.predict(x) * 2")
    shell.run_cell("function_model = lambda x: x")
    cases = {
        "%fairing_deploy model --kserve --runtime sklearn --predictor double":
            "needs our predictor image",
        "%fairing_deploy model --kserve --runtime xgboost": "use --runtime sklearn",
        "%fairing_deploy function_model --kserve --runtime sklearn": "Drop --runtime",
        "%fairing_deploy model --runtime sklearn": "add --kserve",
    }
    for line, message in cases.items():
        result = shell.run_cell(line)
        assert not result.success, line
        assert message in str(result.error_in_exec), (line, result.error_in_exec)
    assert shell.run_cell("%fairing_config --storage /tmp/not-s3").success
    result = shell.run_cell("%fairing_deploy model --kserve --runtime sklearn")
    assert not result.success and "downloads the model from S3" in str(result.error_in_exec)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    assert _left(api, namespace) == {"inferenceservices": [], "pods": []}
