"""TrainJob CRDs of released Kubeflow Trainers, with structural schemas, so the emulator prunes
what each one does not know (``install_trainjob_crd(emulator, "podSpecOverrides")``).

Shapes of ``spec`` (kubeflow/trainer ``pkg/apis/trainer/v1alpha1/trainjob_types.go``):

- v2.0 (Kubeflow 1.10): ``labels``, ``annotations``, ``podSpecOverrides[]``: ``targetJobs[].name``
  and, flat, ``serviceAccountName``, ``nodeSelector``, ``affinity``, ``tolerations``,
  ``volumes``, ``initContainers``/``containers`` (``name``, ``env``, ``volumeMounts``),
  ``schedulingGates``, ``imagePullSecrets``.
- v2.1: ``labels``, ``annotations``, ``podTemplateOverrides[]``: ``targetJobs[].name``,
  ``metadata`` (labels, annotations), ``spec`` with the fields above.
- v2.2+: ``runtimePatches[]``: ``manager``, ``trainingRuntimeSpec.template`` (JobSet
  ``metadata``, ``spec.replicatedJobs[].name/template.spec.template`` with pod ``metadata`` and
  a PodSpecPatch of the same fields plus ``securityContext``).

Core types (Volume, Toleration, Affinity ...) are left open (``x-kubernetes-preserve-unknown-
fields``): the point is which TrainJob fields exist, not a copy of the core API's schema.
"""

from __future__ import annotations

from .resources import crd_object, type_of_crd

TRAINJOB_CRD = "trainjobs.trainer.kubeflow.org"
FIELDS = ("podSpecOverrides", "podTemplateOverrides", "runtimePatches", "")

_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_STR = {"type": "string"}
_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_LIST = {"type": "array", "items": _OPEN}
_META = {"type": "object", "properties": {"labels": _MAP, "annotations": _MAP}}
_CONTAINER = {"type": "array", "items": {"type": "object", "properties": {
    "name": _STR, "env": _LIST, "volumeMounts": _LIST}}}
_POD_FIELDS = {"serviceAccountName": _STR, "nodeSelector": _MAP, "affinity": _OPEN,
               "tolerations": _LIST, "volumes": _LIST, "initContainers": _CONTAINER,
               "containers": _CONTAINER, "schedulingGates": _LIST, "imagePullSecrets": _LIST}
_TARGETS = {"type": "array", "items": {"type": "object", "properties": {"name": _STR}}}


def _obj(**props) -> dict:
    return {"type": "object", "properties": props}


def trainjob_spec_schema(field: str) -> dict:
    """The ``spec`` schema of a Trainer whose pod settings field is ``field`` (``""``: none)."""
    spec = {"runtimeRef": _obj(name=_STR, apiGroup=_STR, kind=_STR),
            "initializer": _OPEN, "trainer": _OPEN, "suspend": {"type": "boolean"},
            "managedBy": _STR}
    if field in ("podSpecOverrides", "podTemplateOverrides", ""):
        spec.update(labels=_MAP, annotations=_MAP)
    if field == "podSpecOverrides":
        spec[field] = {"type": "array", "items": _obj(targetJobs=_TARGETS, **_POD_FIELDS)}
    elif field == "podTemplateOverrides":
        spec[field] = {"type": "array", "items": _obj(targetJobs=_TARGETS, metadata=_META,
                                                      spec=_obj(**_POD_FIELDS))}
    elif field == "runtimePatches":
        pod = _obj(metadata=_META, spec=_obj(securityContext=_OPEN, **_POD_FIELDS))
        job = _obj(name=_STR, template=_obj(metadata=_META, spec=_obj(template=pod)))
        jobset = _obj(metadata=_META, spec=_obj(replicatedJobs={"type": "array", "items": job}))
        spec[field] = {"type": "array", "items": _obj(
            manager=_STR, time=_STR, trainingRuntimeSpec=_obj(template=jobset))}
        spec["activeDeadlineSeconds"] = {"type": "integer"}
    elif field:
        raise ValueError(f"unknown TrainJob field {field!r}; known: {FIELDS}")
    return _obj(spec=_obj(**spec), status=_OPEN)


def trainjob_crd(field: str) -> dict:
    """The TrainJob CRD of the Trainer with ``field`` (see the module docstring)."""
    crd = crd_object(type_of_crd(TRAINJOB_CRD))
    crd["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": trainjob_spec_schema(field)}
    return crd


def install_trainjob_crd(emulator, field: str) -> None:
    """Replace the emulator's TrainJob CRD by the one of the Trainer with ``field``;
    ``install_trainjob_crd(emulator, None)`` puts back the open default."""
    from .pruning import CRD

    store = emulator.store
    body = crd_object(type_of_crd(TRAINJOB_CRD)) if field is None else trainjob_crd(field)
    old = store.find(CRD, "", TRAINJOB_CRD)
    if old is None:
        store.create(CRD, "", body)
    else:
        store.mutate(CRD, "", TRAINJOB_CRD, lambda crd: crd.update(spec=body["spec"]))
