"""The emulator's Kubeflow Trainer v2, through the official client: discovery, the seeded
``torch-distributed`` runtime, a TrainJob's node pods (JobSet's labels, the torch env, our
runtimePatches), a missing runtime, the CRD's name rule, and foreground deletion."""

from __future__ import annotations

import pytest
from kubernetes import client

from fairing_magics.kube.options import JobOptions, Volume
from fairing_magics.kube.training import render_training

GROUP, VERSION = "trainer.kubeflow.org", "v1alpha1"


def _trainjob(name: str, **options) -> dict:
    opts = JobOptions(name=name, image="127.0.0.1:1/img@sha256:" + "a" * 64, kind="trainjob",
                      command=("python3", "-c", "print(1)"), **options)
    return render_training(opts)


@pytest.fixture
def kube(kube_api):
    api = kube_api.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
    yield kube_api, api
    api.close()


def _pods(core, selector: str) -> list:
    return core.list_namespaced_pod("team", label_selector=selector).items


def test_trainjob_makes_one_labelled_pod_per_node_with_the_torch_env(kube):
    cluster, api = kube
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    served = {r.name for r in custom.get_api_resources(GROUP, VERSION).resources}
    assert {"trainjobs", "trainingruntimes", "clustertrainingruntimes"} <= served
    custom.get_cluster_custom_object(GROUP, VERSION, "clustertrainingruntimes", "torch-distributed")
    body = _trainjob("tj-abc123", workers=2, cpu="2", namespace="team", env={"A": "1"},
                     service_account="trainer", node_selector={"pool": "gpu"},
                     volumes=(Volume(mount_path="/data", pvc="claim"),))
    custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", body)
    pods = cluster.emulator.wait_for(
        lambda: len(_pods(core, "jobset.sigs.k8s.io/jobset-name=tj-abc123")) == 2
        and _pods(core, "jobset.sigs.k8s.io/jobset-name=tj-abc123"), 10, what="2 node pods")
    by_rank = {p.metadata.labels["batch.kubernetes.io/job-completion-index"]: p for p in pods}
    assert sorted(by_rank) == ["0", "1"]
    pod = by_rank["1"]
    assert pod.metadata.name.startswith("tj-abc123-node-0-1-")
    assert pod.metadata.labels["jobset.sigs.k8s.io/replicatedjob-name"] == "node"
    assert pod.metadata.annotations["batch.kubernetes.io/job-completion-index"] == "1"
    # runtimePatches: our labels, the Istio opt-out, service account, node selector, volume
    assert pod.metadata.labels["fairing.dev/run"] == "tj-abc123"
    assert pod.metadata.annotations["sidecar.istio.io/inject"] == "false"
    assert pod.spec.service_account_name == "trainer"
    assert pod.spec.node_selector == {"pool": "gpu"}
    assert pod.spec.volumes[-1].persistent_volume_claim.claim_name == "claim"
    (node,) = pod.spec.containers
    assert node.name == "node" and node.image == body["spec"]["trainer"]["image"]
    assert node.volume_mounts[-1].mount_path == "/data"
    assert node.resources.limits == {"cpu": "2"}
    env = {e.name: e for e in node.env}
    assert env["A"].value == "1" and env["PET_NNODES"].value == "2"
    assert env["PET_NPROC_PER_NODE"].value == "2"  # auto with 2 CPUs and no GPU
    assert env["PET_MASTER_ADDR"].value == "tj-abc123-node-0-0.tj-abc123"
    assert env["PET_MASTER_PORT"].value == "29500"
    assert env["PET_NODE_RANK"].value_from.field_ref.field_path == \
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    job = custom.get_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", "tj-abc123")
    created = {c["type"]: c for c in job["status"]["conditions"]}["Created"]
    assert (created["status"], created["reason"]) == ("True", "JobsCreationSucceeded")
    # Foreground deletion takes the pods first, then the TrainJob.
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, "team", "trainjobs", "tj-abc123",
        body=client.V1DeleteOptions(propagation_policy="Foreground"))
    cluster.emulator.wait_for(lambda: not _pods(core, "jobset.sigs.k8s.io/jobset-name=tj-abc123"),
                              10, what="pods deleted")


def test_missing_runtime_and_bad_names_are_reported_like_the_trainer(kube):
    cluster, api = kube
    custom = client.CustomObjectsApi(api)
    body = _trainjob("tj-missing", runtime_ref="no-such-runtime", namespace="team")
    custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", body)

    def build_failed():
        job = custom.get_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", "tj-missing")
        return next((c for c in (job.get("status") or {}).get("conditions") or []
                     if c["type"] == "Created" and c["status"] == "False"), None)
    cond = cluster.emulator.wait_for(build_failed, 10, what="Created=False")
    assert cond["reason"] == "JobsBuildFailed"
    assert ('clustertrainingruntimes.trainer.kubeflow.org "no-such-runtime" not found'
            in cond["message"])
    bad = {**body, "metadata": {"name": "9-starts-with-a-digit"}}
    with pytest.raises(client.ApiException) as caught:
        custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", bad)
    assert caught.value.status == 422 and "RFC 1035" in caught.value.body
