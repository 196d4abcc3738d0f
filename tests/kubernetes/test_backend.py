"""The Kubernetes backend without containers: status from conditions, pod notices, the
``--dry-run`` plan, the preflight in ``check()``, submit/list/find/cancel on the API emulator."""

from __future__ import annotations

import pytest
import yaml

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends import Launch, get_backend
from fairing_magics.backends.kubernetes.backend import KubernetesBackend
from fairing_magics.backends.kubernetes.jobs import cancel_run, find_run, format_runs, list_runs
from fairing_magics.backends.kubernetes.plan import describe_cluster_plan, training_spec
from fairing_magics.capture.bundle import Bundle
from fairing_magics.config import Settings
from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube import status as st
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.run import Run
from fairing_magics.train_request import merge_request

IMAGE = "127.0.0.1:5000/fairing-job@sha256:" + "a" * 64


# -- status ---------------------------------------------------------------------------------------


def cond(kind: str, status: str = "True", reason: str = "", message: str = "",
         at: str = "") -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": at}


def test_job_status_from_batch_job_conditions():
    job = {"kind": "Job", "status": {}}
    assert st.job_status(job).phase == ev.PENDING
    job["status"] = {"active": 1, "startTime": "t"}
    assert st.job_status(job).phase == ev.RUNNING
    # FailureTarget alone: the pods are still being terminated; not final yet.
    job["status"]["conditions"] = [cond("FailureTarget", reason="BackoffLimitExceeded")]
    assert not st.job_status(job).done
    job["status"]["conditions"].append(cond("Failed", reason="DeadlineExceeded",
                                            message="too long"))
    assert st.job_status(job) == st.JobStatus(ev.FAILED, "DeadlineExceeded", "too long")
    done = {"kind": "Job",
            "status": {"conditions": [cond("Complete", reason="CompletionsReached")]}}
    assert st.job_status(done).phase == ev.SUCCEEDED


def test_job_status_from_kubeflow_conditions_takes_the_latest_final_one():
    tfjob = {"kind": "TFJob", "status": {"conditions": [cond("Created"), cond("Running")]}}
    assert st.job_status(tfjob).phase == ev.RUNNING
    tfjob["status"]["conditions"] += [
        cond("Running", "False"),
        cond("Failed", reason="TFJobFailed", at="2024-01-01T00:00:02Z"),
        cond("Succeeded", at="2024-01-01T00:00:01Z")]
    assert st.job_status(tfjob).phase == ev.FAILED
    assert st.job_status({"kind": "PyTorchJob", "status": {}}).phase == ev.PENDING


def pod(name: str, labels: dict | None = None, *, statuses: list | None = None, **status) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "tensorflow", "image": "img"}]},
            "status": {"containerStatuses": statuses or [], **status}}


def test_replica_names_from_operator_labels_else_the_pod_name():
    worker = pod("r-worker-1", {"training.kubeflow.org/replica-type": "worker",
                                "training.kubeflow.org/replica-index": "1"})
    old = pod("r-chief-0", {"replica-type": "Chief", "replica-index": "0"})
    assert st.replica_name(worker) == "worker-1"
    assert st.replica_name(old) == "chief-0"
    assert st.replica_name(pod("train-abc12-x7k2p")) == "train-abc12-x7k2p"


def test_notices_for_the_states_that_matter():
    waiting = pod("p", statuses=[{"name": "tensorflow", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "img"'}}}],
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}])
    texts = [n.text for n in st.pod_notices(waiting)]
    assert any("Insufficient nvidia.com/gpu" in t and "--gpus" in t for t in texts)
    assert any(t.startswith("p: ImagePullBackOff") and "--image-pull-secret" in t for t in texts)
    oom = pod("q", statuses=[{"name": "tensorflow", "state": {"terminated": {
        "exitCode": 137, "reason": "OOMKilled"}}}], reason="Evicted", message="low on memory")
    notices = st.pod_notices(oom)
    assert {n.key for n in notices} == {("q", "Evicted"), ("q", "tensorflow", "OOMKilled")}
    assert all(n.level == "error" for n in notices)
    assert st.exit_codes([oom]) == ["q exited with code 137 (OOMKilled)"]
    assert st.pull_error(waiting) == ("ImagePullBackOff", 'Back-off pulling image "img"')


# -- the plan -------------------------------------------------------------------------------------


