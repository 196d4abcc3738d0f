"""A sweep as a Katib ``Experiment`` (``kubeflow.org/v1beta1``): pure functions, no network.

The trial template is the very object ``%%fairing_train`` would submit for the same flags
(:func:`fairing_magics.backends.kubernetes.plan.training_spec`: a Job, or a TFJob/PyTorchJob
with ``--kind``; our labels, Istio injection off in the pods, resources, ``--timeout`` as
``activeDeadlineSeconds``, run storage), with what Katib fills in per trial:

- each parameter as env ``FAIRING_PARAM_<name>: ${trialParameters.<name>}`` (environment, not
  arguments: the StdOut collector joins the container's command into one ``sh -c`` line, where a
  value would need quoting);
- the trial's name (``${trialParameters.fairingTrialName}``, Katib's ``${trialSpec.Name}``) as
  the run's name: env ``FAIRING_RUN_NAME``, the ``fairing.dev/run`` label (our pods are found by
  it) and the run's output folder (its outputs and error come back per trial);
- the container's ``command`` spelled out (the image's ``CMD``), which the collector wraps
  without asking the registry for the image config; no ``metadata.name``/``namespace`` (Katib
  names each trial's job after the trial).

The Experiment: the objective (its metric strategy: ``min`` when minimizing, ``max`` when
maximizing), ``--metric`` as ``additionalMetricNames``, the algorithm under Katib's name
(:data:`ALGORITHM_NAMES`), ``medianstop`` early stopping, ``maxTrialCount``,
``parallelTrialCount``, ``maxFailedTrialCount``, the StdOut metrics collector, the success and
failure conditions of the job's kind, ``retain: true`` (a finished trial keeps its pods: their
logs stay readable) and ``resumePolicy: Never`` (Katib frees the suggestion service at the end).

Katib's CRD preserves unknown fields: what it refuses is in its webhook
(``pkg/webhook/v1beta1/experiment/validator``), which the tests replay (tests/harness/kube).
"""

from __future__ import annotations

import copy
from dataclasses import replace

from fairing_magics.image.layout import CMD
from fairing_magics.kube.api_resources import EXPERIMENT
from fairing_magics.kube.labels import (
    ANNOTATION_DIGEST,
    LABEL_DIGEST,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_RUN,
    LABEL_SWEEP,
    MANAGED_BY,
)
from fairing_magics.kube.naming import label_value
from fairing_magics.kube.pods import CONTAINER_NAMES
from fairing_magics.sweep.options import SweepOptions
from fairing_magics.sweep.space import Param, SearchSpace, format_number

ALGORITHM_NAMES = {"random": "random", "grid": "grid", "tpe": "tpe",
                   "bayesian": "bayesianoptimization"}
EARLY_STOPPING_NAMES = {"median": "medianstop"}
KIND_SWEEP = "sweep"
#: Katib's labels on what it makes for an Experiment.
LABEL_KATIB_EXPERIMENT = "katib.kubeflow.org/experiment"
LABEL_KATIB_TRIAL = "katib.kubeflow.org/trial"
TRIAL_NAME_PARAMETER = "fairingTrialName"
PARAM_ENV_PREFIX = "FAIRING_PARAM_"
#: A valid object name standing for the trial's name while the template is rendered.
_NAME_STAND_IN = "fairing-trial-name-stand-in"
_JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
_KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
#: Katib's default primary pod of a Kubeflow job: the chief or master replica.
_KUBEFLOW_PRIMARY = {"training.kubeflow.org/job-role": "master"}


def placeholder(name: str) -> str:
    return "${trialParameters." + name + "}"


def parameter_spec(param: Param) -> dict:
    """One entry of ``spec.parameters``: double, int, discrete (numbers) or categorical."""
    space: dict = {}
    if param.kind == "choice":
        kind = "discrete" if param.value_type in ("int", "float") else "categorical"
        space["list"] = [param.text(c) for c in param.choices]
    else:
        kind = "int" if param.kind == "int" else "double"
        space["min"], space["max"] = format_number(param.low), format_number(param.high)
        if param.step is not None:
            space["step"] = format_number(param.step)
        if param.kind == "loguniform":
            space["distribution"] = "logUniform"  # Katib 0.18+; older Katib samples uniformly
    return {"name": param.name, "parameterType": kind, "feasibleSpace": space}


