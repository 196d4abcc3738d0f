"""The emulated API server behaves like a real one for the official ``kubernetes`` client.

These use ``kube_api`` (no kubelet, no registry): fast, in-process, plain HTTP.
"""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def _pod(name: str, labels: dict | None = None, **meta) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}, **meta},
            "spec": {"containers": [{"name": "main", "image": "example.test/app:1"}]}}


@pytest.fixture
def core(kube_api):
    return client.CoreV1Api(kube_api.api_client())


def _status(e: ApiException) -> dict:
    import json
    return json.loads(e.body)


def test_discovery_and_version(kube_api):
    api = kube_api.api_client()
    assert client.VersionApi(api).get_code().major == "1"
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"batch", "apps", "kubeflow.org", "serving.kserve.io", "apiextensions.k8s.io",
            "authorization.k8s.io"} <= groups
    names = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods", "pods/log", "pods/status", "services", "events", "secrets"} <= names


def test_create_get_list_and_metadata(core):
    created = core.create_namespaced_pod("default", _pod("web-1", {"app": "web"}))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.namespace == "default"
    got = core.read_namespaced_pod("web-1", "default")
    assert got.metadata.uid == meta.uid
    gen = core.create_namespaced_pod("default", _pod("", generateName="web-"))
    assert gen.metadata.name.startswith("web-") and len(gen.metadata.name) == len("web-") + 5
    listed = core.list_namespaced_pod("default")
    assert {p.metadata.name for p in listed.items} == {"web-1", gen.metadata.name}
    assert int(listed.metadata.resource_version) >= int(got.metadata.resource_version)


def test_errors_are_status_objects(core):
    core.create_namespaced_pod("default", _pod("dup"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("default", _pod("dup"))
    assert e.value.status == 409 and _status(e.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("missing", "default")
    assert e.value.status == 404 and _status(e.value)["message"] == 'pods "missing" not found'
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("default", _pod("Not_Valid"))
    body = _status(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("nowhere", _pod("x"))
    assert e.value.status == 404 and _status(e.value)["message"] == 'namespaces "nowhere" not found'
    with pytest.raises(ApiException) as e:
        client.BatchV1Api(core.api_client).create_namespaced_job("default", {
            "metadata": {"name": "always"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    assert e.value.status == 422 and "spec.template.spec.restartPolicy" in e.value.body


def test_label_and_field_selectors(core):
    core.create_namespaced_pod("default", _pod("a", {"app": "web", "tier": "front"}))
    core.create_namespaced_pod("default", _pod("b", {"app": "web", "tier": "back"}))
    core.create_namespaced_pod("default", _pod("c", {"app": "db"}))

    def names(**kw) -> set[str]:
        return {p.metadata.name for p in core.list_namespaced_pod("default", **kw).items}
    assert names(label_selector="app=web") == {"a", "b"}
    assert names(label_selector="app==web,tier!=front") == {"b"}
    assert names(label_selector="tier in (front, back)") == {"a", "b"}
    assert names(label_selector="app notin (web)") == {"c"}
    assert names(label_selector="tier") == {"a", "b"}
    assert names(label_selector="!tier") == {"c"}
    assert names(field_selector="metadata.name=b") == {"b"}
    assert names(field_selector="status.phase=Pending,metadata.name!=a") == {"b", "c"}
    with pytest.raises(ApiException) as e:
        core.list_namespaced_pod("default", field_selector="spec.bogus=1")
    assert e.value.status == 400 and "field label not supported" in e.value.body
    page = core.list_namespaced_pod("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_pod("default", limit=2, _continue=page.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"]


def test_patch_merge_json_and_conflict(core):
    core.create_namespaced_pod("default", _pod("p", {"v": "1"}))
    merged = core.patch_namespaced_pod("p", "default",
                                       {"metadata": {"labels": {"v": "2", "x": "y"}}})
    assert merged.metadata.labels == {"v": "2", "x": "y"}
    removed = core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"x": None}}})
    assert removed.metadata.labels == {"v": "2"}
    patched = core.patch_namespaced_pod(
        "p", "default", [{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
                         {"op": "replace", "path": "/metadata/labels/v", "value": "3"}])
    assert patched.metadata.annotations == {"k": "v"} and patched.metadata.labels["v"] == "3"
    stale = core.read_namespaced_pod("p", "default")
    core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"v": "4"}}})
    stale.metadata.labels["v"] = "5"
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_pod("p", "default", stale)
    assert e.value.status == 409 and _status(e.value)["reason"] == "Conflict"
    status = core.patch_namespaced_pod_status("p", "default", {"status": {"message": "hello"}})
    assert status.status.message == "hello"
    ignored = core.patch_namespaced_pod("p", "default", {"status": {"message": "not here"}})
    assert ignored.status.message == "hello"  # the main resource ignores status changes


