"""Endpoints on the emulated cluster: the serving image is built and pushed to a real registry,
the Deployment's pods run with podman, and ``.predict()`` goes over HTTP to them.

Each test uses its own namespace of the session's ``kube_cluster``.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.deploy import EndpointBook, PredictionError, deploy, undeploy
from fairing_magics.errors import DeployError
from tests.deploy.test_local import _crashing_model

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster_settings(kube_cluster, tmp_path, monkeypatch):
    """Settings pointing at the emulated cluster and its registry, in a fresh namespace."""
    from kubernetes import client

    namespace = f"deploy-{uuid.uuid4().hex[:6]}"
    api = kube_cluster.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    registry = kube_cluster.registry_host
    settings = Settings(home=tmp_path / "home", ui="text", backend="kubernetes",
                        namespace=namespace, registry=f"{registry}/fairing/serve",
                        base_image=kube_cluster.python_image(), insecure_registries=(registry,))
    yield settings, api, namespace
    api.close()


def _objects(api, namespace: str, name: str) -> dict:
    from kubernetes import client

    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    return {
        "deployments": [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items],
        "services": [s.metadata.name for s in core.list_namespaced_service(namespace).items],
        "pods": [p.metadata.name for p in core.list_namespaced_pod(namespace).items],
        "live pods": [p.metadata.name for p in core.list_namespaced_pod(namespace).items
                      if p.metadata.deletion_timestamp is None],
        "inferenceservices": [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices")["items"]],
    }


def test_deployment_pods_serve_the_kernels_predictions_roll_out_and_undeploy_cleanly(
        cluster_settings, linreg):
    settings, api, namespace = cluster_settings
    model, x = linreg
    book, events = EndpointBook(), []
    endpoint = deploy(model, name="linreg", settings=settings, book=book, emit=events.append,
                      timeout=600, expose="loadbalancer", cpu="500m", memory="1Gi")
    try:
        assert endpoint.backend == "kubernetes" and endpoint.status == "Ready"
        assert endpoint.url.startswith("http://127.0.0.1:")
        assert np.allclose(endpoint.predict(x), model.predict(x), rtol=0, atol=1e-12)
        with pytest.raises(PredictionError) as caught:
            endpoint.request(b'{"instances": [[1, 2, 3], [4]]}')
        assert caught.value.status == 400
        found = _objects(api, namespace, "linreg")
        assert found["deployments"] == ["linreg"] and found["services"] == ["linreg"]
        from kubernetes import client

        service = client.CoreV1Api(api).read_namespaced_service("linreg", namespace)
        assert service.spec.type == "LoadBalancer"
        ingress = service.status.load_balancer.ingress[0]  # the emulator's "load balancer"
        assert endpoint.url == f"http://{ingress.ip}:{ingress.ports[0].port}"
        assert len(found["pods"]) == 1 and found["pods"][0].startswith("linreg-")
        assert "listening on" in endpoint.logs()
        assert endpoint.logs().startswith(f"[{found['pods'][0]}] ")
        stages = [e.stage for e in events if isinstance(e, ev.StageChanged) and e.state == "done"]
        assert stages == ["package", "build", "push", "apply", "rollout", "ready"]
        assert any(isinstance(e, ev.PhaseChanged) and e.source and e.phase == "Ready"
                   for e in events)
        assert any(isinstance(e, ev.Notice) and "Pulling" in e.text for e in events)  # pod events

        second = LinearRegression().fit(x, x[:, 1] * -4.0 + 2.0)
        again = deploy(second, name="linreg", settings=settings, book=book, emit=lambda e: None,
                       timeout=600)
        assert again is endpoint and endpoint.revision == 2
        assert np.allclose(endpoint.predict(x), second.predict(x), rtol=0, atol=1e-12)
        live = _objects(api, namespace, "linreg")["live pods"]
        assert len(live) == 1 and live != found["live pods"]  # the old pod was replaced
    finally:
        undeploy("linreg", book=book)
    assert _objects(api, namespace, "linreg") == {"deployments": [], "services": [], "pods": [],
                                                  "live pods": [], "inferenceservices": []}
    assert endpoint.status == "Deleted"


def test_a_crashing_server_fails_with_its_log_and_leaves_no_objects(cluster_settings):
    settings, api, namespace = cluster_settings
    events = []
    with pytest.raises(DeployError) as caught:
        deploy(_crashing_model(), name="broken", settings=settings, book=EndpointBook(),
               emit=events.append, timeout=300)
    assert "the weights file is corrupt" in str(caught.value) and "pod broken-" in str(caught.value)
    # The panel shows the stage that failed as failed, not as still running.
    rollout = [e.state for e in events if isinstance(e, ev.StageChanged) and e.stage == "rollout"]
    assert rollout == ["running", "failed"]
    assert _objects(api, namespace, "broken") == {"deployments": [], "services": [], "pods": [],
                                                  "live pods": [], "inferenceservices": []}


def test_inferenceservice_becomes_ready_with_a_url_and_predicts(cluster_settings, linreg):
    settings, api, namespace = cluster_settings
    model, x = linreg
    book = EndpointBook()
    endpoint = deploy(model, name="linreg-isvc", kserve=True, settings=settings, book=book,
                      emit=lambda e: None, timeout=600)
    try:
        assert endpoint.status == "Ready" and endpoint.url.startswith("http://")
        assert np.allclose(endpoint.predict(x), model.predict(x), rtol=0, atol=1e-12)
        assert _objects(api, namespace, "linreg-isvc")["inferenceservices"] == ["linreg-isvc"]
    finally:
        endpoint.delete()
    assert _objects(api, namespace, "linreg-isvc")["inferenceservices"] == []
    assert _objects(api, namespace, "linreg-isvc")["pods"] == []
