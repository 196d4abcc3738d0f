"""The suite catches what a real API server would drop or refuse: defects planted in objects
that pass, each reported with the kind, the schema version and the JSON path."""

from __future__ import annotations

import copy

import pytest

from tests.conformance.report import check
from tests.conformance.variants import (
    Variant,
    serving_objects,
    training_objects,
    trainjob_objects,
)
from tests.harness.kube.apischema import schema_of


def _one(variants, label_part: str, release: str = "") -> Variant:
    found = [v for v in variants if label_part in v.label and (not release or
                                                               v.for_release == release)]
    assert found, label_part
    return found[0]


def _planted(variant: Variant, change) -> list[str]:
    obj = copy.deepcopy(variant.object)
    change(obj)
    return check(Variant(variant.label, obj, variant.for_release))


def _expect(problems: list[str], *parts: str) -> None:
    assert any(all(p in line for p in parts) for line in problems), \
        f"no problem with {parts} in:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def job():
    return _one(training_objects("job"), "every pod flag")


def test_a_misplaced_annotation_is_dropped(job):
    # annotations belong in spec.template.metadata, not on the template itself
    problems = _planted(job, lambda o: o["spec"]["template"].__setitem__(
        "annotations", {"sidecar.istio.io/inject": "false"}))
    for release in ("1.30", "1.36"):
        _expect(problems, f"Job (Kubernetes {release})", "spec.template.annotations",
                "unknown field")


def test_an_annotation_put_where_only_older_trainers_take_it_is_dropped_by_newer_ones():
    v = _one(trainjob_objects(), "every pod flag", "v2.3.0")
    problems = _planted(v, lambda o: o["spec"].__setitem__("annotations", {"a.b/c": "d"}))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.3.0)", "spec.annotations", "unknown field")


