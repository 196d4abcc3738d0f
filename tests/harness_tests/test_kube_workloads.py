"""More workloads on the emulated cluster with real containers: KServe, PyTorchJob, config
from Secrets/ConfigMaps, host folders, OOMKilled, deadlines, restarts and previous logs.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from kubernetes import client

from tests.harness import need

pytestmark = pytest.mark.e2e


@pytest.fixture
def ns(kube_cluster):
    core = client.CoreV1Api(kube_cluster.api_client())
    name = f"w-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def api(kube_cluster):
    return kube_cluster.api_client()


def _pod(name: str, image: str, code: str, restart: str = "Never", **container) -> dict:
    return {"metadata": {"name": name}, "spec": {"restartPolicy": restart, "containers": [
        {"name": "main", "image": image, "command": ["python3", "-c", code], **container}]}}


def _wait_phase(cluster, core, ns: str, name: str, phases=("Succeeded", "Failed"), timeout=60):
    return cluster.emulator.wait_for(
        lambda: core.read_namespaced_pod(name, ns).status.phase in phases
        and core.read_namespaced_pod(name, ns), timeout, what=f"pod {name} in {phases}")


def test_inference_service_becomes_ready_with_a_url(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    custom = client.CustomObjectsApi(api)
    server = ("import http.server, json, os\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        body = json.dumps({'ready': True}).encode()\n"
              "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
              "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()")
    custom.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                           "inferenceservices", {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "linreg"},
        "spec": {"predictor": {"containers": [{
            "name": "kserve-container", "image": image, "command": ["python3", "-c", server],
            "readinessProbe": {"httpGet": {"path": "/v1/models/linreg", "port": 8080}}}]}}})

    def ready():
        isvc = custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                                   "inferenceservices", "linreg")
        conds = {c["type"]: c["status"] for c in (isvc.get("status") or {}).get("conditions", [])}
        return isvc if conds.get("Ready") == "True" else None
    isvc = kube_cluster.emulator.wait_for(ready, 60, what="InferenceService Ready")
    url = isvc["status"]["url"]
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "/v1/models/linreg", timeout=5) as r:
        assert json.loads(r.read()) == {"ready": True}
    pods = client.CoreV1Api(api).list_namespaced_pod(
        ns, label_selector="serving.kserve.io/inferenceservice=linreg").items
    assert len(pods) == 1 and pods[0].metadata.name.startswith("linreg-predictor-")


def test_pytorchjob_master_and_worker(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    code = "import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])"
    template = {"spec": {"containers": [{"name": "pytorch", "image": image,
                                         "command": ["python3", "-c", code]}]}}
    custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "ddp"},
        # cleanPodPolicy None: the worker's pod (and log) stays when the master ends the job.
        "spec": {"runPolicy": {"cleanPodPolicy": "None"}, "pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template},
            "Worker": {"replicas": 1, "restartPolicy": "OnFailure", "template": template}}}})

    def state():
        job = custom.get_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs", "ddp")
        conds = {c["type"]: c for c in (job.get("status") or {}).get("conditions", [])}
        return conds if conds.get("Succeeded", {}).get("status") == "True" else None
    conds = kube_cluster.emulator.wait_for(state, 60, what="PyTorchJob Succeeded")
    assert conds["Succeeded"]["reason"] == "PyTorchJobSucceeded"
    assert conds["Running"]["status"] == "False"

    def both_done():  # the master may end the job while the worker still runs
        pods = core.list_namespaced_pod(
            ns, label_selector="training.kubeflow.org/job-name=ddp").items
        return pods if len(pods) == 2 and all(p.status.phase == "Succeeded" for p in pods) else None
    kube_cluster.emulator.wait_for(both_done, 60, what="both pods Succeeded")
    assert core.read_namespaced_pod_log("ddp-master-0", ns) == "rank 0 of 2\n"
    assert core.read_namespaced_pod_log("ddp-worker-0", ns) == "rank 1 of 2\n"


def test_env_and_volumes_from_secret_configmap_and_host_folder(kube_cluster, api, ns, tmp_path):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(ns, {"metadata": {"name": "creds"},
                                       "stringData": {"token": "t0ken", "user": "ann"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"},
                                           "data": {"mode": "fast", "conf.ini": "[a]\nb=1\n"}})
    code = ("import os, pathlib\n"
            "print(os.environ['TOKEN'], os.environ['CFG_mode'], os.environ['POD'], "
            "os.environ['SHOUT'])\n"
            "print(open('/etc/app/conf.ini').read().strip().replace(chr(10), ' '))\n"
            "pathlib.Path('/out/result.txt').write_text('done by ' + os.environ['HOSTNAME'])")
    pod = _pod("cfg", image, code, env=[
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "SHOUT", "value": "$(CFG_mode)-$(POD)"}],
        envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        volumeMounts=[{"name": "conf", "mountPath": "/etc/app"},
                      {"name": "out", "mountPath": "/out"}])
    pod["spec"]["volumes"] = [{"name": "conf", "configMap": {"name": "settings"}},
                              {"name": "out", "hostPath": {"path": str(tmp_path)}}]
    core.create_namespaced_pod(ns, pod)
    done = _wait_phase(kube_cluster, core, ns, "cfg")
    log = core.read_namespaced_pod_log("cfg", ns)
    assert done.status.phase == "Succeeded", log
    assert log.splitlines() == ["t0ken fast cfg fast-cfg", "[a] b=1"]
    assert (tmp_path / "result.txt").read_text() == "done by cfg"


def test_missing_secret_is_create_container_config_error(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, _pod("nosecret", image, "print(1)", env=[
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]))

    def waiting():
        statuses = core.read_namespaced_pod("nosecret", ns).status.container_statuses or []
        w = statuses[0].state.waiting if statuses else None
        return w if w and w.reason == "CreateContainerConfigError" else None
    w = kube_cluster.emulator.wait_for(waiting, 30, what="CreateContainerConfigError")
    assert w.message == 'secret "absent" not found'
    core.create_namespaced_secret(ns, {"metadata": {"name": "absent"}, "stringData": {"k": "v"}})
    assert _wait_phase(kube_cluster, core, ns, "nosecret").status.phase == "Succeeded"


def test_memory_limit_gives_oomkilled(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    code = "x = bytearray(400 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\nprint('survived')"
    core.create_namespaced_pod(ns, _pod("hog", image, code,
                                        resources={"limits": {"memory": "64Mi"}}))
    pod = _wait_phase(kube_cluster, core, ns, "hog")
    term = pod.status.container_statuses[0].state.terminated
    need(kube_cluster.emulator.kubelet.limits_ok, "podman cannot apply memory limits on this host")
    assert pod.status.phase == "Failed" and term.exit_code == 137 and term.reason == "OOMKilled"
    reasons = {e.reason for e in core.list_namespaced_event(
        ns, field_selector="involvedObject.name=hog").items}
    assert "OOMKilled" in reasons


def test_active_deadline_stops_a_job(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(ns, {"metadata": {"name": "slow"}, "spec": {
        "activeDeadlineSeconds": 2, "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                              "containers": [{"name": "main", "image": image, "command": [
                                  "python3", "-c", "import time; time.sleep(300)"]}]}}}})

    def failed():
        job = batch.read_namespaced_job("slow", ns)
        return next((c for c in job.status.conditions or [] if c.type == "Failed"), None)
    cond = kube_cluster.emulator.wait_for(failed, 60, what="DeadlineExceeded")
    assert cond.reason == "DeadlineExceeded"
    kube_cluster.emulator.wait_for(lambda: not core.list_namespaced_pod(
        ns, label_selector="job-name=slow").items, 30, what="pod killed and removed")
    killing = [e for e in core.list_namespaced_event(ns).items if e.reason == "Killing"]
    assert killing and killing[0].message == "Stopping container main"


def test_on_failure_restarts_and_previous_logs(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    core = client.CoreV1Api(api)
    code = ("import pathlib, sys\n"
            "p = pathlib.Path('/state/n'); n = int(p.read_text()) if p.exists() else 0\n"
            "p.write_text(str(n + 1)); print('attempt', n); sys.exit(0 if n == 1 else 1)")
    pod = _pod("flaky", image, code, restart="OnFailure",
               volumeMounts=[{"name": "state", "mountPath": "/state"}])
    pod["spec"]["volumes"] = [{"name": "state", "emptyDir": {}}]
    core.create_namespaced_pod(ns, pod)
    done = _wait_phase(kube_cluster, core, ns, "flaky", timeout=60)
    status = done.status.container_statuses[0]
    assert done.status.phase == "Succeeded" and status.restart_count == 1
    assert status.last_state.terminated.exit_code == 1
    assert core.read_namespaced_pod_log("flaky", ns) == "attempt 1\n"
    assert core.read_namespaced_pod_log("flaky", ns, previous=True) == "attempt 0\n"
    reasons = {e.reason for e in core.list_namespaced_event(
        ns, field_selector="involvedObject.name=flaky").items}
    assert "BackOff" in reasons


def test_failing_tfjob_reports_failed(kube_cluster, api, ns):
    image = kube_cluster.python_image()
    custom = client.CustomObjectsApi(api)
    template = {"spec": {"containers": [{"name": "tensorflow", "image": image, "command": [
        "python3", "-c", "raise SystemExit('bad worker')"]}]}}
    custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "tfjobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "bad"},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never",
                                               "template": template}}}})

    def failed():
        job = custom.get_namespaced_custom_object("kubeflow.org", "v1", ns, "tfjobs", "bad")
        conds = {c["type"]: c for c in (job.get("status") or {}).get("conditions", [])}
        return conds.get("Failed") if conds.get("Failed", {}).get("status") == "True" else None
    cond = kube_cluster.emulator.wait_for(failed, 60, what="TFJob Failed")
    assert cond["reason"] == "TFJobFailed" and "1 Worker replica(s) failed" in cond["message"]
    log = client.CoreV1Api(api).read_namespaced_pod_log("bad-worker-0", ns)
    assert log == "bad worker\n"


def test_image_pull_secrets_for_a_registry_with_auth(kube_cluster, api, ns, tmp_path):
    import base64
    import shutil

    from tests.harness.kube.cluster import ensure_registry_seed
    from tests.harness.registry import start_registry
    core = client.CoreV1Api(api)
    registry = start_registry(tmp_path / "auth-registry", auth=True)
    try:
        shutil.copytree(ensure_registry_seed(kube_cluster.builder), registry.folder / "data",
                        dirs_exist_ok=True)
        image = f"{registry.host}/fairing-test/python:3.11"
        core.create_namespaced_pod(ns, _pod("anon", image, "print('in')"))

        def pull_failure():
            return [e.message for e in core.list_namespaced_event(
                ns, field_selector="involvedObject.name=anon").items
                if e.message.startswith("Failed to pull image")]
        failure = kube_cluster.emulator.wait_for(pull_failure, 30, what="401 pull failure")[0]
        assert "unauthorized" in failure.lower() or "authentication required" in failure.lower()
        auth = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
        config = json.dumps({"auths": {registry.host: {"auth": auth}}})
        core.create_namespaced_secret(ns, {"metadata": {"name": "pull"},
                                           "type": "kubernetes.io/dockerconfigjson",
                                           "stringData": {".dockerconfigjson": config}})
        pod = _pod("authed", image, "print('in')")
        pod["spec"]["imagePullSecrets"] = [{"name": "pull"}]
        core.create_namespaced_pod(ns, pod)
        assert _wait_phase(kube_cluster, core, ns, "authed").status.phase == "Succeeded"
        assert core.read_namespaced_pod_log("authed", ns) == "in\n"
        core.delete_namespaced_pod("anon", ns, grace_period_seconds=0)
    finally:
        registry.stop()
