"""The TrainJob CRD of each released Kubeflow Trainer, from the upstream schemas in
``shared/conformance-schemas``, so the emulator prunes and validates as that release's API
server would (``install_trainjob_crd(emulator, "podSpecOverrides")`` or ``..., "v2.1.0")``).

The pod-settings field names a release: ``podSpecOverrides`` is v2.0.1, ``podTemplateOverrides``
v2.1.0, ``runtimePatches`` v2.3.0 (v2.2.1 has it too). ``""`` is a Trainer with none of the three
(v2.0.1's CRD without ``podSpecOverrides``: no release, the case fairing-magics must refuse).
``None`` puts back the emulator's default (the newest release).
"""

from __future__ import annotations

import copy

from .fieldvalidation import default_crd
from .resources import crd_object as open_crd_object
from .resources import type_of_crd
from .schemas import crd_object, release

TRAINJOB_CRD = "trainjobs.trainer.kubeflow.org"
FIELDS = ("podSpecOverrides", "podTemplateOverrides", "runtimePatches", "")
RELEASE_OF_FIELD = {"podSpecOverrides": "v2.0.1", "podTemplateOverrides": "v2.1.0",
                    "runtimePatches": "v2.3.0", "": "v2.0.1"}


def trainjob_crd(which: str) -> dict:
    """The TrainJob CRD of a Trainer release (``v2.1.0``) or pod-settings field (see above)."""
    name = RELEASE_OF_FIELD.get(which, which)
    crd = copy.deepcopy(crd_object(release("trainer", name, crd=TRAINJOB_CRD)))
    if which == "":
        for version in crd["spec"]["versions"]:
            spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
            spec["properties"].pop("podSpecOverrides", None)
        crd["metadata"]["annotations"]["fairing.dev/schema-source"] += \
            " without spec.podSpecOverrides"
    return crd


def install_trainjob_crd(emulator, which: str | None) -> None:
    """Replace the emulator's TrainJob CRD by the one of ``which`` (see the module docstring)."""
    from .store import CRD_TYPE

    store = emulator.store
    if which is None:
        body = default_crd(TRAINJOB_CRD) or open_crd_object(type_of_crd(TRAINJOB_CRD))
    else:
        body = trainjob_crd(which)
    old = store.find(CRD_TYPE, "", TRAINJOB_CRD)
    if old is None:
        store.create(CRD_TYPE, "", body)
    else:
        store.mutate(CRD_TYPE, "", TRAINJOB_CRD,
                     lambda crd: crd.update(spec=body["spec"], metadata={
                         **crd["metadata"],
                         "annotations": body["metadata"].get("annotations", {})}))
