"""Katib's admission of an Experiment: its mutating defaults and its validating webhook.

Katib's CRDs preserve unknown fields (``x-kubernetes-preserve-unknown-fields``), so an API server
accepts any Experiment; what Katib refuses lives in its webhook. This replays, rule by rule,
``pkg/webhook/v1beta1/experiment/validator/validator.go`` (``ValidateExperiment``) after the
defaults of ``pkg/apis/controller/experiments/v1beta1/experiment_defaults.go`` (``SetDefault``),
with the algorithm names of Katib's default ``katib-config`` (its suggestion and early-stopping
services). Messages carry the field path and the words of the Go code.

A trial template of kind ``batch/v1`` Job must also convert to a ``batchv1.Job`` without losing a
field (``validateTrialJob``): here the Kubernetes Job schema decides, as the Go decoder would.
"""

from __future__ import annotations

import json
import re
from functools import cache

from .corevalidation import Causes

#: Katib's default katib-config: the suggestion services and early-stopping services it runs.
SUGGESTION_ALGORITHMS = ("random", "tpe", "multivariate-tpe", "grid", "hyperband",
                         "bayesianoptimization", "cmaes", "sobol", "enas", "darts", "pbt")
EARLY_STOPPING_ALGORITHMS = ("medianstop",)
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete", "unknown")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal", "")
RESUME_POLICIES = ("", "Never", "LongRunning", "FromVolume")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Annotations", "Labels")
KUBEFLOW_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MXJob", "MPIJob", "PaddleJob")
JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
PARAM_FORMAT = re.compile(r"\$\{trialParameters\..+?\}")
META_FORMAT = re.compile(r"\$\{trialSpec\.(.+?)\}")
META_INDEX = re.compile(r"(.+)\[(.+)]")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?")  # Katib's: no end anchor


