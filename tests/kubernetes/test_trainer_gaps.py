"""What older Kubeflow Trainers lack is made up for, never dropped: ``--timeout`` on a Trainer
without ``spec.activeDeadlineSeconds`` (v2.0, v2.1) is enforced by the backend, which deletes the
TrainJob at the deadline; ``--image-pull-secret`` on v2.0 (no ``imagePullSecrets`` in
``podSpecOverrides``) reaches the pods through their service account, or the run is refused
saying what to do. Against the API-only emulator with each Trainer's real CRD."""

from __future__ import annotations

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends import Launch
from fairing_magics.backends.kubernetes.backend import KubernetesBackend
from fairing_magics.backends.kubernetes.trainjob_api import (
    TrainJobApi,
    active_deadline_of_crd,
    deadline_notice,
    forget_trainjob_apis,
    trainjob_api_of_crd,
)
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError, FairingTimeout
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.run import Run
from tests.harness.kube.trainer_crds import install_trainjob_crd, trainjob_crd

IMAGE = "127.0.0.1:5000/fairing-job@sha256:" + "a" * 64
GROUP, VERSION = "trainer.kubeflow.org", "v1alpha1"


def test_the_deadline_field_is_read_from_each_trainers_crd():
    found = {release: (trainjob_api_of_crd(trainjob_crd(release)).field,
                       active_deadline_of_crd(trainjob_crd(release)))
             for release in ("v2.0.1", "v2.1.0", "v2.2.1", "v2.3.0")}
    assert found == {"v2.0.1": ("podSpecOverrides", False),
                     "v2.1.0": ("podTemplateOverrides", False),
                     "v2.2.1": ("runtimePatches", True), "v2.3.0": ("runtimePatches", True)}
    v21 = TrainJobApi("podTemplateOverrides", True, "x", deadline=False)
    assert "no spec.activeDeadlineSeconds" in deadline_notice(v21, 30)
    assert deadline_notice(v21, None) == ""
    assert deadline_notice(TrainJobApi("runtimePatches", True, "x"), 30) == ""


@pytest.fixture
def cluster(kube_api, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    forget_trainjob_apis()
    settings = Settings(backend="kubernetes", namespace="default", home=tmp_path / "home",
                        storage=str(tmp_path / "store"))
    access = load_cluster_access(retries=client_retries(backoff_factor=0))
    yield kube_api.emulator, settings, access
    access.close()
    forget_trainjob_apis()


def _start(backend, options, settings, tmp_path, name: str):
    run = Run(name, "kubernetes", tmp_path / name, stages=backend.stages)
    events: list = []
    run.subscribe(events.append)
    backend.start(Launch(bundle_dir=tmp_path, image=IMAGE, timeout=options.timeout,
                         options=options, settings=settings), run)
    return run, events


def test_timeout_on_a_trainer_without_active_deadline_is_enforced_by_the_backend(cluster, tmp_path):
    emu, settings, access = cluster
    install_trainjob_crd(emu, "v2.1.0")
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    options = pipeline.TrainOptions(kind="trainjob", timeout=2)
    backend.check(options, settings)
    run, events = _start(backend, options, settings, tmp_path, "slow-aaaaa1")
    sent = [r for r in emu.received if r["method"] == "POST" and r["path"].endswith("/trainjobs")]
    assert "activeDeadlineSeconds" not in sent[-1]["body"]["spec"]  # v2.1 would drop it
    assert sent[-1]["query"].get("fieldValidation") == "Strict"
    notices = [e.text for e in events if isinstance(e, ev.Notice)]
    assert any("has no spec.activeDeadlineSeconds" in n and "--timeout 2 s" in n
               for n in notices), notices
    with pytest.raises(FairingTimeout) as caught:  # the pods stay Pending: only the deadline
        run.wait(30)
    assert run.status == ev.TIMED_OUT
    assert "took longer than --timeout 2 s and was stopped by this kernel, which deleted its " \
           "TrainJob" in str(caught.value)
    emu.wait_for(lambda: not CustomObjectsApi(access.api_client).list_namespaced_custom_object(
        GROUP, VERSION, "default", "trainjobs")["items"], 10, what="the TrainJob deleted")


def test_a_trainer_with_active_deadline_gets_the_field_and_no_kernel_deadline(cluster, tmp_path):
    emu, settings, access = cluster
    install_trainjob_crd(emu, "v2.2.1")
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    options = pipeline.TrainOptions(kind="trainjob", timeout=120)
    run, events = _start(backend, options, settings, tmp_path, "fast-aaaaa2")
    made = CustomObjectsApi(access.api_client).get_namespaced_custom_object(
        GROUP, VERSION, "default", "trainjobs", "fast-aaaaa2")
    assert made["spec"]["activeDeadlineSeconds"] == 120
    assert backend.monitors["fast-aaaaa2"].deadline is None
    assert not [e for e in events if isinstance(e, ev.Notice) and "activeDeadline" in e.text]
    run.cancel()


def test_v2_0_pull_secrets_come_from_the_service_account_or_the_run_is_refused(cluster, tmp_path):
    emu, settings, access = cluster
    install_trainjob_crd(emu, "v2.0.1")
    core = CoreV1Api(access.api_client)
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    options = pipeline.TrainOptions(kind="trainjob", service_account="puller",
                                    image_pull_secrets=("regcred",))
    with pytest.raises(ConfigError) as caught:
        backend.check(options, settings)
    assert "service account default/puller does not exist" in str(caught.value)
    core.create_namespaced_service_account("default", {"metadata": {"name": "puller"}})
    with pytest.raises(ConfigError) as caught:
        backend.check(options, settings)
    message = str(caught.value)
    assert "does not carry the pull secret regcred" in message
    assert "kubectl -n default patch serviceaccount puller -p " \
           "'{\"imagePullSecrets\":[{\"name\":\"regcred\"}]}'" in message
    assert "upgrade Kubeflow Trainer to v2.1 or newer" in message
    core.patch_namespaced_service_account("puller", "default",
                                          {"imagePullSecrets": [{"name": "regcred"}]})
    backend.check(options, settings)
    run, events = _start(backend, options, settings, tmp_path, "pull-aaaaa3")
    assert any("the pods get regcred from their service account puller" in e.text
               for e in events if isinstance(e, ev.Notice))
    selector = "jobset.sigs.k8s.io/jobset-name=pull-aaaaa3"
    pods = emu.wait_for(lambda: core.list_namespaced_pod("default", label_selector=selector).items,
                        10, what="the node pod")
    assert [s.name for s in pods[0].spec.image_pull_secrets] == ["regcred"]
    run.cancel()