def test_dry_run_of_a_tfjob_with_two_workers_and_one_gpu_each(tmp_path, capsys):
    options = pipeline.TrainOptions(name="mnist", backend="kubernetes", kind="tfjob", workers=2,
                                    gpus=1, cpu="2", memory="8Gi", timeout=3600,
                                    env={"EPOCHS": "5"})
    settings = Settings(registry="123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job",
                        namespace="kubeflow-user",
                        storage="s3://my-bucket/fairing?region=cn-northwest-1", home=tmp_path)
    bundle = Bundle(source="print('train')\n")
    text = describe_cluster_plan(merge_request(options, settings), bundle, name="mnist")
    print(text)  # shown with -s; the report quotes it
    yaml_text = text.split("\n\n", 1)[1]
    spec = yaml.safe_load(yaml_text)
    assert spec["kind"] == "TFJob" and spec["metadata"]["name"] == "mnist-dryrun"
    replicas = spec["spec"]["tfReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Chief": 1, "Worker": 2}
    assert spec["spec"]["runPolicy"]["activeDeadlineSeconds"] == 3600
    for replica in replicas.values():
        container = replica["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["FAIRING_STORAGE"] == settings.storage and env["EPOCHS"] == "5"
        assert env["FAIRING_RUN_NAME"] == "mnist-dryrun"
        assert replica["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        assert replica["template"]["metadata"]["labels"]["fairing.dev/capture-digest"]
    assert "namespace kubeflow-user" in text and "uploaded by the pod to s3://my-bucket" in text


def test_local_storage_becomes_a_hostpath_output_volume_and_aws_secret_env_refs(tmp_path):
    options = pipeline.TrainOptions(name="t", aws_secret="aws-secret")
    settings = Settings(storage=str(tmp_path / "store"), istio_inject=True)
    spec = training_spec(merge_request(options, settings), name="t-abc123", image=IMAGE)
    pod_spec = spec["spec"]["template"]["spec"]
    volume = next(v for v in pod_spec["volumes"] if v["name"] == "fairing-output")
    assert volume["hostPath"]["path"] == str((tmp_path / "store" / "runs" / "t-abc123").resolve())
    container = pod_spec["containers"][0]
    assert {"name": "fairing-output", "mountPath": "/fairing/output"} in container["volumeMounts"]
    key_env = next(e for e in container["env"] if e["name"] == "AWS_ACCESS_KEY_ID")
    assert key_env["valueFrom"]["secretKeyRef"] == {"name": "aws-secret",
                                                    "key": "AWS_ACCESS_KEY_ID"}
    assert "sidecar.istio.io/inject" not in spec["spec"]["template"]["metadata"]["labels"]


# -- against the API emulator ---------------------------------------------------------------------


@pytest.fixture
def cluster(kube_api, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    settings = Settings(backend="kubernetes", namespace="default", home=tmp_path / "home",
                        storage=str(tmp_path / "store"))
    access = load_cluster_access(retries=client_retries(backoff_factor=0))
    yield kube_api.emulator, settings, access
    access.close()


def test_check_names_the_missing_crd_and_rbac_rule(cluster):
    emu, settings, access = cluster
    backend = KubernetesBackend(access=access)
    # all there: passes
    backend.check(merge_request(pipeline.TrainOptions(kind="tfjob", workers=2), settings))
    emu.remove_crd("pytorchjobs.kubeflow.org")
    with pytest.raises(ClusterError, match="no pytorchjobs.kubeflow.org .*training operator"):
        backend.check(merge_request(pipeline.TrainOptions(kind="pytorchjob"), settings))
    emu.deny("create", "jobs", group="batch")
    with pytest.raises(ClusterError, match=r'may not create jobs.batch.*verbs: \["create"\]'):
        backend.check(merge_request(pipeline.TrainOptions(), settings))


def test_check_refuses_bad_flags_before_the_cluster(tmp_path):
    backend = get_backend("kubernetes")
    assert isinstance(backend, KubernetesBackend)
    with pytest.raises(ConfigError, match="--outputs .* needs run storage"):
        backend.check(merge_request(pipeline.TrainOptions(outputs=("model",)),
                                    Settings(home=tmp_path)))
    with pytest.raises(ConfigError, match="cpu"):
        backend.check(merge_request(pipeline.TrainOptions(cpu="lots"), Settings(home=tmp_path)))
    with pytest.raises(ConfigError, match="--workers 3 needs --kind tfjob"):
        backend.check(merge_request(pipeline.TrainOptions(workers=3), Settings(home=tmp_path)))


def test_submit_list_find_cancel_by_labels(cluster, tmp_path):
    emu, settings, access = cluster
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    runs = []
    for suffix in ("aaaaa1", "bbbbb2"):
        run = Run(f"fit-{suffix}", "kubernetes", tmp_path / suffix, stages=backend.stages)
        backend.start(Launch(bundle_dir=tmp_path, image=IMAGE, timeout=60,
                             request=merge_request(pipeline.TrainOptions(name="fit", kind="tfjob"),
                                                   settings),
                             capture_digest="sha256:" + "c" * 64), run)
        runs.append(run)
    listed = list_runs(access)
    assert [(r.name, r.kind, r.run_name) for r in listed] == [
        ("fit-aaaaa1", "tfjob", "fit"), ("fit-bbbbb2", "tfjob", "fit")]
    assert find_run(access, "fit").name == "fit-bbbbb2"  # the --name means the newest run
    assert find_run(access, "fit-aaaaa1").kind == "tfjob"
    assert "fit-aaaaa1  tfjob" in format_runs(listed)
    with pytest.raises(ClusterError, match="no run 'nope' .*fit-aaaaa1, fit-bbbbb2"):
        find_run(access, "nope")
    submitted = [e for e in runs[0].logs().splitlines() if "submitted TFJob" in e]
    assert submitted and "%fairing_cancel fit-aaaaa1" in submitted[0]
    # Cancel through the run (the Cancel button) and by name (%fairing_cancel, a new kernel).
    runs[0].cancel()
    assert cancel_run(access, "fit-bbbbb2").name == "fit-bbbbb2"
    for run in runs:
        assert run.wait_done(30)
        assert run.status == ev.CANCELLED
    assert list_runs(access) == []
    deletes = [path for method, path in emu.requests if method == "DELETE"]
    assert len(deletes) == 2


# -- the magics' cluster lookups (a real IPython shell) -------------------------------------------


@pytest.fixture
def shell(cluster, registry, monkeypatch, tmp_path):
    from tests.harness import clear_user_namespace, ipython_shell

    ip = ipython_shell()  # one shell per process
    clear_user_namespace(ip)
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    monkeypatch.setenv("FAIRING_BACKEND", "kubernetes")
    monkeypatch.setenv("FAIRING_NAMESPACE", "default")
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    # Other tests of this session may have configured the shared shell: say what we need.
    # %fairing_doctor checks it answers
    assert ip.run_cell(f"%fairing_config --backend kubernetes --namespace default --ui text "
                       f"--storage {tmp_path / 'store'} "
                       f"--base-image {registry.host}/fairing-test/python:3.11 "
                       f"--insecure-registry {registry.host}").success
    yield ip
    ip.run_cell("%unload_ext fairing_magics")


def test_doctor_jobs_and_cancel_magics_on_the_cluster(cluster, shell, capsys, tmp_path):
    emu, settings, access = cluster
    assert shell.run_cell("%fairing_doctor --kind tfjob").success
    out = capsys.readouterr().out
    assert "[ok] base image: " in out and "[ok] crd tfjobs.kubeflow.org" in out
    # A run started by another kernel: only the cluster knows it.
    backend = KubernetesBackend(access=access)
    run = Run("other-abc123", "kubernetes", tmp_path / "other", stages=backend.stages)
    backend.start(Launch(bundle_dir=tmp_path, image=IMAGE,
                         request=merge_request(pipeline.TrainOptions(name="other"), settings)), run)
    assert shell.run_cell("%fairing_jobs").success
    out = capsys.readouterr().out
    assert "On the cluster (namespace default)" in out and "other-abc123  job" in out
    assert shell.run_cell("%fairing_cancel other").success
    assert "other-abc123: deleting its Job" in capsys.readouterr().out
    assert run.wait_done(30) and run.status == ev.CANCELLED
    assert "deleted outside this notebook" in str(run.error)
    assert not shell.run_cell("%fairing_logs other").success  # gone: a clear error, a failed cell
    emu.deny("list", "pods")
    result = shell.run_cell("%fairing_doctor")
    assert not result.success
    assert "may not list pods" in str(result.error_in_exec)