def trial_parameters(space: SearchSpace) -> list[dict]:
    params = [{"name": p.name, "reference": p.name,
               "description": f"sweep parameter {p.describe()}"} for p in space.params]
    params.append({"name": TRIAL_NAME_PARAMETER, "reference": "${trialSpec.Name}",
                   "description": "the trial's name: its run name and output folder"})
    return params


def trial_spec(options: SweepOptions, settings, *, experiment: str, image: str,
               capture_digest: str = "", namespace: str = "") -> dict:
    """The trial template (``spec.trialTemplate.trialSpec``), see the module docstring."""
    from fairing_magics.backends.kubernetes.plan import pod_templates, training_spec

    train = options.train
    env = dict(train.env)
    env.update({PARAM_ENV_PREFIX + p.name: placeholder(p.name) for p in options.space.params})
    spec = training_spec(replace(train, env=env), settings, name=_NAME_STAND_IN, image=image,
                         capture_digest=capture_digest, namespace=namespace)
    spec = _replace_text(spec, _NAME_STAND_IN, placeholder(TRIAL_NAME_PARAMETER))
    meta = spec["metadata"]
    meta.pop("name", None)
    meta.pop("namespace", None)
    meta["labels"][LABEL_SWEEP] = experiment
    for template in pod_templates(spec):
        template["metadata"]["labels"][LABEL_SWEEP] = experiment
        for container in template["spec"]["containers"]:
            container.setdefault("command", list(CMD))
    return spec


def render_experiment(options: SweepOptions, settings, *, name: str, image: str,
                      capture_digest: str = "", namespace: str = "") -> dict:
    """The Experiment of a sweep (see the module docstring)."""
    kind = (options.train.kind or "job").lower()
    template = trial_spec(options, settings, experiment=name, image=image,
                          capture_digest=capture_digest, namespace=namespace)
    objective: dict = {"type": options.goal, "objectiveMetricName": options.objective}
    if options.metrics:
        objective["additionalMetricNames"] = list(options.metrics)
    objective["metricStrategies"] = [{"name": options.objective,
                                      "value": "min" if options.goal == "minimize" else "max"}]
    trial_template: dict = {
        "primaryContainerName": CONTAINER_NAMES[kind],
        "retain": True,
        "successCondition": _JOB_SUCCESS if kind == "job" else _KUBEFLOW_SUCCESS,
        "failureCondition": _FAILURE,
        "trialParameters": trial_parameters(options.space),
        "trialSpec": template,
    }
    if kind != "job":
        trial_template["primaryPodLabels"] = dict(_KUBEFLOW_PRIMARY)
    spec: dict = {
        "objective": objective,
        "algorithm": {"algorithmName": ALGORITHM_NAMES[options.algorithm]},
    }
    if options.early_stopping:
        spec["earlyStopping"] = {"algorithmName": EARLY_STOPPING_NAMES[options.early_stopping]}
    total = options.planned_trials()
    spec.update({
        "parallelTrialCount": options.parallel,
        "maxTrialCount": total,
        "maxFailedTrialCount": min(options.max_failed, total),
        "parameters": [parameter_spec(p) for p in options.space.params],
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "resumePolicy": "Never",
        "trialTemplate": trial_template,
    })
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_RUN: name,
              LABEL_NAME: label_value(options.train.name), LABEL_KIND: KIND_SWEEP,
              LABEL_SWEEP: name}
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = labels
    if capture_digest:
        labels[LABEL_DIGEST] = label_value(capture_digest.split(":")[-1])
        metadata["annotations"] = {ANNOTATION_DIGEST: capture_digest}
    return {"apiVersion": EXPERIMENT.api_version, "kind": EXPERIMENT.kind, "metadata": metadata,
            "spec": spec}


def objective_of(trial: dict, objective: str, goal: str) -> float | None:
    """A Katib Trial's objective as Katib's own status code reads it (its metric strategy's
    value, or ``latest`` when that is unavailable); None when the trial has none."""
    for metric in ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []:
        if metric.get("name") != objective:
            continue
        for key in ("min" if goal == "minimize" else "max", "latest"):
            try:
                return float(metric.get(key))
            except (TypeError, ValueError):
                continue
    return None


def metrics_of(trial: dict) -> dict[str, float]:
    """The latest value of each metric a Katib Trial observed."""
    out = {}
    for metric in ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []:
        try:
            out[metric["name"]] = float(metric.get("latest"))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def assignments_of(trial: dict) -> dict[str, str]:
    return {a.get("name"): str(a.get("value")) for a in
            (trial.get("spec") or {}).get("parameterAssignments") or []}


def _replace_text(value, old: str, new: str):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    return copy.copy(value)
