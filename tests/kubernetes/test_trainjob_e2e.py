"""``%%fairing_train --kind trainjob`` end to end: the magic in a real IPython shell, the image in
the real registry, a Kubeflow Trainer v2 TrainJob in the API emulator, and one podman container
per node (the emulator's Trainer makes the pods the way JobSet and the torch runtime do)."""

from __future__ import annotations

import json
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.errors import RunCancelled
from tests.kubernetes.magics_shell import magics_on_cluster

pytestmark = pytest.mark.e2e

GROUP, VERSION = "trainer.kubeflow.org", "v1alpha1"


@pytest.fixture
def shell(kube_cluster, tmp_path, monkeypatch, request):
    namespace = "tj-" + request.node.name.replace("_", "-")[5:30].strip("-").lower()
    with magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace,
                           "trainjob-e2e") as (ip, api):
        yield ip, api, namespace


def _left(api, namespace: str) -> dict:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    return {"trainjobs": [j["metadata"]["name"] for j in custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "trainjobs")["items"]],
            "pods": [p.metadata.name
                     for p in client.CoreV1Api(api).list_namespaced_pod(namespace).items]}


def test_two_nodes_run_the_cell_and_every_node_log_and_the_outputs_come_back(shell):
    ip, api, namespace = shell
    ip.user_ns["values"] = [3, 5, 8]
    result = ip.run_cell(
        "%%fairing_train --backend kubernetes --kind trainjob --workers 2 --requirements none "
        "--name tj --outputs total\n"
        "import os\n"
        "rank = os.environ['PET_NODE_RANK']\n"
        "print('node', rank, 'of', os.environ['PET_NNODES'], 'master', "
        "os.environ['PET_MASTER_ADDR'])\n"
        "total = sum(values)\n")
    assert result.success, result.error_in_exec
    run = result.result
    assert run.status == ev.SUCCEEDED and ip.user_ns["total"] == 16
    logs = run.logs()
    master = f"{run.name}-node-0-0.{run.name}"
    assert f"[node-0] node 0 of 2 master {master}" in logs
    assert f"[node-1] node 1 of 2 master {master}" in logs
    from kubernetes import client

    job = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "trainjobs", run.name)
    complete = {c["type"]: c for c in job["status"]["conditions"]}["Complete"]
    assert (complete["status"], complete["reason"]) == ("True", "AllJobsCompleted")
    assert job["spec"]["trainer"]["numNodes"] == 2
    # %fairing_jobs finds it by its labels, as after a kernel restart.
    listed = ip.run_cell("%fairing_jobs")
    assert listed.success


def test_a_failing_cell_fails_with_the_remote_traceback(shell, capsys):
    ip, _, _ = shell
    result = ip.run_cell(
        "%%fairing_train --backend kubernetes --kind trainjob --workers 2 --requirements none "
        "--name tj-bad\n"
        "import os\n"
        "raise ValueError('bad data on node ' + os.environ['PET_NODE_RANK'])\n")
    assert not result.success
    error = result.error_in_exec
    assert "ValueError: bad data on node" in str(error)
    assert "bad data on node" in (getattr(error, "remote_traceback", "") or "")


def test_the_first_failure_comes_back_not_the_node_stopped_because_of_it(shell):
    """Node 1 fails; node 0 (the chief, still working) is then stopped with SIGTERM by the
    TrainJob's failure and records an interruption (whenever its container gets to it). Each node
    writes its own error.json, so the cell fails with node 1's exception, every time (both once
    wrote the same file, and the stopped node could overwrite the failure)."""
    ip, _, _ = shell
    result = ip.run_cell(
        "%%fairing_train --backend kubernetes --kind trainjob --workers 2 --requirements none "
        "--name tj-first\n"
        "import os, time\n"
        "if os.environ['PET_NODE_RANK'] == '0':\n"
        "    time.sleep(300)\n"
        "raise ValueError('bad data on node ' + os.environ['PET_NODE_RANK'])\n")
    assert not result.success
    error = result.error_in_exec
    assert "the cell raised ValueError: bad data on node 1 on node-1" in str(error), str(error)
    assert "bad data on node 1" in error.remote_traceback
    run = ip.magics_manager.registry["FairingMagics"].runs.get("tj-first")
    failed = json.loads((run.folder / "replicas" / "node-1" / "error.json").read_text())
    # its own file, never overwritten
    assert (failed["kind"], failed["replica"]) == ("cell", "node-1")


def test_cancel_deletes_the_trainjob_and_its_pods(shell):
    ip, api, namespace = shell
    result = ip.run_cell(
        "%%fairing_train --backend kubernetes --kind trainjob --workers 2 --requirements none "
        "--name tj-slow --no-wait\n"
        "import time\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n")
    assert result.success, result.error_in_exec
    run = result.result
    deadline = time.monotonic() + 60
    while "started" not in run.logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "started" in run.logs()
    assert len(_left(api, namespace)["pods"]) == 2
    run.cancel()
    with pytest.raises(RunCancelled):
        run.wait(60)
    assert run.status == ev.CANCELLED
    deadline = time.monotonic() + 30
    while _left(api, namespace) != {"trainjobs": [], "pods": []} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _left(api, namespace) == {"trainjobs": [], "pods": []}
