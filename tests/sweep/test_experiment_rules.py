"""The rendered Katib Experiment meets Katib's webhook rules (validator.go, replayed in
tests/harness/kube/katib.py after Katib's defaults), and its trials' Jobs, as Katib makes them,
meet the Kubernetes Job schema; defects planted in a good Experiment are each refused by the
rule that should refuse them. Also the search space's and the sweep's bad inputs, one line
each."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError
from fairing_magics.sweep.katib import render_experiment
from fairing_magics.sweep.options import SweepOptions, check_parameters, check_sweep
from fairing_magics.sweep.space import parse_param, parse_space
from fairing_magics.train_request import TrainOptions, merge_request
from tests.harness import need

IMAGE = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job@sha256:" + "a" * 64


@pytest.fixture(scope="module", autouse=True)
def schemas():
    from tests.harness.kube.schemas import SchemasMissing, schema_folder

    try:
        schema_folder()
    except SchemasMissing as exc:
        need(False, str(exc))


def _options(params=("lr=loguniform:1e-4:1e-1", "depth=int:2:8:2", "kernel=choice:rbf,linear",
                     "batch=choice:16,32"), **changes):
    train = changes.pop("train", TrainOptions(name="tune", backend="kubernetes", cpu="1",
                                              memory="1Gi", outputs=("model",),
                                              timeout=600, env={"MODE": "fast"}))
    return SweepOptions(space=parse_space(list(params)), objective="val_loss",
                        metrics=("accuracy",), trials=12, parallel=3, train=train, **changes)


SETTINGS = Settings(backend="kubernetes", namespace="kubeflow-user", storage="s3://bucket/runs")
VARIANTS = {
    "job, tpe, every pod flag": _options(),
    "tfjob with workers, median": _options(early_stopping="median", train=TrainOptions(
        name="tune", backend="kubernetes", kind="tfjob", workers=2, gpus=1)),
    "pytorchjob, bayesian": _options(algorithm="bayesian", train=TrainOptions(
        name="tune", backend="kubernetes", kind="pytorchjob", workers=1)),
    "grid with steps": _options(params=("x=uniform:0:1:0.25", "n=int:1:3"), algorithm="grid"),
    "random, maximize": _options(algorithm="random", goal="maximize"),
}


def _experiment(options, settings=SETTINGS) -> dict:
    options = replace(options, train=merge_request(options.train, settings))
    return render_experiment(options, name="tune-abc123", image=IMAGE,
                             capture_digest="sha256:" + "c" * 64, namespace="kubeflow-user")


def _katib_causes(experiment: dict) -> list:
    from tests.harness.kube.katib import experiment_causes, set_defaults

    obj = copy.deepcopy(experiment)
    set_defaults(obj)
    return experiment_causes(obj)


@pytest.mark.parametrize("label", list(VARIANTS))
def test_every_rendered_experiment_meets_katibs_webhook(label):
    experiment = _experiment(VARIANTS[label])
    assert _katib_causes(experiment) == []
    spec = experiment["spec"]
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    assert spec["maxTrialCount"] >= spec["parallelTrialCount"]
    assert spec["maxFailedTrialCount"] <= spec["maxTrialCount"]


@pytest.mark.parametrize("label", list(VARIANTS))
def test_each_trials_job_as_katib_makes_it_meets_the_kubernetes_schema(label):
    import random

    from tests.harness.kube.apischema import kind_schemas
    from tests.harness.kube.controllers.katib import run_spec, sample

    experiment = _experiment(VARIANTS[label])
    rng = random.Random(1)
    assignments = [{"name": p["name"], "value": sample(p, rng)}
                   for p in experiment["spec"]["parameters"]]
    job = run_spec(experiment, "tune-abc123-x8k2m0qz", "kubeflow-user", assignments)
    assert "${" not in json.dumps(job)
    schemas = [s for s in kind_schemas(job["apiVersion"], job["kind"])]
    assert schemas, job["kind"]
    for schema in schemas:
        problems = schema.admit(job).problems()
        assert not problems, (schema.title, problems)
    text = json.dumps(job)
    assert '"FAIRING_RUN_NAME", "value": "tune-abc123-x8k2m0qz"' in text
    for a in assignments:
        assert f'"FAIRING_PARAM_{a["name"]}", "value": "{a["value"]}"' in text


def _planted(change) -> list[str]:
    experiment = _experiment(VARIANTS["job, tpe, every pod flag"])
    change(experiment)
    return [f"{path}: {message}" for path, message in _katib_causes(experiment)]


@pytest.mark.parametrize("change, expected", [
    (lambda e: e["spec"]["algorithm"].update(algorithmName="bayesian"),
     "spec.algorithm.algorithmName: Invalid value: \"bayesian\""),
    (lambda e: e["spec"].update(parallelTrialCount=20),
     "spec.parallelTrialCount: Invalid value: should be less than or equal to spec.maxTrialCount"),
    (lambda e: e["spec"].update(maxFailedTrialCount=13),
     "spec.maxFailedTrialCount: Invalid value: should be less than or equal"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].pop(0),
     "in spec.trialTemplate not found in spec.trialParameters"),
    (lambda e: e["spec"]["trialTemplate"]["trialSpec"]["metadata"].update(name="x"),
     "metadata.name and metadata.namespace in spec.trialTemplate must be omitted"),
    (lambda e: e["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"].update(
        restartPolicyy="Never"), "unable to convert"),
    (lambda e: e["spec"]["parameters"][0]["feasibleSpace"].update(distribution="loguniform"),
     "distribution: loguniform is not supported"),
    (lambda e: e["spec"]["parameters"][2]["feasibleSpace"].update(min="1"),
     "feasibleSpace .max, .min and .step is not supported for parameterType: categorical"),
    (lambda e: e["spec"]["objective"].update(additionalMetricNames=["val_loss"]),
     "should not contain spec.objective.objectiveMetricName"),
    (lambda e: e["spec"]["earlyStopping"].update(algorithmName="median")
     if "earlyStopping" in e["spec"]
     else e["spec"].update(earlyStopping={"algorithmName": "median"}),
     "unable to get EarlyStopping config data for algorithm median"),
    (lambda e: e["spec"]["trialTemplate"].pop("primaryContainerName"),
     "spec.trialTemplate.primaryContainerName: Required value"),
])
def test_defects_planted_in_an_experiment_are_refused_by_their_rule(change, expected):
    problems = _planted(change)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("text, message", [
    ("lr=normal:0:1", "unknown distribution 'normal'"),
    ("lr=uniform:1:0", "the range is inverted (1 > 0): write lr=uniform:0:1"),
    ("lr=uniform:1:1", "the range is empty"),
    ("lr=loguniform:0:1", "needs LOW > 0"),
    ("depth=int:2.5:8", "'2.5' is not an integer"),
    ("k=choice:a", "two or more values"),
    ("k=choice:a,a", "listed twice"),
    ("k=choice:a,b c", "may not hold"),
    ("class=int:1:2", "is not a Python name"),
    ("x=uniform:0:1:2", "the step 2 must be above 0 and at most HIGH - LOW (1)"),
    ("lr", "write NAME=DIST:ARGS"),
])
def test_a_bad_parameter_is_refused_in_one_line(text, message):
    with pytest.raises(ConfigError) as info:
        parse_param(text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_choices_are_typed_as_the_cell_will_see_them():
    assert parse_param("n=choice:16,32").choices == (16, 32)
    assert parse_param("r=choice:0.1,1").choices == (0.1, 1.0)
    assert parse_param("b=choice:true,false").choices == (True, False)
    assert parse_param("k=choice:rbf,linear").value_type == "str"
    assert parse_param("x=uniform:0:1:0.25").grid() == (0, 0.25, 0.5, 0.75, 1.0)


@pytest.mark.parametrize("changes, message", [
    (dict(parallel=20), "--parallel 20 is above --trials 12"),
    (dict(algorithm="hyperband"), "--algorithm 'hyperband'"),
    (dict(algorithm="grid"), "--algorithm grid needs a finite set of values for lr"),
    (dict(early_stopping="hyperband"), "--early-stopping 'hyperband'"),
    (dict(metrics=("val_loss",)), "--metric val_loss: it is the --objective already"),
    (dict(objective="val loss"), "metric 'val loss'"),
    (dict(train=TrainOptions(backend="docker")), "a sweep runs on the local backend"),
    (dict(train=TrainOptions(backend="kubernetes", kind="trainjob")),
     "a Katib trial runs as a Job, TFJob or PyTorchJob"),
])
def test_a_bad_sweep_is_refused_before_anything_is_made(changes, message):
    base = dict(space=parse_space(["lr=loguniform:1e-4:1e-1"]), objective="val_loss", trials=12,
                parallel=3, train=TrainOptions(backend="local"))
    base.update(changes)
    settings = Settings(registry="127.0.0.1:5000/x")
    base["train"] = merge_request(base["train"], settings)
    with pytest.raises(ConfigError) as info:
        check_sweep(SweepOptions(**base), settings)
    assert message in str(info.value), str(info.value)


def test_parameters_must_be_read_by_the_cell_and_not_shadow_a_notebook_name():
    space = parse_space(["lr=uniform:0:1", "np=uniform:0:1"])
    with pytest.raises(ConfigError, match="the notebook also has a variable np"):
        check_parameters(space, "x = np.log(lr)", {"np": __import__("math")})
    with pytest.raises(ConfigError, match="the cell never reads np"):
        check_parameters(space, "x = lr", {})
    with pytest.raises(ConfigError, match="the cell sets lr itself"):
        check_parameters(parse_space(["lr=uniform:0:1"]), "lr = 0.1\nprint(lr)", {})
    check_parameters(space, "x = np * lr", {})
