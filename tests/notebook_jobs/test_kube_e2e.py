"""Notebook jobs, schedules, cached re-runs and remote failures on the emulated cluster: real
images in the real registry, real containers run by the emulator's kubelet (podman), the
official client, a run storage folder the "node" shares (hostPath).

- a notebook runs as a Job in a headless kernel inside its image (nbclient, ipykernel and their
  dependencies pinned from this environment into the dependency layer), parameters injected,
  outputs back, the executed notebook back next to the source; a failing cell fails naming it
  and its frames come back through storage for %fairing_debug;
- --schedule creates a CronJob of the same image; the emulator's controller makes a Job at the
  next scheduled time (its clock moved forward, not waited for); the run writes its executed
  notebook to storage under the Job's name; %fairing_jobs lists the schedule, %fairing_cancel
  removes it with its Jobs;
- a cell run with --cache a second time creates no Job: it comes back from storage.
"""

from __future__ import annotations

import json
import uuid

import nbformat
import pytest

from tests.kubernetes.magics_shell import magics_on_cluster
from tests.notebook_jobs.conftest import run
from tests.notebook_jobs.notebooks import outputs_text, write_notebook

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster_shell(kube_cluster, tmp_path, monkeypatch):
    namespace = f"nb-{uuid.uuid4().hex[:8]}"
    with magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace, "notebook-jobs") as (ip, api):
        yield ip, api, namespace


def _jobs(api, namespace: str) -> list:
    from kubernetes.client import BatchV1Api

    return BatchV1Api(api).list_namespaced_job(namespace).items


def test_a_notebook_runs_in_a_pod_and_a_failing_cell_comes_back_to_debug(cluster_shell, tmp_path,
                                                                        capsys):
    ip, api, namespace = cluster_shell
    (tmp_path / "helpers.py").write_text("import socket\ndef where():\n    return socket.gethostname()\n")
    write_notebook(tmp_path / "train.ipynb",
                   "import helpers\nprint('on', helpers.where())",
                   "weights = [w * alpha for w in (1, 2, 3)]\nprint(f'loss={1 / sum(weights):.3f}')",
                   parameters="alpha = 1")
    result = run(ip, "nb = %fairing_notebook train.ipynb -p alpha=2 --outputs weights --timeout 600")
    assert result.success, result.error_in_exec
    job = ip.user_ns["nb"]
    assert ip.user_ns["weights"] == [2, 4, 6]
    out = capsys.readouterr().out
    pod = next(p for p in out.split("on ")[1:] if p.startswith(job.name)).split()[0]
    assert pod.startswith(job.name)  # the notebook ran in the Job's pod (its hostname)
    assert "loss=0.083" in out
    nb = nbformat.read(tmp_path / f"train.{job.name}.ipynb", as_version=4)
    assert "loss=0.083" in outputs_text([c for c in nb.cells if c.cell_type == "code"][3])
    assert (tmp_path / "storage" / "runs" / job.name / "train.ipynb").is_file()
    assert [j.metadata.name for j in _jobs(api, namespace)] == [job.name]

    write_notebook(tmp_path / "broken.ipynb",
                   "def check(rows):\n    bad = [r for r in rows if r < 0]\n"
                   "    assert not bad, f'{len(bad)} negative rows'",
                   "rows = [3, -1, 4, -5]\ncheck(rows)")
    failed = run(ip, "%fairing_notebook broken.ipynb --timeout 600")
    assert not failed.success
    message = str(failed.error_in_exec)
    assert "notebook broken.ipynb failed: cell 3 (In [2]: rows = [3, -1, 4, -5]) raised " \
           "AssertionError: 2 negative rows" in message
    name = message.split("(run ")[1].split(";")[0]
    assert (tmp_path / f"broken.{name}.ipynb").is_file()
    capsys.readouterr()
    assert run(ip, "%fairing_debug").success
    shown = capsys.readouterr().out
    assert "Variables of check (Cell In[1], line 3)" in shown
    assert ip.user_ns["bad"] == [-1, -5] and ip.user_ns["rows"] == [3, -1, 4, -5]


