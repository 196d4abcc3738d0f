"""The emulator's TrainJob CRDs of older Trainers: unknown spec fields are pruned silently, as a
real API server does with a structural schema, and the Trainer applies whichever of
podSpecOverrides / podTemplateOverrides / runtimePatches survived to the node pods."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from fairing_magics.kube.options import JobOptions, Toleration, Volume
from fairing_magics.kube.trainjob import render_trainjob
from tests.harness.kube.trainer_crds import install_trainjob_crd

GROUP, VERSION = "trainer.kubeflow.org", "v1alpha1"
OPTIONS = dict(image="127.0.0.1:1/img@sha256:" + "a" * 64, kind="trainjob", namespace="team",
               command=("python3", "-c", "print(1)"), service_account="s3-reader",
               node_selector={"pool": "gpu"}, tolerations=(Toleration("gpu", effect="NoSchedule"),),
               volumes=(Volume(mount_path="/data", pvc="claim"),))


@pytest.fixture
def kube(kube_api):
    api = kube_api.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
    yield kube_api, client.CustomObjectsApi(api), client.CoreV1Api(api)
    api.close()


def _submit(custom, core, cluster, name: str, field: str):
    body = render_trainjob(JobOptions(name=name, **OPTIONS), field)
    stored = custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", body)
    selector = f"jobset.sigs.k8s.io/jobset-name={name}"
    cluster.emulator.wait_for(lambda: core.list_namespaced_pod("team", label_selector=selector)
                              .items, 10, what=f"pods of {name}")
    (pod,) = core.list_namespaced_pod("team", label_selector=selector).items
    return stored, pod


@pytest.mark.parametrize("field", ["podSpecOverrides", "podTemplateOverrides", "runtimePatches"])
def test_each_trainer_applies_its_own_field_to_the_node_pods(kube, field):
    cluster, custom, core = kube
    install_trainjob_crd(cluster.emulator, field)
    name = "tj-" + field.lower()[:12]
    stored, pod = _submit(custom, core, cluster, name, field)
    assert stored["spec"][field]
    assert pod.spec.service_account_name == "s3-reader"
    assert pod.spec.node_selector == {"pool": "gpu"}
    assert [(t.key, t.effect) for t in pod.spec.tolerations] == [("gpu", "NoSchedule")]
    assert any(v.name == "pvc-claim" for v in pod.spec.volumes)
    (node,) = pod.spec.containers
    assert [(m.name, m.mount_path) for m in node.volume_mounts] == [("pvc-claim", "/data")]
    labels, annotations = pod.metadata.labels, pod.metadata.annotations or {}
    if field == "podSpecOverrides":  # v2.0 has no pod metadata: spec.labels stay on the JobSet
        assert "fairing.dev/run" not in labels and "sidecar.istio.io/inject" not in annotations
        assert stored["spec"]["labels"]["fairing.dev/run"] == name
    else:
        assert labels["fairing.dev/run"] == name
        assert annotations["sidecar.istio.io/inject"] == "false"


def test_an_older_crd_prunes_the_newer_field_silently(kube):
    """The problem detection solves: created fine, run fine, and no service account."""
    cluster, custom, core = kube
    install_trainjob_crd(cluster.emulator, "podSpecOverrides")
    stored, pod = _submit(custom, core, cluster, "tj-pruned", "runtimePatches")
    assert "runtimePatches" not in stored["spec"]
    again = custom.get_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", "tj-pruned")
    assert "runtimePatches" not in again["spec"] and again["spec"]["trainer"]["image"]
    assert pod.spec.service_account_name == "default"
    assert not pod.spec.node_selector and not pod.spec.tolerations
    # Pruning goes deep: an unknown field inside a known one goes too (the real v2.0.1 schema).
    body = render_trainjob(JobOptions(name="tj-deep", **OPTIONS), "podSpecOverrides")
    body["spec"]["podSpecOverrides"][0]["runtimeClassName"] = "nvidia"
    body["spec"]["trainer"]["anything"] = 1
    stored = custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", body)
    assert "runtimeClassName" not in stored["spec"]["podSpecOverrides"][0]
    assert "anything" not in stored["spec"]["trainer"] and stored["spec"]["trainer"]["image"]
    assert stored["spec"]["managedBy"] == "trainer.kubeflow.org/trainjob-controller"  # defaulted


def test_field_validation_strict_refuses_and_warn_warns(kube):
    """fieldValidation on the real CRD: Strict is a 400 naming each field, the default (Warn)
    answers Warning headers, Ignore drops silently."""
    cluster, custom, _ = kube
    install_trainjob_crd(cluster.emulator, "v2.1.0")
    body = render_trainjob(JobOptions(name="tj-strict", timeout=60, **OPTIONS),
                           "podTemplateOverrides")
    with pytest.raises(client.ApiException) as caught:
        custom.create_namespaced_custom_object(GROUP, VERSION, "team", "trainjobs", body,
                                               field_validation="Strict")
    assert caught.value.status == 400
    message = json.loads(caught.value.body)["message"]
    assert 'strict decoding error: unknown field "spec.activeDeadlineSeconds"' in message
    data, status, headers = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "team", "trainjobs", body)
    assert status == 201 and "activeDeadlineSeconds" not in data["spec"]
    assert headers.get("Warning") == '299 - "unknown field \\"spec.activeDeadlineSeconds\\""'
    body["metadata"]["name"] = "tj-ignore"
    _, _, headers = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "team", "trainjobs", body, field_validation="Ignore")
    assert "Warning" not in headers