def test_a_misspelt_field_is_dropped_with_its_json_path(job):
    problems = _planted(job, lambda o: o["spec"].__setitem__(
        "activeDeadlineSecond", o["spec"].pop("activeDeadlineSeconds")))
    _expect(problems, "Job (Kubernetes 1.30)", "spec.activeDeadlineSecond", "unknown field")
    tfjob = _one(training_objects("tfjob"), "every pod flag")
    problems = _planted(tfjob, lambda o: o["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
                        ["containers"][0].__setitem__("imagePullPolicyy", "Always"))
    _expect(problems, "TFJob (Kubeflow training-operator v1.9.0)",
            "spec.tfReplicaSpecs[Worker].template.spec.containers[0].imagePullPolicyy",
            "unknown field")


def test_unknown_metadata_fields_are_dropped(job):
    problems = _planted(job, lambda o: o["metadata"].__setitem__("label", {"a": "b"}))
    _expect(problems, "Job (Kubernetes 1.36)", "metadata.label", "unknown field")
    isvc = _one(serving_objects(), "--runtime sklearn")
    problems = _planted(isvc, lambda o: o["metadata"].__setitem__("annotation", {"a": "b"}))
    _expect(problems, "InferenceService (KServe v0.14.1)", "metadata.annotation", "unknown field")


def test_open_parts_of_a_schema_keep_unknown_fields():
    """x-kubernetes-preserve-unknown-fields (KServe's status) keeps what it does not name."""
    isvc = _one(serving_objects(), "--runtime xgboost")
    assert not _planted(isvc, lambda o: o.__setitem__("status", {"anything": {"goes": 1}}))


def test_a_wrong_type_is_refused():
    deployment = next(v for v in serving_objects() if v.kind == "Deployment")
    problems = _planted(deployment, lambda o: o["spec"].__setitem__("replicas", "2"))
    _expect(problems, "Deployment (Kubernetes 1.30)", "spec.replicas", "must be of type integer")
    isvc = _one(serving_objects(), "--runtime sklearn")
    problems = _planted(isvc, lambda o: o["spec"]["predictor"].__setitem__("minReplicas", 2.5))
    _expect(problems, "InferenceService (KServe v0.19.0)", "spec.predictor.minReplicas",
            "must be of type integer")


def test_an_out_of_range_int32_is_refused():
    pytorch = _one(training_objects("pytorchjob"), "no flags")
    problems = _planted(pytorch,
                        lambda o: o["spec"]["runPolicy"].__setitem__("backoffLimit", 2**31))
    _expect(problems, "PyTorchJob (Kubeflow training-operator v1.9.0)",
            "spec.runPolicy.backoffLimit", "int32")


def test_int_or_string_fields_take_only_integers_or_strings():
    deployment = next(v for v in serving_objects() if v.kind == "Deployment")
    problems = _planted(deployment, lambda o: o["spec"]["template"]["spec"]["containers"][0]
                        ["readinessProbe"]["httpGet"].__setitem__("port", 80.5))
    _expect(problems, "Deployment (Kubernetes 1.30)",
            "spec.template.spec.containers[0].readinessProbe.httpGet.port")
    isvc = _one(serving_objects(), "--kserve (our predictor)")
    problems = _planted(isvc, lambda o: o["spec"]["predictor"]["containers"][0]
                        .__setitem__("resources", {"limits": {"cpu": True}}))
    _expect(problems, "InferenceService (KServe v0.14.1)",
            "spec.predictor.containers[0].resources.limits[cpu]")


def test_a_missing_required_field_is_refused():
    isvc = _one(serving_objects(), "--runtime sklearn")
    problems = _planted(isvc, lambda o: o["spec"]["predictor"]["model"]["modelFormat"].pop("name"))
    _expect(problems, "InferenceService (KServe v0.14.1)",
            "spec.predictor.model.modelFormat.name", "Required value")


def test_an_unsupported_value_is_refused():
    service = next(v for v in serving_objects() if v.kind == "Service")
    problems = _planted(service, lambda o: o["spec"].__setitem__("type", "Clusterip"))
    _expect(problems, "Service (Kubernetes 1.36)", "spec.type", 'Unsupported value: "Clusterip"')


def test_duplicate_list_map_keys_are_refused():
    v22 = _one(trainjob_objects(), "every pod flag", "v2.2.1")
    problems = _planted(v22, lambda o: o["spec"]["trainer"]["env"].append(
        {"name": "EPOCHS", "value": "4"}))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.2.1)", "spec.trainer.env[", "Duplicate value",
            '"EPOCHS"')
    # KServe's containers list is not a list-map: its webhook and the pods refuse duplicates
    isvc = _one(serving_objects(), "--kserve (our predictor)")
    problems = _planted(isvc, lambda o: o["spec"]["predictor"]["containers"].append(
        copy.deepcopy(o["spec"]["predictor"]["containers"][0])))
    _expect(problems, "InferenceService (KServe v0.19.0)", "spec.predictor.containers[1].name",
            "Duplicate value")


def test_the_crds_cel_rules_are_evaluated():
    v21 = _one(trainjob_objects(), "no flags", "v2.1.0")
    problems = _planted(v21, lambda o: o["spec"].__setitem__("managedBy", "someone-else"))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.1.0)", "spec.managedBy",
            "ManagedBy must be trainer.kubeflow.org/trainjob-controller")
    problems = _planted(v21, lambda o: o["metadata"].__setitem__("name", "x" * 64))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.1.0)", "metadata.name must be no more than 63")


def test_transition_rules_run_on_updates_only():
    v23 = _one(trainjob_objects(), "no flags", "v2.3.0")
    schema = schema_of("trainer.kubeflow.org/v1alpha1", "TrainJob", "v2.3.0")
    old = schema.admit(v23.object).object
    assert old["spec"]["managedBy"] == "trainer.kubeflow.org/trainjob-controller"  # defaulted
    changed = copy.deepcopy(old)
    changed["spec"]["runtimeRef"]["name"] = "another-runtime"
    assert schema.admit(changed).ok  # a create: no old object, the rule does not apply
    causes = [str(c) for c in schema.admit(changed, old=old).causes]
    assert any("spec.runtimeRef" in c and "field is immutable" in c for c in causes), causes


