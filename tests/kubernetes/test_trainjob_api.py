"""Which TrainJob field carries the pod settings: the three shapes (pure), reading them from a
CRD (pure), and the check/start of the backend against the API-only emulator (detected, refused,
the 403 fallback and its notice)."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.backends import Launch
from fairing_magics.backends.kubernetes.backend import KubernetesBackend
from fairing_magics.backends.kubernetes.plan import (
    describe_cluster_plan,
    pod_templates,
    training_spec,
)
from fairing_magics.backends.kubernetes.trainjob_api import (
    TrainJobApi,
    assumed_api_notice,
    detect_trainjob_api,
    forget_trainjob_apis,
    pod_settings_field_of_crd,
    require_pod_settings_field,
)
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError
from fairing_magics.kube.access import client_retries, load_cluster_access
from fairing_magics.kube.options import JobOptions, Toleration, Volume
from fairing_magics.kube.trainjob import (
    POD_SETTINGS_FIELDS,
    pod_settings,
    render_trainjob,
)
from fairing_magics.run import Run
from tests.harness.kube.trainer_crds import install_trainjob_crd, trainjob_crd

IMAGE = "reg/x@sha256:" + "a" * 64
OPTS = JobOptions(name="tj-abc123", image=IMAGE, kind="trainjob", namespace="team",
                  service_account="s3-reader", node_selector={"pool": "gpu"},
                  tolerations=(Toleration(key="gpu", effect="NoSchedule"),),
                  image_pull_secrets=("ecr",), volumes=(Volume(mount_path="/data", pvc="claim"),),
                  capture_digest="sha256:" + "b" * 64)
POD_SPEC = {"serviceAccountName": "s3-reader", "imagePullSecrets": [{"name": "ecr"}],
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "pvc-claim",
                         "persistentVolumeClaim": {"claimName": "claim", "readOnly": False}}],
            "containers": [{"name": "node", "volumeMounts": [{"name": "pvc-claim",
                                                             "mountPath": "/data"}]}]}


def test_v2_0_pod_spec_overrides_are_flat_and_aimed_at_the_node_job():
    spec = render_trainjob(OPTS, "podSpecOverrides")["spec"]
    assert "runtimePatches" not in spec and "podTemplateOverrides" not in spec
    v20 = {k: v for k, v in POD_SPEC.items() if k != "imagePullSecrets"}  # no such field
    assert spec["podSpecOverrides"] == [{"targetJobs": [{"name": "node"}], **v20}]
    # the JobSet's: v2.0 has no pod metadata
    assert spec["labels"]["fairing.dev/run"] == "tj-abc123"
    assert spec["annotations"]["fairing.dev/capture-digest"] == "sha256:" + "b" * 64
    assert spec["trainer"]["image"] == IMAGE


def test_v2_1_pod_template_overrides_carry_pod_metadata_and_spec():
    spec = render_trainjob(OPTS, "podTemplateOverrides")["spec"]
    (override,) = spec["podTemplateOverrides"]
    assert override["targetJobs"] == [{"name": "node"}]
    assert override["spec"] == POD_SPEC
    assert override["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert override["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert spec["labels"]["fairing.dev/kind"] == "trainjob"


def test_newest_runtime_patches_stay_the_default():
    spec = render_trainjob(OPTS)["spec"]
    assert render_trainjob(OPTS, "runtimePatches") == render_trainjob(OPTS)
    (patch,) = spec["runtimePatches"]
    pod = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"][
        "spec"]["template"]
    assert pod["spec"] == POD_SPEC and "labels" not in spec


def test_every_shape_yields_the_same_pod_settings_and_takes_the_output_volume(tmp_path):
    settings = Settings(home=tmp_path, storage=str(tmp_path / "store"))
    options = pipeline.TrainOptions(kind="trainjob", service_account="s3-reader")
    for field in POD_SETTINGS_FIELDS:
        spec = training_spec(options, settings, name="tj-abc123", image=IMAGE, trainjob_field=field)
        assert pod_settings(spec) == ["--service-account s3-reader", "volume fairing-output"], field
        (pod,) = pod_templates(spec)
        assert pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "/fairing/output"
    bare = render_trainjob(OPTS, "")["spec"]
    assert set(bare) == {"runtimeRef", "trainer"} and pod_settings({"spec": bare}) == []
    with pytest.raises(ConfigError, match="unknown TrainJob field"):
        render_trainjob(OPTS, "overrides")


def test_the_field_is_read_from_the_crd_schema():
    assert pod_settings_field_of_crd(trainjob_crd("podSpecOverrides")) == "podSpecOverrides"
    assert pod_settings_field_of_crd(trainjob_crd("podTemplateOverrides")) == "podTemplateOverrides"
    assert pod_settings_field_of_crd(trainjob_crd("runtimePatches")) == "runtimePatches"
    assert pod_settings_field_of_crd(trainjob_crd("")) == ""
    open_crd = trainjob_crd("")
    open_crd["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    assert pod_settings_field_of_crd(open_crd) is None  # nothing pruned: the newest is safe
    assert pod_settings_field_of_crd(trainjob_crd("podSpecOverrides"), "v1") is None


def test_refusal_and_notice_name_the_settings():
    none = TrainJobApi("", True, "the CRD trainjobs.trainer.kubeflow.org has none of ...")
    require_pod_settings_field(none, [])  # nothing to drop: fine
    with pytest.raises(ConfigError, match=r"--service-account s3-reader, volume data would be "
                                          r"dropped silently: upgrade Kubeflow Trainer"):
        require_pod_settings_field(none, ["--service-account s3-reader", "volume data"])
    assumed = TrainJobApi("runtimePatches", False, "cannot read the TrainJob CRD (x: 403 "
                                                   "Forbidden), so the newest Trainer API")
    assert assumed_api_notice(assumed, []) == ""
    notice = assumed_api_notice(assumed, ["--toleration"])
    assert notice.startswith("cannot read the TrainJob CRD (x: 403 Forbidden) to check")
    assert "these settings are dropped: --toleration" in notice
    assert assumed_api_notice(TrainJobApi("runtimePatches", True, "x"), ["--toleration"]) == ""


def test_a_trainer_that_cannot_annotate_pods_warns_about_istio():
    from fairing_magics.backends.kubernetes.trainjob_api import pod_metadata_notice

    v20 = TrainJobApi("podSpecOverrides", True, "the CRD has spec.podSpecOverrides")
    notice = pod_metadata_notice(v20, istio_inject=False)
    assert notice.startswith("this Kubeflow Trainer (spec.podSpecOverrides) cannot annotate the "
                             "pods")
    assert 'sidecar.istio.io/inject: "false"' in notice
    assert "TrainingRuntime's pod template" in notice
    assert pod_metadata_notice(v20, istio_inject=True) == ""  # the user wants the sidecar
    for field in ("podTemplateOverrides", "runtimePatches"):
        assert pod_metadata_notice(TrainJobApi(field, True, "x"), istio_inject=False) == ""
    none = pod_metadata_notice(TrainJobApi("", True, "x"), istio_inject=False)
    assert "(no pod-settings field)" in none


# -- against the API-only emulator ------------------------------------------------------------


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


def test_detected_field_is_used_for_the_run_and_kept_for_the_kernel(cluster, tmp_path):
    emu, settings, access = cluster
    install_trainjob_crd(emu, "podSpecOverrides")
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    options = pipeline.TrainOptions(kind="trainjob", service_account="s3-reader")
    backend.check(options, settings)
    api = detect_trainjob_api(access)
    assert (api.field, api.detected) == ("podSpecOverrides", True)
    text = describe_cluster_plan(options, settings, None, name="fit")
    assert ("TrainJob pod settings: spec.podSpecOverrides (Kubeflow Trainer v2.0 (Kubeflow "
            "1.10)), detected: the CRD trainjobs.trainer.kubeflow.org has spec.podSpecOverrides"
            in text)
    assert "podSpecOverrides:" in text and "runtimePatches" not in text.split("\n", 3)[3]
    run = Run("fit-aaaaa1", "kubernetes", tmp_path / "run", stages=backend.stages)
    events: list = []
    run.subscribe(events.append)
    backend.start(Launch(bundle_dir=tmp_path, image=IMAGE, timeout=60, options=options,
                         settings=settings), run)
    from kubernetes.client import CustomObjectsApi

    made = CustomObjectsApi(access.api_client).get_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", "default", "trainjobs", "fit-aaaaa1")
    assert made["spec"]["podSpecOverrides"][0]["serviceAccountName"] == "s3-reader"
    assert not [e for e in events if isinstance(e, ev.Notice) and "CRD" in e.text]
    run.cancel()
    install_trainjob_crd(emu, "runtimePatches")  # the kernel keeps what it found
    assert detect_trainjob_api(access).field == "podSpecOverrides"


def test_a_trainer_without_pod_settings_is_refused_before_the_build(cluster):
    emu, settings, access = cluster
    install_trainjob_crd(emu, "")
    backend = KubernetesBackend(access=access)
    with pytest.raises(ConfigError, match=r"cannot take pod settings .*--service-account s3, "
                                          r"volume fairing-output would be dropped"):
        backend.check(pipeline.TrainOptions(kind="trainjob", service_account="s3"), settings)
    bare = Settings(backend="kubernetes", namespace="default", home=settings.home)
    backend.check(pipeline.TrainOptions(kind="trainjob"), bare)  # no pod settings: runs


def test_a_forbidden_crd_falls_back_to_the_newest_field_with_one_notice(cluster, tmp_path):
    emu, settings, access = cluster
    emu.deny("get", "customresourcedefinitions", group="apiextensions.k8s.io")
    backend = KubernetesBackend(access=access, poll_seconds=0.1)
    options = pipeline.TrainOptions(kind="trainjob", tolerations=("gpu:NoSchedule",))
    backend.check(options, settings)
    api = detect_trainjob_api(access)
    assert (api.field, api.detected) == ("runtimePatches", False)
    assert "403" in api.why
    run = Run("fit-bbbbb2", "kubernetes", tmp_path / "run", stages=backend.stages)
    events: list = []
    run.subscribe(events.append)
    backend.start(Launch(bundle_dir=tmp_path, image=IMAGE, timeout=60, options=options,
                         settings=settings), run)
    notices = [e.text for e in events if isinstance(e, ev.Notice) and "TrainJob CRD" in e.text]
    assert len(notices) == 1, notices
    assert notices[0].startswith("cannot read the TrainJob CRD (customresourcedefinitions/"
                                 "trainjobs.trainer.kubeflow.org: 403")
    assert "these settings are dropped: --toleration, volume fairing-output" in notices[0]
    assert "--timeout 60 s is also enforced by this kernel" in notices[0]
    assert backend.monitors["fit-bbbbb2"].deadline is not None  # in case the Trainer is old
    run.cancel()
