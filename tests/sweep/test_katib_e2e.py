"""Sweeps on the emulated cluster: ``%%fairing_sweep --backend kubernetes`` makes one image in the
real registry and one Katib Experiment; the emulated Katib makes Trials and their Jobs, the
kubelet runs them as real podman containers, the metrics are read from their logs as Katib's
StdOut collector reads them, and the sweep follows it all back into the kernel."""

from __future__ import annotations

import pytest

from fairing_magics.kube.api_resources import EXPERIMENT, JOB, TRIAL
from fairing_magics.kube.labels import LABEL_RUN
from fairing_magics.sweep.katib import LABEL_KATIB_EXPERIMENT, LABEL_SWEEP
from tests.kubernetes.magics_shell import magics_on_cluster

pytestmark = pytest.mark.e2e

CELL = """%%fairing_sweep --backend kubernetes --param lr=loguniform:1e-3:1 --param depth=int:1:4 \
--param kind=choice:a,b --objective loss --metric acc --trials 4 --parallel 2 \
--algorithm random --outputs score
import math
score = (math.log10(lr) + 2) ** 2 + depth * 0.1 + (0.5 if kind == "b" else 0)
for step in range(3):
    print(f"step={step} loss={score + 2 - step} acc={0.5 + step / 10}")
"""


@pytest.fixture
def cluster_shell(kube_cluster, tmp_path, monkeypatch, request):
    namespace = "sw-" + request.node.name.replace("_", "-")[5:30].strip("-").lower()
    with magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace, "sweeps") as (ip, api):
        yield ip, api, namespace, kube_cluster


def _objects(kube_cluster, resource, namespace, selector=""):
    from fairing_magics.kube.access import load_cluster_access
    from fairing_magics.kube.client import ClusterClient

    access = load_cluster_access(kubeconfig=str(kube_cluster.kubeconfig), namespace=namespace)
    try:
        return ClusterClient(access).list(resource, namespace=namespace,
                                          label_selector=selector)["items"]
    finally:
        access.close()


def test_a_sweep_runs_as_a_katib_experiment_and_brings_the_best_trial_back(cluster_shell):
    ip, _api, namespace, kube_cluster = cluster_shell
    result = ip.run_cell(CELL, store_history=True)
    assert result.success, result.error_in_exec
    sweep = result.result
    assert sweep.status == "Succeeded", sweep.summary
    trials = sweep.trials
    assert len(trials) == 4 and set(trials["status"]) == {"Succeeded"}
    # the objective is each trial's lowest loss (Katib's metric strategy for minimize)
    for _, row in trials.iterrows():
        score = (__import__("math").log10(row["lr"]) + 2) ** 2 + row["depth"] * 0.1 + \
            (0.5 if row["kind"] == "b" else 0)
        assert row["loss"] == pytest.approx(score, rel=1e-6)
        assert row["acc"] == pytest.approx(0.7)  # the latest value of an extra metric
        assert 1e-3 <= row["lr"] <= 1 and row["depth"] in (1, 2, 3, 4)
    assert sweep.best_value == pytest.approx(trials["loss"].min())
    assert ip.user_ns["score"] == pytest.approx(sweep.best_value)  # the best trial's output
    # one Experiment, one image: every trial's Job runs the same image
    experiments = _objects(kube_cluster, EXPERIMENT, namespace)
    assert [e["metadata"]["name"] for e in experiments] == [sweep.name]
    status = experiments[0]["status"]
    assert status["trialsSucceeded"] == 4
    assert status["currentOptimalTrial"]["bestTrialName"] == sweep.best_trial.name
    jobs = _objects(kube_cluster, JOB, namespace, f"{LABEL_SWEEP}={sweep.name}")
    assert len(jobs) == 4
    assert {j["spec"]["template"]["spec"]["containers"][0]["image"] for j in jobs} == {sweep.image}
    assert {j["metadata"]["labels"][LABEL_RUN] for j in jobs} == set(trials["name"])
    pods = jobs[0]["spec"]["template"]["metadata"]
    assert pods["annotations"]["sidecar.istio.io/inject"] == "false"
    # each trial's log came back into its run
    best = sweep.best_run
    assert "loss=" in best.logs() and best.outputs["score"] == pytest.approx(sweep.best_value)
    katib_trials = _objects(kube_cluster, TRIAL, namespace,
                            f"{LABEL_KATIB_EXPERIMENT}={sweep.name}")
    assert len(katib_trials) == 4
    # a new kernel finds the sweep by its labels (%fairing_jobs, %fairing_cancel): the Experiment,
    # not its trials' jobs
    from fairing_magics.backends.kubernetes.jobs import find_run, list_runs
    from fairing_magics.kube.access import load_cluster_access

    access = load_cluster_access(kubeconfig=str(kube_cluster.kubeconfig), namespace=namespace)
    try:
        assert [(r.name, r.kind, r.phase) for r in list_runs(access)] == \
            [(sweep.name, "experiment", "Succeeded")]
        assert find_run(access, sweep.name).kind == "experiment"
    finally:
        access.close()


def test_a_cell_that_never_prints_the_objective_fails_saying_which_line(cluster_shell):
    ip, _api, namespace, _ = cluster_shell
    cell = ("%%fairing_sweep --backend kubernetes --param x=uniform:0:1 --objective val_loss "
            "--trials 2 --parallel 2 --max-failed 2\nprint('x is', x)\n")
    result = ip.run_cell(cell, store_history=True)
    assert not result.success
    message = str(result.error_in_exec)
    assert "val_loss=<number>" in message and "never printed" in message, message


def test_fairing_cancel_deletes_the_experiment_and_its_trials(cluster_shell):
    import threading
    import time

    ip, _api, namespace, kube_cluster = cluster_shell
    magics = ip.magics_manager.registry["FairingMagics"]
    cell = ("%%fairing_sweep --backend kubernetes --name held --param x=uniform:0:1 "
            "--objective m --trials 4 --parallel 2 --algorithm random\n"
            "import time\ntime.sleep(120)\nprint(f'm={x}')\n")

    def cancel_when_running():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sweeps = [r for r in magics.runs.all() if r.name.startswith("held-")]
            if sweeps and sum(t.status == "Running" for t in sweeps[-1].trial_list()) == 2:
                ip.run_line_magic("fairing_cancel", sweeps[-1].name)
                return
            time.sleep(0.2)

    threading.Thread(target=cancel_when_running, daemon=True).start()
    result = ip.run_cell(cell, store_history=True)
    assert not result.success
    sweep = magics.runs.all()[-1]
    assert sweep.status == "Cancelled", sweep.summary
    assert "its Experiment was deleted" in str(result.error_in_exec)
    assert {t.status for t in sweep.trial_list()} == {"Killed"}
    kube_cluster.emulator.wait_for(
        lambda: not _objects(kube_cluster, TRIAL, namespace) and
        not _objects(kube_cluster, JOB, namespace, f"{LABEL_SWEEP}={sweep.name}"),
        timeout=60, what="the trials and their jobs deleted with the Experiment")
    assert not _objects(kube_cluster, EXPERIMENT, namespace)