def test_names_per_kind():
    job = _one(training_objects("job"), "no flags")
    problems = _planted(job, lambda o: o["metadata"].__setitem__("name", "j" * 64))
    _expect(problems, "Job (Kubernetes 1.30)", "metadata.name", "job-name label")
    service = next(v for v in serving_objects() if v.kind == "Service")
    problems = _planted(service, lambda o: o["metadata"].__setitem__("name", "1linreg"))
    _expect(problems, "Service (Kubernetes 1.30)", "metadata.name", "DNS-1035")
    tfjob = _one(training_objects("tfjob"), "no flags")
    problems = _planted(tfjob, lambda o: o["metadata"].__setitem__("name", "train.v2"))
    _expect(problems, "TFJob (Kubeflow training-operator v1.9.0)", "metadata.name", "DNS-1035")
    isvc = _one(serving_objects(), "--runtime xgboost")
    problems = _planted(isvc, lambda o: o["metadata"].__setitem__("name", "Linreg"))
    _expect(problems, "InferenceService (KServe v0.19.0)", "metadata.name", "DNS-1035")
    deployment = next(v for v in serving_objects() if v.kind == "Deployment")
    assert not _planted(deployment, lambda o: o["metadata"].__setitem__("name", "lin.reg"))


def test_label_and_annotation_keys_and_values():
    job = _one(training_objects("job"), "every pod flag")
    problems = _planted(job, lambda o: o["metadata"]["labels"].__setitem__("fairing.dev/run",
                                                                             "r" * 64))
    _expect(problems, "Job (Kubernetes 1.30)", "metadata.labels", "at most 63")
    problems = _planted(job, lambda o: o["spec"]["template"]["metadata"]["annotations"]
                        .__setitem__("not a key", "x"))
    _expect(problems, "Job (Kubernetes 1.36)", "spec.template.metadata.annotations", "name part")


def test_pod_rules_the_api_server_adds_to_the_schema(job):
    problems = _planted(job, lambda o: o["spec"]["template"]["spec"].__setitem__(
        "restartPolicy", "Always"))
    _expect(problems, "Job (Kubernetes 1.30)", "spec.template.spec.restartPolicy",
            'Unsupported value: "Always"')
    gpu = _one(training_objects("job"), "GPUs only")
    problems = _planted(gpu, lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]
                        ["requests"].__setitem__("nvidia.com/gpu", "2"))
    _expect(problems, "Job (Kubernetes 1.36)", "resources.requests[nvidia.com/gpu]",
            "equal to nvidia.com/gpu limit")
    problems = _planted(job, lambda o: o["spec"]["template"]["spec"]["containers"][0]
                        ["volumeMounts"][0].__setitem__("name", "nowhere"))
    _expect(problems, "Job (Kubernetes 1.30)", "volumeMounts[0].name", 'Not found: "nowhere"')


def test_what_older_trainers_drop_is_caught():
    """The defects that started this suite: the newest TrainJob shape on Trainer v2.0 loses its
    pod settings and --timeout; imagePullSecrets in v2.0's podSpecOverrides is dropped."""
    newest = _one(training_objects("trainjob"), "every pod flag")  # runtimePatches + deadline
    problems = check(Variant(newest.label, newest.object, "v2.0.1"))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.0.1)", "spec.runtimePatches", "unknown field")
    _expect(problems, "TrainJob (Kubeflow Trainer v2.0.1)", "spec.activeDeadlineSeconds",
            "unknown field")
    v20 = _one(trainjob_objects(), "every pod flag", "v2.0.1")
    assert "imagePullSecrets" not in v20.object["spec"]["podSpecOverrides"][0]
    problems = _planted(v20, lambda o: o["spec"]["podSpecOverrides"][0].__setitem__(
        "imagePullSecrets", [{"name": "ecr-pull"}]))
    _expect(problems, "TrainJob (Kubeflow Trainer v2.0.1)",
            "spec.podSpecOverrides[0].imagePullSecrets", "unknown field")
