"""What the controllers' validating webhooks refuse, for the custom resources we create.

- Kubeflow training-operator (``pkg/webhooks/{tensorflow,pytorch}``): replica types are the
  framework's (TFJob: Chief, Master, Worker, PS, Evaluator; PyTorchJob: Master, Worker), a
  PyTorchJob has at most one Master, every replica's pod template has the container the operator
  looks for (``tensorflow``, ``pytorch``); the pods it creates from those templates must be valid
  pods (:func:`.corevalidation.pod_template_causes`).
- KServe (``pkg/apis/serving/v1beta1/inference_service_validation.go``): a predictor has exactly
  one implementation (``model``, ``containers`` or a framework field); its containers become a
  Deployment's, so they must be valid containers; ``minReplicas`` is not negative and not above
  ``maxReplicas``.
- Kubeflow Trainer (``pkg/runtime/framework/plugins/torch``): ``trainer.env`` does not set the
  variables the torch runtime sets itself.
- Katib (``pkg/webhook/v1beta1/experiment/validator``): an Experiment, after Katib's defaults
  (:mod:`.katib`); its CRD keeps unknown fields, so this webhook is all its validation.
"""

from __future__ import annotations

from .corevalidation import Causes, container_causes, pod_template_causes

_REPLICAS = {"TFJob": ("tfReplicaSpecs", ("Chief", "Master", "Worker", "PS", "Evaluator"),
                       "tensorflow"),
             "PyTorchJob": ("pytorchReplicaSpecs", ("Master", "Worker"), "pytorch")}
_FRAMEWORKS = ("model", "containers", "sklearn", "xgboost", "tensorflow", "pytorch", "triton",
               "onnx", "pmml", "lightgbm", "paddle", "huggingface")
_TORCH_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR",
              "PET_MASTER_PORT")


def webhook_causes(kind: str, obj: dict) -> Causes:
    spec = obj.get("spec") or {}
    if kind == "Experiment" and obj.get("apiVersion", "").startswith("kubeflow.org/"):
        from .katib import experiment_causes

        return experiment_causes(obj)
    if kind in _REPLICAS:
        return _training_operator(kind, spec)
    if kind == "InferenceService":
        return _kserve(spec.get("predictor") or {})
    if kind == "TrainJob":
        env = ((spec.get("trainer") or {}).get("env")) or []
        return [(f"spec.trainer.env[{i}].name", f"Invalid value: \"{e.get('name')}\": the torch "
                                                "runtime sets it itself")
                for i, e in enumerate(env) if e.get("name") in _TORCH_ENV]
    return []


def _training_operator(kind: str, spec: dict) -> Causes:
    field, allowed, container = _REPLICAS[kind]
    replicas = spec.get(field)
    if not isinstance(replicas, dict) or not replicas:
        return [(f"spec.{field}", "Required value")]
    causes: Causes = []
    for rtype, rspec in replicas.items():
        where = f"spec.{field}[{rtype}]"
        if rtype not in allowed:
            causes.append((where, f"Unsupported value: \"{rtype}\": supported values: "
                                  + ", ".join(f'"{a}"' for a in allowed)))
            continue
        template = (rspec or {}).get("template") or {}
        if not any(c.get("name") == container
                   for c in (template.get("spec") or {}).get("containers") or []):
            causes.append((f"{where}.template.spec.containers",
                           f"Required value: There is no container named {container} in {rtype}"))
        if kind == "PyTorchJob" and rtype == "Master" and (rspec or {}).get("replicas", 1) != 1:
            causes.append((f"{where}.replicas", "Invalid value: There must be only 1 master "
                                                "replica"))
        causes += pod_template_causes(template, f"{where}.template")
    return causes


def _kserve(predictor: dict) -> Causes:
    causes: Causes = []
    used = [f for f in _FRAMEWORKS if predictor.get(f)]
    if len(used) != 1:
        causes.append(("spec.predictor", f"Invalid value: exactly one of {', '.join(_FRAMEWORKS)} "
                                         f"must be specified (got {', '.join(used) or 'none'})"))
    volumes = {v.get("name") for v in predictor.get("volumes") or []}
    names: set = set()
    for i, container in enumerate(predictor.get("containers") or []):
        causes += container_causes(container, f"spec.predictor.containers[{i}]", volumes)
        if (container or {}).get("name") in names:
            causes.append((f"spec.predictor.containers[{i}].name",
                           f"Duplicate value: \"{container.get('name')}\""))
        names.add((container or {}).get("name"))
    model = predictor.get("model")
    if isinstance(model, dict):
        causes += container_causes({"name": "kserve-container", **model},
                                   "spec.predictor.model", volumes)
    low, high = predictor.get("minReplicas"), predictor.get("maxReplicas")
    if isinstance(low, int) and low < 0:
        causes.append(("spec.predictor.minReplicas", "Invalid value: must be >= 0"))
    if isinstance(low, int) and isinstance(high, int) and high and low > high:
        causes.append(("spec.predictor.minReplicas", "Invalid value: must not be greater than "
                                                     "maxReplicas"))
    return causes
