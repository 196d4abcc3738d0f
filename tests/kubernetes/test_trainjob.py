"""``--kind trainjob``: the TrainJob spec, its runtime reference, status and pod names (pure)."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev
from fairing_magics.backends.kubernetes.monitor import pod_selector
from fairing_magics.backends.kubernetes.plan import pod_templates
from fairing_magics.errors import ConfigError
from fairing_magics.image.layout import CMD
from fairing_magics.kube.api_resources import TRAINJOB
from fairing_magics.kube.options import JobOptions, Volume
from fairing_magics.kube.status import job_status, replica_name
from fairing_magics.kube.training import render_training
from fairing_magics.kube.trainjob import parse_runtime_ref

IMAGE = "reg/x@sha256:" + "a" * 64


def _spec(**options) -> dict:
    return render_training(JobOptions(name="tj-abc123", image=IMAGE, kind="trainjob",
                                      namespace="team", **options))


def test_trainjob_names_its_runtime_nodes_resources_env_and_our_command():
    spec = _spec(workers=3, cpu="2", memory="4Gi", gpus=1, env={"A": "1"}, timeout=600)
    assert (spec["apiVersion"], spec["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert spec["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org",
                                          "kind": "ClusterTrainingRuntime",
                                          "name": "torch-distributed"}
    trainer = spec["spec"]["trainer"]
    assert trainer["numNodes"] == 3 and trainer["image"] == IMAGE
    assert trainer["command"] == list(CMD)  # else the runtime's own command would run
    assert trainer["env"] == [{"name": "A", "value": "1"}]
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "2", "memory": "4Gi",
                                                     "nvidia.com/gpu": "1"}
    assert spec["spec"]["activeDeadlineSeconds"] == 600
    assert spec["metadata"]["labels"]["fairing.dev/kind"] == "trainjob"
    assert _spec()["spec"]["trainer"]["numNodes"] == 1  # --workers 0: one node


def test_pod_settings_go_through_runtime_patches_of_the_node_job():
    spec = _spec(service_account="irsa", node_selector={"pool": "gpu"}, image_pull_secrets=("ecr",),
                 volumes=(Volume(mount_path="/data", pvc="claim"),))
    (patch,) = spec["spec"]["runtimePatches"]
    assert patch["manager"] == "fairing.dev/fairing-magics"
    (pod,) = list(pod_templates(spec))
    assert pod["metadata"]["labels"]["fairing.dev/run"] == "tj-abc123"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert pod["spec"]["serviceAccountName"] == "irsa"
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert pod["spec"]["imagePullSecrets"] == [{"name": "ecr"}]
    assert pod["spec"]["containers"] == [{"name": "node", "volumeMounts": [
        {"name": "pvc-claim", "mountPath": "/data"}]}]
    assert "env" not in pod["spec"]["containers"][0]  # the API refuses env of node in a patch


def test_runtime_ref_convention_and_refusals():
    assert str(parse_runtime_ref("my-torch")) == "ClusterTrainingRuntime my-torch"
    ref = parse_runtime_ref("team/my-torch", "team")
    assert (ref.kind, ref.namespace, ref.name) == ("TrainingRuntime", "team", "my-torch")
    assert _spec(runtime_ref="team/mine")["spec"]["runtimeRef"]["kind"] == "TrainingRuntime"
    with pytest.raises(ConfigError, match="own namespace"):
        _spec(runtime_ref="other/mine")
    with pytest.raises(ConfigError, match="--kind trainjob"):
        JobOptions(name="j-abc123", image=IMAGE, runtime_ref="torch-distributed")
    with pytest.raises(ConfigError, match="PET_NODE_RANK"):
        _spec(env={"PET_NODE_RANK": "0"})


def test_status_from_conditions_and_node_names_from_jobset_labels():
    def job(*conds, jobs=()):
        return {"kind": "TrainJob", "status": {"conditions": [
            {"type": t, "status": "True", "reason": r, "message": m} for t, r, m in conds],
            "jobsStatus": list(jobs)}}
    assert job_status(job()).phase == ev.PENDING
    created = ("Created", "JobsCreationSucceeded", "")
    assert job_status(job(created, jobs=[{"name": "node", "active": 1}])).phase == ev.RUNNING
    done = job_status(job(created, ("Complete", "AllJobsCompleted", "ok")))
    assert (done.phase, done.reason) == (ev.SUCCEEDED, "AllJobsCompleted")
    assert job_status(job(created, ("Failed", "FailedJobs", "x"))).phase == ev.FAILED
    pod = {"metadata": {"name": "tj-node-0-1-abcde", "labels": {
        "jobset.sigs.k8s.io/replicatedjob-name": "node", "jobset.sigs.k8s.io/job-index": "0",
        "batch.kubernetes.io/job-completion-index": "1"}}}
    assert replica_name(pod) == "node-1"
    assert pod_selector(TRAINJOB, "tj") == "jobset.sigs.k8s.io/jobset-name=tj"