def test_secret_string_data_and_configmap(core):
    secret = core.create_namespaced_secret("default", {"metadata": {"name": "s"},
                                                       "stringData": {"token": "abc"}})
    assert secret.data == {"token": "YWJj"} and secret.type == "Opaque"
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"},
                                                       "data": {"k": "v"}})
    assert cm.data == {"k": "v"}
    assert core.read_namespaced_service_account("default", "default").metadata.name == "default"


def test_watch_events_resume_and_410(kube_api, core):
    start = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", _pod("w1", {"app": "w"}))
    core.patch_namespaced_pod("w1", "default", {"metadata": {"labels": {"extra": "1"}}})
    core.delete_namespaced_pod("w1", "default")
    w = watch.Watch()
    seen = [(ev["type"], ev["object"].metadata.name) for ev in w.stream(
        core.list_namespaced_pod, "default", resource_version=start, timeout_seconds=1)]
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    # selectors apply to events
    core.create_namespaced_pod("default", _pod("w2", {"app": "other"}))
    got = [ev["object"].metadata.name for ev in watch.Watch().stream(
        core.list_namespaced_pod, "default", label_selector="app=other", timeout_seconds=1)]
    assert got == ["w2"]
    # a live watch ended by expire_watches() gets 410 Gone, and so does an old resourceVersion
    errors: list = []

    def follow() -> None:
        try:
            for _ in watch.Watch().stream(core.list_namespaced_pod, "default",
                                          resource_version=start, timeout_seconds=10):
                pass
        except ApiException as e:
            errors.append(e.status)
    t = threading.Thread(target=follow)
    t.start()
    time.sleep(0.5)
    assert kube_api.emulator.expire_watches() >= 1
    t.join(10)
    assert errors == [410]
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "default",
                                      resource_version=start, timeout_seconds=1):
            pass
    assert e.value.status == 410


def test_watch_timeout_ends_stream(core):
    t0 = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    assert events == [] and 0.9 < time.monotonic() - t0 < 5


def test_delete_propagation(kube_api):
    api = kube_api.api_client()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    spec = {"template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "x:1"}]}}}
    for name in ("bg", "fg", "orphan"):
        batch.create_namespaced_job("default", {"metadata": {"name": name}, "spec": spec})

    def pods(job: str) -> list:
        return core.list_namespaced_pod("default", label_selector=f"job-name={job}").items
    kube_api.emulator.wait_for(lambda: all(pods(j) for j in ("bg", "fg", "orphan")), 10)
    pod = pods("bg")[0]
    assert pod.metadata.name.startswith("bg-") and pod.metadata.owner_references[0].kind == "Job"
    assert {"controller-uid", "batch.kubernetes.io/job-name"} <= set(pod.metadata.labels)
    batch.delete_namespaced_job("bg", "default", propagation_policy="Background")
    kube_api.emulator.wait_for(lambda: not pods("bg"), 10, what="background deletion")
    batch.delete_namespaced_job("fg", "default", propagation_policy="Foreground")
    kube_api.emulator.wait_for(lambda: not pods("fg"), 10, what="foreground deletion")
    kube_api.emulator.wait_for(lambda: not batch.list_namespaced_job(
        "default", field_selector="metadata.name=fg").items, 10)
    batch.delete_namespaced_job("orphan", "default")  # batch/v1 default: orphan the pods
    time.sleep(0.5)
    assert pods("orphan") and not pods("orphan")[0].metadata.owner_references


def test_rbac_deny_and_access_review(kube_api):
    api = kube_api.api_client()
    custom = client.CustomObjectsApi(api)
    authz = client.AuthorizationV1Api(api)

    def allowed(verb: str, resource: str, group: str) -> bool:
        review = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {
            "namespace": "default", "verb": verb, "resource": resource, "group": group}}})
        return review.status.allowed
    assert allowed("create", "tfjobs", "kubeflow.org")
    kube_api.emulator.deny("create", "tfjobs", group="kubeflow.org")
    assert not allowed("create", "tfjobs", "kubeflow.org")
    assert allowed("list", "tfjobs", "kubeflow.org")
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object("kubeflow.org", "v1", "default", "tfjobs", {
            "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "t"},
            "spec": {"tfReplicaSpecs": {}}})
    assert e.value.status == 403
    assert ('cannot create resource "tfjobs" in API group "kubeflow.org"'
            in _status(e.value)["message"])


