"""The emulator's CronJob: the official client creates one, the API server defaults and
validates it, and the controller makes Jobs at the scheduled times of the emulator's clock
(moved forward by the test, never waited for), with concurrencyPolicy Forbid, history limits
and foreground deletion as a real cluster does them."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _cronjob(name: str, schedule: str = "*/5 * * * *", **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "labels": {"team": "ml"}},
            "spec": {"schedule": schedule, **spec, "jobTemplate": {
                "metadata": {"labels": {"fairing.dev/run": name}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "train", "image": "img@sha256:" + "0" * 64}]}}}}}}


def _next_boundary(emulator, minutes: int = 5) -> float:
    """Seconds from the emulator's now to just past its next multiple of ``minutes``."""
    now = emulator.now()
    step = minutes * 60
    return (now // step + 1) * step - now + 1


def _jobs(batch, ns: str) -> list:
    return sorted(batch.list_namespaced_job(ns).items, key=lambda j: j.metadata.name)


def _finish(batch, ns: str, name: str, condition: str) -> None:
    """What the Job controller writes when the Job's pod ends (no kubelet here)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"conditions": [{"type": condition, "status": "True", "lastTransitionTime": now}]}
    if condition == "Complete":
        status["completionTime"] = now
    batch.patch_namespaced_job_status(name, ns, {"status": status})


@pytest.fixture
def batch(kube_api):
    return client.BatchV1Api(kube_api.api_client())


def test_defaults_and_refusals_match_the_api_server(kube_api, batch):
    made = batch.create_namespaced_cron_job("default", _cronjob("nightly"))
    assert made.spec.concurrency_policy == "Allow"
    assert (made.spec.successful_jobs_history_limit, made.spec.failed_jobs_history_limit) == (3, 1)
    assert made.spec.suspend is False
    for bad in ("*/5 * * *", "0 0 L * *", "@fortnightly", "TZ=UTC 0 * * * *", "61 * * * *"):
        with pytest.raises(ApiException) as refused:
            batch.create_namespaced_cron_job("default", _cronjob("bad", bad))
        assert refused.value.status == 422
        assert "spec.schedule" in refused.value.body and "unparseable schedule" in refused.value.body


def test_a_job_at_each_scheduled_time_forbid_skips_while_one_is_active(kube_api, batch):
    emulator = kube_api.emulator
    batch.create_namespaced_cron_job("default", _cronjob("every5", concurrencyPolicy="Forbid"))
    time.sleep(0.5)
    assert _jobs(batch, "default") == []  # nothing before the first scheduled time
    emulator.advance_clock(_next_boundary(emulator))
    first = emulator.wait_for(lambda: _jobs(batch, "default"), 10, what="first Job")[0]
    scheduled = int(emulator.now() // 300 * 300)
    assert first.metadata.name == f"every5-{scheduled // 60}"
    owner = first.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("CronJob", "every5", True)
    assert first.metadata.labels["fairing.dev/run"] == "every5"
    assert first.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(scheduled))
    cron = emulator.wait_for(lambda: (c := batch.read_namespaced_cron_job("every5", "default"))
                             .status.active and c, 10, what="active ref")
    assert [ref.name for ref in cron.status.active] == [first.metadata.name]
    # Forbid: the next time comes while the first Job runs: skipped, and said so.
    emulator.advance_clock(300)
    events = client.CoreV1Api(kube_api.api_client())
    emulator.wait_for(lambda: any(e.reason == "JobAlreadyActive" for e in
                                  events.list_namespaced_event("default").items), 10,
                      what="JobAlreadyActive event")
    assert len(_jobs(batch, "default")) == 1
    # Once it has completed, the next time makes the next Job, and lastSuccessfulTime is set.
    _finish(batch, "default", first.metadata.name, "Complete")
    emulator.advance_clock(300)
    jobs = emulator.wait_for(lambda: len(_jobs(batch, "default")) == 2 and _jobs(batch, "default"),
                             10, what="second Job")
    assert jobs[1].metadata.name > jobs[0].metadata.name
    cron = emulator.wait_for(lambda: (c := batch.read_namespaced_cron_job("every5", "default"))
                             .status.last_successful_time and c, 10, what="lastSuccessfulTime")
    assert cron.status.last_schedule_time is not None


def test_history_limits_delete_the_oldest_finished_jobs(kube_api, batch):
    emulator = kube_api.emulator
    batch.create_namespaced_cron_job("default", _cronjob(
        "kept", "@every 60s", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
    names = []
    for outcome in ("Complete", "Complete", "Failed", "Failed"):
        emulator.advance_clock(61)
        job = emulator.wait_for(
            lambda: [j for j in _jobs(batch, "default") if j.metadata.name not in names], 10,
            what="next Job")[0]
        names.append(job.metadata.name)
        _finish(batch, "default", job.metadata.name, outcome)
    emulator.advance_clock(0)
    left = emulator.wait_for(lambda: (j := [x.metadata.name for x in _jobs(batch, "default")
                                            if not x.metadata.deletion_timestamp])
                             and len(j) == 2 and j, 10, what="pruned history")
    assert left == [names[1], names[3]]  # the newest success and the newest failure


def test_suspended_cronjob_makes_no_job_and_foreground_delete_removes_its_jobs(kube_api, batch):
    emulator = kube_api.emulator
    batch.create_namespaced_cron_job("default", _cronjob("paused", "@hourly", suspend=True))
    emulator.advance_clock(3601)
    time.sleep(0.5)
    assert _jobs(batch, "default") == []
    batch.patch_namespaced_cron_job("paused", "default", {"spec": {"suspend": False}})
    emulator.advance_clock(3601)
    emulator.wait_for(lambda: _jobs(batch, "default"), 10, what="Job after resume")
    batch.delete_namespaced_cron_job("paused", "default", propagation_policy="Foreground")
    emulator.wait_for(lambda: not _jobs(batch, "default") and not
                      batch.list_namespaced_cron_job("default").items, 15, what="all deleted")