def set_defaults(obj: dict) -> None:
    """Katib's mutating webhook (``SetDefault``), in place."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelTrialCount", 3)
    spec.setdefault("resumePolicy", "Never")
    objective = spec.get("objective")
    if isinstance(objective, dict):
        strategies = objective.setdefault("metricStrategies", [])
        named = {s.get("name") for s in strategies}
        default = {"minimize": "min", "maximize": "max"}.get(objective.get("type"), "latest")
        for name in [objective.get("objectiveMetricName"),
                     *(objective.get("additionalMetricNames") or [])]:
            if name and name not in named:
                strategies.append({"name": name, "value": default})
    template = spec.get("trialTemplate")
    trial_spec = (template or {}).get("trialSpec") if isinstance(template, dict) else None
    if isinstance(trial_spec, dict):
        kind = trial_spec.get("kind")
        if kind == "Job":
            template.setdefault("successCondition", JOB_SUCCESS)
            template.setdefault("failureCondition", JOB_FAILURE)
        elif kind in KUBEFLOW_KINDS:
            template.setdefault("successCondition", KUBEFLOW_SUCCESS)
            template.setdefault("failureCondition", JOB_FAILURE)
            template.setdefault("primaryPodLabels", {"training.kubeflow.org/job-role": "master"})
    collector = spec.setdefault("metricsCollectorSpec", {})
    if isinstance(collector, dict):
        collector.setdefault("collector", {"kind": "StdOut"})


def experiment_causes(obj: dict) -> Causes:
    """``ValidateExperiment`` of a new Experiment (after :func:`set_defaults`)."""
    causes: Causes = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if not _NAME.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": name must consist of lower '
                                        "case alphanumeric characters or '-', start with an "
                                        "alphabetic character, and end with an alphanumeric "
                                        "character"))
    spec = obj.get("spec") or {}
    counts = {k: spec.get(k) for k in ("maxFailedTrialCount", "maxTrialCount",
                                        "parallelTrialCount")}
    if isinstance(counts["maxFailedTrialCount"], int) and counts["maxFailedTrialCount"] < 0:
        causes.append(("spec.maxFailedTrialCount", "Invalid value: should not be less than 0"))
    if isinstance(counts["maxTrialCount"], int) and counts["maxTrialCount"] <= 0:
        causes.append(("spec.maxTrialCount", "Invalid value: must be greater than 0"))
    if isinstance(counts["parallelTrialCount"], int) and counts["parallelTrialCount"] <= 0:
        causes.append(("spec.parallelTrialCount", "Invalid value: must be greater than 0"))
    high = counts["maxTrialCount"]
    if isinstance(high, int):
        for key in ("maxFailedTrialCount", "parallelTrialCount"):
            if isinstance(counts[key], int) and counts[key] > high:
                causes.append((f"spec.{key}", "Invalid value: should be less than or equal to "
                                              "spec.maxTrialCount"))
    objective = spec.get("objective")
    objective_causes = _objective(objective)
    if objective_causes:
        return causes + objective_causes  # Katib returns here
    causes += _algorithm(spec.get("algorithm"))
    early = spec.get("earlyStopping")
    if early is not None:
        algorithm = (early or {}).get("algorithmName") or ""
        if not algorithm:
            causes.append(("spec.earlyStopping.algorithmName", "Required value: must be specified"))
        elif algorithm not in EARLY_STOPPING_ALGORITHMS:
            causes.append(("spec.earlyStopping.algorithmName",
                           f'Invalid value: "{algorithm}": unable to get EarlyStopping config data '
                           f"for algorithm {algorithm}"))
    if spec.get("resumePolicy", "") not in RESUME_POLICIES:
        causes.append(("spec.resumePolicy", "Invalid value: invalid ResumePolicyType"))
    causes += _trial_template(spec)
    parameters = spec.get("parameters") or []
    if not parameters and not spec.get("nasConfig"):
        causes.append(("spec", "Required value: spec.parameters or spec.nasConfig must be "
                               "specified"))
    if parameters and spec.get("nasConfig"):
        causes.append(("spec", "Invalid value: only one of spec.parameters and spec.nasConfig "
                               "can be specified"))
    causes += _parameters(parameters)
    causes += _collector(spec.get("metricsCollectorSpec") or {})
    return causes


def _objective(objective) -> Causes:
    if not isinstance(objective, dict):
        return [("spec.objective", "Required value: must be specified")]
    causes: Causes = []
    if objective.get("type") not in ("minimize", "maximize"):
        causes.append(("spec.objective.type", f'Invalid value: "{objective.get("type")}": must '
                                              "be minimize or maximize"))
    metric = objective.get("objectiveMetricName") or ""
    if not metric:
        causes.append(("spec.objective.objectiveMetricName", "Required value: must be specified"))
    if metric and metric in (objective.get("additionalMetricNames") or []):
        causes.append(("spec.objective.additionalMetricNames", "Invalid value: should not "
                                                               "contain spec.objective."
                                                               "objectiveMetricName"))
    return causes


def _algorithm(algorithm) -> Causes:
    if not isinstance(algorithm, dict):
        return [("spec.algorithm", "Required value: must be specified")]
    name = algorithm.get("algorithmName") or ""
    if not name:
        return [("spec.algorithm.algorithmName", "Required value: must be specified")]
    if name not in SUGGESTION_ALGORITHMS:
        return [("spec.algorithm.algorithmName", f'Invalid value: "{name}": unable to get '
                                                 f"Suggestion config data for algorithm {name}")]
    return []


def _parameters(parameters: list) -> Causes:
    causes: Causes = []
    for i, param in enumerate(parameters):
        where = f"spec.parameters[{i}]"
        kind = param.get("parameterType", "")
        if kind not in PARAMETER_TYPES:
            causes.append((f"{where}.parameterType", f'Invalid value: "{kind}": parameterType: '
                                                     f"{kind} is not supported"))
        space = param.get("feasibleSpace") or {}
        if space.get("distribution", "") not in DISTRIBUTIONS:
            causes.append((f"{where}.feasibleSpace.distribution",
                           f"Invalid value: distribution: {space['distribution']} "
                           "is not supported"))
        if not space:
            causes.append((f"{where}.feasibleSpace", "Required value: feasibleSpace must be "
                                                     "specified"))
        elif kind in ("double", "int"):
            if space.get("list"):
                causes.append((f"{where}.feasibleSpace.list", "Invalid value: feasibleSpace.list "
                                                              "is not supported for "
                                                              f"parameterType: {kind}"))
            if not space.get("max") or not space.get("min"):
                causes.append((f"{where}.feasibleSpace.max", "Required value: feasibleSpace.max "
                                                             "or feasibleSpace.min must be "
                                                             "specified for parameterType: "
                                                             f"{kind}"))
        elif kind in ("categorical", "discrete"):
            if space.get("max") or space.get("min") or space.get("step"):
                causes.append((f"{where}.feasibleSpace", "Invalid value: feasibleSpace .max, .min "
                                                         "and .step is not supported for "
                                                         f"parameterType: {kind}"))
        for key in ("min", "max", "step"):  # FeasibleSpace's fields are strings in Go
            if key in space and not isinstance(space[key], str):
                causes.append((f"{where}.feasibleSpace.{key}", "Invalid value: cannot unmarshal "
                                                               "into Go value of type string"))
    return causes


def _is_meta_key(reference: str) -> bool:
    match = META_FORMAT.search(reference)
    if not match:
        return False
    key = match.group(1)
    if key in META_KEYS:
        return True
    sub = META_INDEX.fullmatch(key)
    return bool(sub) and sub.group(1) in META_KEYS


def _trial_template(spec: dict) -> Causes:
    template = spec.get("trialTemplate")
    path = "spec.trialTemplate"
    if not isinstance(template, dict):
        return [(path, "Required value: must be specified")]
    causes: Causes = []
    if not template.get("primaryContainerName"):
        causes.append((f"{path}.primaryContainerName", "Required value: must be specified"))
    if not template.get("successCondition") or not template.get("failureCondition"):
        causes.append((path, "Required value: successCondition and failureCondition must be "
                             "specified"))
    params = template.get("trialParameters")
    if params is None:
        return causes + [(f"{path}.trialParameters", "Required value: must be specified")]
    trial_spec, config_map = template.get("trialSpec"), template.get("configMap")
    if trial_spec is None and config_map is None:
        return causes + [(f"{path}.TrialSource", "Required value: spec.trialTemplate.trialSpec "
                                                 "or spec.trialTemplate.configMap "
                                                 "must be specified")]
    if trial_spec is not None and config_map is not None:
        return causes + [(path, "Required value: only one of spec.trialTemplate.trialSpec or "
                                "spec.trialTemplate.configMap can be specified")]
    if trial_spec is None:
        return causes  # a ConfigMap's template is read at run time
    text = json.dumps(trial_spec)
    names = {p.get("name") for p in spec.get("parameters") or []}
    seen_names, seen_refs = set(), set()
    for i, param in enumerate(params):
        where = f"{path}.trialParameters[{i}]"
        name, ref = param.get("name") or "", param.get("reference") or ""
        if not name or not ref or "{" in name or "}" in name:
            causes.append((where, "Invalid value: name and reference must be specified and name "
                                  "must not contain '{' or '}'"))
            continue
        if name in seen_names:
            causes.append((f"{where}.name", f'Invalid value: "{name}": parameter name {name} '
                                            "can't be duplicated"))
            continue
        if ref in seen_refs:
            causes.append((f"{where}.reference", f'Invalid value: "{ref}": parameter reference '
                                                 f"{ref} can't be duplicated"))
            continue
        seen_names.add(name)
        seen_refs.add(ref)
        if names and not _is_meta_key(ref) and ref not in names:
            causes.append((f"{where}.reference", f'Invalid value: "{ref}": parameter reference '
                                                 f"{ref} does not exist in spec.parameters"))
        token = "${trialParameters." + name + "}"
        if token not in text:
            return causes + [(f"{where}.name", f'Invalid value: "{name}": parameter name: {name} '
                                               "in spec.trialParameters not found in "
                                               "spec.trialTemplate")]
        text = text.replace(token, "test-value")
    left = PARAM_FORMAT.findall(text)
    if left:
        causes.append((path, f"Invalid value: parameters: {left} in spec.trialTemplate not found "
                             "in spec.trialParameters"))
    run_spec = json.loads(text)
    meta = run_spec.get("metadata") or {}
    if meta.get("name") or meta.get("namespace"):
        causes.append((path, "Invalid value: metadata.name and metadata.namespace in "
                             "spec.trialTemplate must be omitted"))
    if not run_spec.get("apiVersion") or not run_spec.get("kind"):
        causes.append((path, "Required value: APIVersion and Kind in spec.trialTemplate must be "
                             "specified"))
    if run_spec.get("apiVersion") == "batch/v1" and run_spec.get("kind") == "Job":
        causes += _job_converts(run_spec, path)
    return causes


def _job_converts(run_spec: dict, path: str) -> Causes:
    """``validateTrialJob``: the template converts to a batchv1.Job without losing a field
    (resources excepted, as Katib excepts them)."""
    admission = _job_schema().admit({**run_spec, "metadata": {**(run_spec.get("metadata") or {}),
                                                         "name": "trial-check"}})
    lost = [p for p in admission.unknown if "/resources/" not in p and ".resources." not in p]
    if lost:
        return [(path, f"Invalid value: invalid spec.trialTemplate: unable to convert: {lost[0]} "
                       "to Job")]
    return []


@cache
def _job_schema():
    from .apischema import BuiltinSchema
    from .schemas import releases

    return BuiltinSchema(releases("kubernetes")[-1], "batch/v1", "Job")


def _collector(collector: dict) -> Causes:
    kind = (collector.get("collector") or {}).get("kind", "")
    causes: Causes = []
    if kind not in COLLECTORS:
        causes.append(("spec.metricsCollectorSpec.collector.kind",
                       f'Invalid value: "{kind}": invalid metrics collector kind: {kind}'))
    for fmt in ((collector.get("source") or {}).get("filter") or {}).get("metricsFormat") or []:
        try:
            compiled = re.compile(fmt)
        except re.error as exc:
            causes.append(("spec.metricsCollectorSpec.source.filter.metricsFormat",
                           f"Invalid value: invalid filter: {exc}"))
            continue
        if compiled.groups < 2:
            causes.append(("spec.metricsCollectorSpec.source.filter.metricsFormat",
                           "Invalid value: two top subexpressions are required"))
    return causes
