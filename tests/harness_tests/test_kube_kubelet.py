"""The emulated cluster runs real containers (podman) from a real registry, and the official
client sees what it would see on a real cluster: phases, container states, events, logs.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

pytestmark = pytest.mark.e2e


@pytest.fixture
def ns(kube_cluster):
    """A fresh namespace per test, deleted afterwards (with everything in it)."""
    core = client.CoreV1Api(kube_cluster.api_client())
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def api(kube_cluster):
    return kube_cluster.api_client()


def _job(name: str, image: str, code: str, backoff: int = 0, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "backoffLimit": backoff, **spec,
        "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": image, "command": ["python3", "-u", "-c", code],
             "env": [{"name": "GREETING", "value": "hello"}]}]}}}}


def _condition(obj, ctype: str):
    for c in (obj.status.conditions or []) if hasattr(obj, "status") else []:
        if c.type == ctype and c.status == "True":
            return c
    return None


def test_job_runs_a_real_container_to_complete(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    code = ("import os, time\nfor i in range(5):\n    print(os.environ['GREETING'], i, "
            "'port', os.environ['PORT'], flush=True)\n    time.sleep(0.2)")
    batch.create_namespaced_job(ns, _job("hello", image, code))
    pod = kube_cluster.emulator.wait_for(lambda: core.list_namespaced_pod(
        ns, label_selector="job-name=hello").items, 30, what="job pod")[0]
    name = pod.metadata.name
    assert name.startswith("hello-") and len(name) == len("hello-") + 5
    # follow the log as soon as the container runs: lines arrive live, the stream ends at exit
    kube_cluster.emulator.wait_for(lambda: core.read_namespaced_pod(name, ns).status.phase
                                   in ("Running", "Succeeded"), 90, what="container start")
    stream = core.read_namespaced_pod_log(name, ns, follow=True, _preload_content=False)
    lines = [line.decode() for line in stream.stream() for line in line.splitlines()]
    assert [line.split()[:2] for line in lines] == [["hello", str(i)] for i in range(5)]
    job = kube_cluster.emulator.wait_for(
        lambda: _condition(batch.read_namespaced_job(name="hello", namespace=ns), "Complete")
        and batch.read_namespaced_job("hello", ns), 30, what="Complete")
    assert job.status.succeeded == 1 and job.status.completion_time
    pod = core.read_namespaced_pod(name, ns)
    term = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded" and term.exit_code == 0 and term.reason == "Completed"
    assert pod.status.pod_ip == "127.0.0.1"
    # timestamps, tailLines, sinceTime
    stamped = core.read_namespaced_pod_log(name, ns, timestamps=True).splitlines()
    assert len(stamped) == 5 and stamped[0].split(" ", 1)[1].startswith("hello 0")
    assert core.read_namespaced_pod_log(name, ns, tail_lines=2).splitlines()[0].startswith(
        "hello 3")
    third = stamped[2].split(" ", 1)[0]
    # the python client has no sinceTime parameter (kubectl --since-time has): plain HTTP
    request = urllib.request.Request(
        f"{kube_cluster.api_url}/api/v1/namespaces/{ns}/pods/{name}/log?sinceTime={third}",
        headers={"Authorization": f"Bearer {kube_cluster.emulator.token}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        since = r.read().decode()
    assert since.splitlines()[0].startswith("hello 2") and len(since.splitlines()) == 3
    reasons = [e.reason for e in core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={name}").items]
    for expected in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert expected in reasons or (expected == "Pulling" and "Pulled" in reasons)


def test_failing_job_reports_exit_code_and_backoff_limit(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(ns, _job("boom", image,
                                         "import sys; print('going down'); sys.exit(3)", backoff=1))
    job = kube_cluster.emulator.wait_for(
        lambda: _condition(batch.read_namespaced_job("boom", ns), "Failed")
        and batch.read_namespaced_job("boom", ns), 90, what="Failed")
    failed = _condition(job, "Failed")
    assert failed.reason == "BackoffLimitExceeded" and job.status.failed == 2
    pods = core.list_namespaced_pod(ns, label_selector="job-name=boom").items
    assert len(pods) == 2
    for pod in pods:
        term = pod.status.container_statuses[0].state.terminated
        assert pod.status.phase == "Failed" and term.exit_code == 3 and term.reason == "Error"
        assert core.read_namespaced_pod_log(pod.metadata.name, ns) == "going down\n"


def test_tfjob_with_two_workers_runs_three_pods(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    code = ("import json, os; t = json.loads(os.environ['TF_CONFIG'])['task']; "
            "print('replica', t['type'], t['index'])")
    template = {"spec": {"containers": [{"name": "tensorflow", "image": image,
                                         "command": ["python3", "-c", code]}]}}
    custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "tfjobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "mnist"},
        # cleanPodPolicy None: the workers' pods (and logs) stay when the chief ends the job.
        "spec": {"runPolicy": {"cleanPodPolicy": "None"}, "tfReplicaSpecs": {
            "Chief": {"replicas": 1, "restartPolicy": "Never", "template": template},
            "Worker": {"replicas": 2, "restartPolicy": "Never", "template": template}}}})

    def done():
        job = custom.get_namespaced_custom_object("kubeflow.org", "v1", ns, "tfjobs", "mnist")
        conds = {c["type"]: c for c in (job.get("status") or {}).get("conditions", [])}
        return job if conds.get("Succeeded", {}).get("status") == "True" else None
    job = kube_cluster.emulator.wait_for(done, 120, what="TFJob Succeeded")
    assert job["status"]["conditions"][-1]["reason"] == "TFJobSucceeded"

    def all_pods_done():  # the chief may end the job while a worker still runs
        pods = core.list_namespaced_pod(
            ns, label_selector="training.kubeflow.org/job-name=mnist").items
        return pods if len(pods) == 3 and all(p.status.phase == "Succeeded" for p in pods) else None
    pods = kube_cluster.emulator.wait_for(all_pods_done, 120, what="three Succeeded pods")
    logs = {p.metadata.name: core.read_namespaced_pod_log(p.metadata.name, ns) for p in pods}
    assert logs == {"mnist-chief-0": "replica chief 0\n", "mnist-worker-0": "replica worker 0\n",
                    "mnist-worker-1": "replica worker 1\n"}


def test_unpullable_image_gives_errimagepull_and_backoff(kube_cluster, api, ns):
    core = client.CoreV1Api(api)
    image = f"{kube_cluster.registry_host}/nothing/here:1"
    core.create_namespaced_pod(ns, {"metadata": {"name": "ghost"}, "spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}})

    def messages() -> set[str]:
        return {f"{e.type} {e.reason}: {e.message}" for e in core.list_namespaced_event(
            ns, field_selector="involvedObject.name=ghost").items}
    wanted = {"Warning Failed: Error: ErrImagePull", "Warning Failed: Error: ImagePullBackOff",
              f'Normal BackOff: Back-off pulling image "{image}"'}
    kube_cluster.emulator.wait_for(lambda: wanted <= messages(), 60, what="pull events")
    assert any(m.startswith(f'Warning Failed: Failed to pull image "{image}": ') and
               "manifest unknown" in m for m in messages())
    pod = core.read_namespaced_pod("ghost", ns)
    waiting = pod.status.container_statuses[0].state.waiting
    assert pod.status.phase == "Pending"
    assert waiting.reason in ("ErrImagePull", "ImagePullBackOff")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod_log("ghost", ns)
    assert e.value.status == 400 and "is waiting to start" in e.value.body
    core.delete_namespaced_pod("ghost", ns)
    kube_cluster.emulator.wait_for(lambda: not core.list_namespaced_pod(
        ns, field_selector="metadata.name=ghost").items, 30, what="pod removal")


def test_deployment_serves_http_on_port_and_becomes_ready(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
            "name": "http", "image": image,
            "command": ["sh", "-c",
                        "cd /etc && exec python3 -m http.server $PORT --bind 127.0.0.1"],
            "readinessProbe": {"httpGet": {"path": "/hostname", "port": 8080},
                               "periodSeconds": 1}}]}}}})
    core.create_namespaced_service(ns, {"metadata": {"name": "web"}, "spec": {
        "selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    dep = kube_cluster.emulator.wait_for(
        lambda: (apps.read_namespaced_deployment("web", ns).status.ready_replicas or 0) >= 1
        and apps.read_namespaced_deployment("web", ns), 90, what="deployment ready")
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "True"
    endpoint = kube_cluster.emulator.wait_for(
        lambda: kube_cluster.emulator.service_endpoint(ns, "web"), 10, what="service endpoint")
    with urllib.request.urlopen(f"http://{endpoint}/hostname", timeout=5) as r:
        assert r.status == 200
    # a template change rolls out: a new pod (new hash) replaces the old once it is ready
    old = core.list_namespaced_pod(ns, label_selector="app=web").items[0]
    apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"metadata": {
        "annotations": {"restartedAt": "now"}}}}})

    def rolled():
        pods = core.list_namespaced_pod(ns, label_selector="app=web").items
        return len(pods) == 1 and pods[0].metadata.name != old.metadata.name and pods[0]
    new = kube_cluster.emulator.wait_for(rolled, 60, what="rollout")
    assert new.metadata.labels["pod-template-hash"] != old.metadata.labels["pod-template-hash"]
    kube_cluster.emulator.wait_for(
        lambda: kube_cluster.emulator.service_endpoint(ns, "web")
        == f"127.0.0.1:{new.metadata.annotations['emulator.fairing.dev/port']}",
        30, what="service follows the new pod")
    # the pod is deleted (container stopped) when the deployment goes away
    pod = core.list_namespaced_pod(ns, label_selector="app=web").items[0]
    cid = pod.status.container_statuses[0].container_id.split("://")[1]
    apps.delete_namespaced_deployment("web", ns, propagation_policy="Foreground")
    kube_cluster.emulator.wait_for(lambda: not core.list_namespaced_pod(
        ns, label_selector="app=web").items, 60, what="pods gone")
    ps = kube_cluster.emulator.kubelet.podman.run("ps", "-q", "--no-trunc", check=False).stdout
    assert cid not in ps


def test_log_stream_drop_hook_breaks_a_follow(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    code = "import time\nfor i in range(40):\n    print('line', i, flush=True)\n    time.sleep(0.1)"
    core.create_namespaced_pod(ns, {"metadata": {"name": "chatty"}, "spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": image,
                                                  "command": ["python3", "-c", code]}]}})
    kube_cluster.emulator.wait_for(lambda: core.read_namespaced_pod("chatty", ns).status.phase
                                   != "Pending", 90, what="running")
    kube_cluster.emulator.drop_log_streams_after(lines=3)
    got: list[str] = []
    with pytest.raises(ProtocolError):  # the connection broke mid-stream
        resp = core.read_namespaced_pod_log("chatty", ns, follow=True, _preload_content=False)
        for chunk in resp.stream():
            got.extend(chunk.decode().splitlines())
    assert got == ["line 0", "line 1", "line 2"]
    # a live drop of every open stream
    errors: list = []

    def follow() -> None:
        try:
            resp = core.read_namespaced_pod_log("chatty", ns, follow=True, _preload_content=False)
            for _ in resp.stream():
                pass
        except Exception as e:
            errors.append(e)
    t = threading.Thread(target=follow)
    t.start()
    kube_cluster.emulator.wait_for(lambda: kube_cluster.emulator.logbook.streams, 10)
    assert kube_cluster.emulator.drop_log_streams() == 1
    t.join(10)
    assert len(errors) == 1
    # resuming with sinceTime loses nothing
    done = kube_cluster.emulator.wait_for(
        lambda: core.read_namespaced_pod("chatty", ns).status.phase == "Succeeded", 60,
        what="done")
    assert done
    assert len(core.read_namespaced_pod_log("chatty", ns).splitlines()) == 40


def test_watch_sees_pod_phases(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, {"metadata": {"name": "quick"}, "spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": image,
                                                  "command": ["python3", "-c", "pass"]}]}})
    phases = []
    w = watch.Watch()
    deadline = time.monotonic() + 90
    for ev in w.stream(core.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=90):
        phases.append(ev["object"].status.phase)
        if phases[-1] == "Succeeded" or time.monotonic() > deadline:
            w.stop()
    assert phases[0] == "Pending" and phases[-1] == "Succeeded"