def test_a_scheduled_notebook_runs_when_its_time_comes_and_is_removed_by_cancel(
        cluster_shell, kube_cluster, tmp_path, capsys):
    from kubernetes.client import BatchV1Api

    ip, api, namespace = cluster_shell
    write_notebook(tmp_path / "report.ipynb", "import datetime\nprint('report for', day)",
                   parameters="day = 'today'")
    result = run(ip, "sched = %fairing_notebook report.ipynb -p day=monday --schedule '*/5 * * * *'")
    assert result.success, result.error_in_exec
    scheduled = ip.user_ns["sched"]
    out = capsys.readouterr().out
    assert f"scheduled {tmp_path / 'report.ipynb'} as CronJob {scheduled.name}" in out
    cron = BatchV1Api(api).read_namespaced_cron_job(scheduled.name, namespace)
    assert cron.spec.schedule == "*/5 * * * *" and cron.spec.concurrency_policy == "Forbid"
    assert _jobs(api, namespace) == []  # nothing runs before its time
    assert run(ip, "%fairing_jobs").success
    listed = capsys.readouterr().out
    assert scheduled.name in listed and "*/5 * * * *" in listed

    emulator = kube_cluster.emulator
    step = 300
    emulator.advance_clock(step - emulator.now() % step + 1)
    job = emulator.wait_for(lambda: _jobs(api, namespace), 30, what="the scheduled Job")[0]
    assert job.metadata.name.startswith(scheduled.name + "-")
    executed = tmp_path / "storage" / "runs" / job.metadata.name / "report.ipynb"

    def finished():
        current = BatchV1Api(api).read_namespaced_job(job.metadata.name, namespace)
        conditions = {c.type: c.status for c in (current.status.conditions or [])}
        return conditions.get("Complete") == "True" or conditions.get("Failed") == "True"

    emulator.wait_for(finished, 600, interval=1, what="the scheduled run")
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "report for monday" in outputs_text(code[2])
    status = emulator.wait_for(
        lambda: (c := BatchV1Api(api).read_namespaced_cron_job(scheduled.name, namespace))
        .status.last_successful_time and c, 30, what="lastSuccessfulTime").status
    assert status.last_schedule_time is not None

    capsys.readouterr()
    assert run(ip, f"%fairing_cancel {scheduled.name}").success
    assert "schedule removed" in capsys.readouterr().out
    emulator.wait_for(lambda: not BatchV1Api(api).list_namespaced_cron_job(namespace).items
                      and not _jobs(api, namespace), 30, what="schedule and Jobs deleted")
    assert executed.is_file()  # what the run wrote stays in storage


def test_a_cell_with_the_same_inputs_is_not_submitted_again(cluster_shell, capsys):
    ip, api, namespace = cluster_shell
    ip.run_cell("values = [1.5, 2.5]", store_history=True)
    cell = "%%fairing_train --name cached --cache --cpu 500m --outputs total\ntotal = sum(values)\nprint('total', total)\n"
    first = run(ip, cell)
    assert first.success, first.error_in_exec
    first_run = ip.user_ns["_"]
    assert len(_jobs(api, namespace)) == 1
    ip.user_ns["total"] = None
    second = run(ip, cell)
    assert second.success, second.error_in_exec
    again = ip.user_ns["_"]
    assert again.cached_from == first_run.name and ip.user_ns["total"] == 4.0
    assert len(_jobs(api, namespace)) == 1  # nothing was submitted
    assert "total 4.0" in again.logs()
    other = run(ip, cell.replace("--cpu 500m", "--cpu 1"))  # other resources: runs again
    assert other.success and getattr(ip.user_ns["_"], "cached_from", None) is None
    assert len(_jobs(api, namespace)) == 2
    entries = list((ip.user_ns["_"].folder.parent.parent / "cache").glob("*.json"))
    assert len(entries) == 2 and {json.loads(e.read_text())["backend"] for e in entries} == \
        {"kubernetes"}


def test_jobs_and_cancel_work_when_cronjobs_may_not_be_read(cluster_shell, kube_cluster, capsys):
    """An account that may not read CronJobs (RBAC) still lists its runs and cancels one."""
    ip, _, namespace = cluster_shell
    emulator = kube_cluster.emulator
    emulator.deny("list", "cronjobs", group="batch", namespace=namespace)
    emulator.deny("get", "cronjobs", group="batch", namespace=namespace)
    try:
        started = run(ip, "%%fairing_train --name slow --no-wait\nimport time\ntime.sleep(300)\n")
        assert started.success, started.error_in_exec
        name = ip.user_ns["_"].name
        capsys.readouterr()
        assert run(ip, "%fairing_jobs").success
        out = capsys.readouterr().out
        assert "Schedules in namespace" in out and "cannot be listed" in out and name in out
        assert run(ip, f"%fairing_cancel {name}").success
    finally:
        emulator.faults.clear()