def test_crds_can_be_removed(kube_api):
    api = kube_api.api_client()
    ext = client.ApiextensionsV1Api(api)
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert {"tfjobs.kubeflow.org", "pytorchjobs.kubeflow.org",
            "inferenceservices.serving.kserve.io"} <= names
    kube_api.emulator.remove_crd("pytorchjobs.kubeflow.org")
    with pytest.raises(ApiException) as e:
        ext.read_custom_resource_definition("pytorchjobs.kubeflow.org")
    assert e.value.status == 404
    with pytest.raises(ApiException) as e:
        client.CustomObjectsApi(api).list_namespaced_custom_object(
            "kubeflow.org", "v1", "default", "pytorchjobs")
    assert e.value.status == 404


def test_faults_429_500_and_auth(kube_api, core):
    faults = kube_api.emulator.faults
    # urllib3 (under the client) itself retries a 429 that carries Retry-After, 3 times
    kube_api.emulator.fail_requests(429, count=10, path="/pods$", method="GET", retry_after=0)
    with pytest.raises(ApiException) as e:
        core.list_namespaced_pod("default")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "0"
    assert faults.failed_requests == 4
    faults.clear()
    kube_api.emulator.fail_requests(429, count=1, path="/pods$", method="GET", retry_after=0)
    core.list_namespaced_pod("default")  # one 429, retried by urllib3
    assert faults.failed_requests == 5
    kube_api.emulator.fail_requests(500, count=2, path="/namespaces/default/pods")
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            core.list_namespaced_pod("default")
        assert e.value.status == 500
    cfg = client.Configuration()
    cfg.host = kube_api.api_url
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(client.ApiClient(cfg)).list_namespaced_pod("default")
    assert e.value.status == 401


def test_training_job_validation_and_pods(kube_api):
    api = kube_api.api_client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    template = {"spec": {"containers": [{"name": "tensorflow", "image": "x:1"}]}}
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object("kubeflow.org", "v1", "default", "tfjobs", {
            "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "bad"},
            "spec": {"tfReplicaSpecs": {"Worker": {"template": {"spec": {"containers": [
                {"name": "main", "image": "x:1"}]}}}}}})
    assert e.value.status == 422 and "no container named tensorflow" in _status(e.value)["message"]
    custom.create_namespaced_custom_object("kubeflow.org", "v1", "default", "tfjobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "tf"},
        "spec": {"tfReplicaSpecs": {"Chief": {"replicas": 1, "template": template},
                                    "Worker": {"replicas": 2, "template": template}}}})
    selector = "training.kubeflow.org/job-name=tf"
    pods = kube_api.emulator.wait_for(
        lambda: len(core.list_namespaced_pod("default", label_selector=selector).items) == 3
        and core.list_namespaced_pod("default", label_selector=selector).items, 10)
    assert sorted(p.metadata.name for p in pods) == ["tf-chief-0", "tf-worker-0", "tf-worker-1"]
    worker = next(p for p in pods if p.metadata.name == "tf-worker-1")
    assert worker.metadata.labels["training.kubeflow.org/replica-type"] == "worker"
    assert worker.metadata.labels["training.kubeflow.org/replica-index"] == "1"
    assert worker.metadata.labels["replica-type"] == "worker"
    assert any(e.name == "TF_CONFIG" for e in worker.spec.containers[0].env)
    job = custom.get_namespaced_custom_object("kubeflow.org", "v1", "default", "tfjobs", "tf")
    assert any(c["type"] == "Created" for c in job["status"]["conditions"])


def test_unschedulable_gpu_pod(kube_api, core):
    pod = _pod("gpu")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    core.create_namespaced_pod("default", pod)
    event = kube_api.emulator.wait_for(lambda: [
        e for e in core.list_namespaced_event(
            "default", field_selector="involvedObject.name=gpu").items
        if e.reason == "FailedScheduling"], 10)
    assert "Insufficient nvidia.com/gpu" in event[0].message and event[0].type == "Warning"
    got = core.read_namespaced_pod("gpu", "default")
    assert got.spec.node_name is None and got.status.conditions[0].reason == "Unschedulable"
