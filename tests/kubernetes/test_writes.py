"""ClusterClient's writes with server-side field validation, against the API emulator driven by
the real schemas: ``fieldValidation=Strict`` on Kubernetes 1.27+ (a refused unknown field fails
with one message naming the field and the server's version), one notice on older servers, and
every ``Warning`` response header as a notice."""

from __future__ import annotations

import pytest

from fairing_magics.errors import ClusterError
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.kube.api_resources import JOB, TRAINJOB
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.fieldvalidation import warnings_of
from fairing_magics.kube.options import JobOptions
from fairing_magics.kube.training import render_job
from fairing_magics.kube.trainjob import render_trainjob
from tests.harness.kube.cluster import start_api_only
from tests.harness.kube.trainer_crds import install_trainjob_crd

IMAGE = "127.0.0.1:5000/fairing-job@sha256:" + "a" * 64


@pytest.fixture
def cluster_of(tmp_path):
    """``cluster_of("1.30")``: an API-only emulator playing that Kubernetes release, and an
    access to it."""
    made = []

    def start(version: str):
        cluster = start_api_only(tmp_path / f"kube-{version}", kubernetes_version=version)
        access = load_cluster_access(kubeconfig=cluster.kubeconfig,
                                     retries=client_retries(total=1, backoff_factor=0))
        made.append((cluster, access))
        return cluster, access

    yield start
    for cluster, access in made:
        access.close()
        cluster.stop()


def _job(name: str, **changes) -> dict:
    job = render_job(JobOptions(name=name, image=IMAGE, timeout=60))
    job["spec"].update(changes)
    return job


def _notices(events) -> list[str]:
    return list(events)


def test_strict_refuses_an_unknown_field_naming_it_and_the_server_version(cluster_of):
    cluster, access = cluster_of("1.30")
    events: list = []
    writer = Writer(ClusterClient(access), events.append)
    with pytest.raises(ClusterError) as caught:
        writer.create(JOB, "default", _job("typo", activeDeadlineSecond=5))
    message = str(caught.value)
    assert "spec.activeDeadlineSecond" in message and "v1.30.0-fairing-emulator" in message
    assert "Job typo" in message and "Nothing was created" in message
    (sent,) = [r for r in cluster.emulator.received if r["method"] == "POST"]
    assert sent["query"]["fieldValidation"] == "Strict"
    assert not cluster.emulator.store.list(_job_type())[0]
    stored = writer.create(JOB, "default", _job("fine"))
    assert stored["spec"]["activeDeadlineSeconds"] == 60
    assert _notices(events) == []  # a 1.27+ server: no fallback notice, no warnings


class Writer:
    """The client's create and patch with one ``notice`` sink, as a submit or deploy uses them."""

    def __init__(self, client: ClusterClient, notice):
        self.client, self.notice = client, notice

    def create(self, resource, namespace: str, body: dict) -> dict:
        return self.client.create(resource, body, namespace=namespace, notice=self.notice)

    def patch(self, resource, namespace: str, name: str, body: dict) -> dict:
        return self.client.patch(resource, name, body, namespace=namespace, notice=self.notice)


def _job_type():
    from tests.harness.kube.resources import find_type

    return find_type("batch", "v1", "jobs")


def test_a_custom_resource_field_an_older_crd_lacks_is_refused_too(cluster_of):
    """A kernel whose TrainJob shape is out of date (the Trainer was downgraded under it)."""
    cluster, access = cluster_of("1.36")
    install_trainjob_crd(cluster.emulator, "v2.1.0")
    body = render_trainjob(JobOptions(name="stale", image=IMAGE, kind="trainjob", timeout=60),
                           "podTemplateOverrides")
    with pytest.raises(ClusterError) as caught:
        Writer(ClusterClient(access), lambda e: None).create(TRAINJOB, "default", body)
    message = str(caught.value)
    assert "no field spec.activeDeadlineSeconds" in message and "Kubeflow Trainer v2" in message
    assert "v1.36.0-fairing-emulator" in message


def test_an_older_server_gets_no_strict_and_one_notice(cluster_of):
    cluster, access = cluster_of("1.24")
    events: list = []
    writer = Writer(ClusterClient(access), events.append)
    stored = writer.create(JOB, "default", _job("old-a", activeDeadlineSecond=5))
    writer.create(JOB, "default", _job("old-b"))
    assert "activeDeadlineSecond" not in stored["spec"]  # dropped silently by that server
    assert all("fieldValidation" not in r["query"] for r in cluster.emulator.received)
    (notice,) = _notices(events)
    assert "Kubernetes v1.24.0-fairing-emulator, older than 1.27" in notice
    assert "dropped silently" in notice


def test_warning_headers_become_notices(cluster_of):
    """A 1.26 server reads fieldValidation but we do not send Strict there: its default (Warn)
    answers the dropped field as a Warning header, shown as a notice."""
    _, access = cluster_of("1.26")
    events: list = []
    Writer(ClusterClient(access), events.append).create(JOB, "default", _job("warned", foo=1))
    notices = _notices(events)
    assert any("older than 1.27" in n for n in notices)
    assert 'the API server warns about Job warned: unknown field "spec.foo"' in notices


def test_a_merge_patch_is_strict_too(cluster_of):
    cluster, access = cluster_of("1.36")
    writer = Writer(ClusterClient(access), lambda e: None)
    writer.create(JOB, "default", _job("patched"))
    with pytest.raises(ClusterError) as caught:
        writer.patch(JOB, "default", "patched", {"spec": {"ttlSecondsAfterFinish": 5}})
    assert "spec.ttlSecondsAfterFinish" in str(caught.value)
    patch = [r for r in cluster.emulator.received if r["method"] == "PATCH"]
    assert patch and patch[0]["query"]["fieldValidation"] == "Strict"


def test_warning_header_values_are_parsed():
    from urllib3 import HTTPHeaderDict

    headers = HTTPHeaderDict()
    headers.add("Warning", '299 - "unknown field \\"spec.x\\""')
    headers.add("Warning", '299 - "batch/v1beta1 CronJob is deprecated", 299 - "second"')
    assert warnings_of(headers) == ['unknown field "spec.x"', "batch/v1beta1 CronJob is deprecated",
                                    "second"]
    assert warnings_of({"Content-Type": "application/json"}) == []
