"""Which TrainJob API does this cluster's Kubeflow Trainer have? (for the pod-level settings)

Released Trainers take a TrainJob's pod settings in different fields (see
:mod:`fairing_magics.kube.trainjob`): ``runtimePatches`` (v2.2+), ``podTemplateOverrides``
(v2.1), ``podSpecOverrides`` (v2.0). The API server prunes a field its CRD's structural schema
does not know, silently, so the answer must come from the CRD: :func:`detect_trainjob_api` reads
``customresourcedefinitions/trainjobs.trainer.kubeflow.org`` (``apiextensions.k8s.io/v1``) and
looks at
``spec.versions[v1alpha1].schema.openAPIV3Schema.properties.spec.properties``
(:func:`pod_settings_field_of_crd`, pure). The answer is kept per cluster and context for the
life of the kernel.

Notebook users often may not read CRDs (403). Then the newest field is assumed and
:func:`assumed_api_notice` says which settings an older Trainer would drop. A CRD with none of
the three fields (a Trainer we do not know) makes :func:`require_pod_settings_field` refuse a
run that has pod settings, before anything is built.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import CUSTOM_RESOURCE_DEFINITION, TRAINJOB
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.trainjob import (
    POD_SETTINGS_FIELDS,
    POD_SPEC_OVERRIDES,
    RUNTIME_PATCHES,
    TRAINER_RELEASES,
)

TRAINJOB_CRD = TRAINJOB.qualified  # trainjobs.trainer.kubeflow.org


@dataclass(frozen=True)
class TrainJobApi:
    """The field a cluster's TrainJob takes pod settings in (``""``: none of ours), whether it
    was read from the CRD (``detected``) or assumed, and why."""

    field: str
    detected: bool
    why: str

    def describe(self) -> str:
        """One line for ``--dry-run``."""
        if self.detected:
            what = (f"spec.{self.field} ({TRAINER_RELEASES[self.field]})" if self.field
                    else "none of " + ", ".join(f"spec.{f}" for f in POD_SETTINGS_FIELDS))
            return f"TrainJob pod settings: {what}, detected: {self.why}"
        return (f"TrainJob pod settings: spec.{self.field} ({TRAINER_RELEASES[self.field]}), "
                f"assumed: {self.why}")


def pod_settings_field_of_crd(crd: dict, version: str = TRAINJOB.version) -> str | None:
    """The newest of :data:`POD_SETTINGS_FIELDS` the CRD's ``version`` schema has under
    ``spec``; ``""`` when it has none; None when the schema does not say (no such version, or
    ``spec`` keeps unknown fields, so nothing is pruned and the newest field is safe)."""
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") != version:
            continue
        root = ((entry.get("schema") or {}).get("openAPIV3Schema") or {})
        spec = (root.get("properties") or {}).get("spec")
        if spec is None:
            return None if root.get("x-kubernetes-preserve-unknown-fields") else ""
        if spec.get("x-kubernetes-preserve-unknown-fields"):
            return None
        known = spec.get("properties") or {}
        return next((f for f in POD_SETTINGS_FIELDS if f in known), "")
    return None


_lock = threading.Lock()
_known: dict[tuple[str, str], TrainJobApi] = {}


def _cache_key(context: str) -> tuple[str, str]:
    return (os.environ.get("KUBECONFIG", ""), context or "")


def known_trainjob_api(context: str = "") -> TrainJobApi | None:
    """What this kernel already found for ``context`` (the one the user asked for, ``""`` for
    the current one); no request."""
    with _lock:
        return _known.get(_cache_key(context))


def dry_run_trainjob_api(context: str = "") -> TrainJobApi:
    """What ``--dry-run`` renders with: this kernel's answer for ``context``, else the newest
    field (a dry run sends no request)."""
    return known_trainjob_api(context) or TrainJobApi(
        RUNTIME_PATCHES, False, "--dry-run sends no request and this kernel has not checked "
                                "the cluster's TrainJob CRD yet (a real run does)")


def forget_trainjob_apis() -> None:
    """Forget every cluster's answer (tests; a Trainer upgraded under a running kernel)."""
    with _lock:
        _known.clear()


def detect_trainjob_api(access: ClusterAccess, context: str = "") -> TrainJobApi:
    """The cluster's TrainJob API, from its CRD (once per kernel and ``context``)."""
    cached = known_trainjob_api(context)
    if cached is not None:
        return cached
    answer = _read_crd(access)
    if answer.detected or answer.why.startswith("cannot read"):
        with _lock:
            _known[_cache_key(context)] = answer
    return answer


def _read_crd(access: ClusterAccess) -> TrainJobApi:
    newest = f"the newest Trainer API, spec.{RUNTIME_PATCHES}"
    try:
        crd = ClusterClient(access).get(CUSTOM_RESOURCE_DEFINITION, TRAINJOB_CRD)
    except ClusterError as e:
        if e.status in (401, 403):
            return TrainJobApi(RUNTIME_PATCHES, False,
                               f"cannot read the TrainJob CRD (customresourcedefinitions/"
                               f"{TRAINJOB_CRD}: {e.status} {e.reason or 'Forbidden'}), so "
                               f"{newest}")
        if e.status is not None:
            return TrainJobApi(RUNTIME_PATCHES, False, f"the TrainJob CRD could not be read "
                                                       f"({e.status} {e.reason}), so {newest}")
        return TrainJobApi(RUNTIME_PATCHES, False,
                           f"the TrainJob CRD could not be read ({e}), so {newest}")
    except ValueError as e:  # an answer that is not JSON
        return TrainJobApi(RUNTIME_PATCHES, False,
                           f"the TrainJob CRD could not be read ({e}), so {newest}")
    field = pod_settings_field_of_crd(crd)
    if field is None:
        return TrainJobApi(RUNTIME_PATCHES, True, f"the CRD {TRAINJOB_CRD} keeps unknown spec "
                                                  "fields, so the newest field is used")
    if not field:
        return TrainJobApi("", True, f"the CRD {TRAINJOB_CRD} has none of "
                                     + ", ".join(f"spec.{f}" for f in POD_SETTINGS_FIELDS))
    return TrainJobApi(field, True, f"the CRD {TRAINJOB_CRD} has spec.{field}")


def require_pod_settings_field(api: TrainJobApi, settings: list[str]) -> None:
    """Refuse a run with pod ``settings`` on a Trainer that has nowhere to put them."""
    if api.field or not settings:
        return
    raise ConfigError(
        f"this cluster's Kubeflow Trainer cannot take pod settings ({api.why}), so "
        f"{', '.join(settings)} would be dropped silently: upgrade Kubeflow Trainer to v2.0 or "
        "newer, or put these settings into the (Cluster)TrainingRuntime you run with "
        "--runtime-ref, and run without them")


def assumed_api_notice(api: TrainJobApi, settings: list[str]) -> str:
    """The one notice for a run whose pod ``settings`` go in an assumed field ("" if none)."""
    if api.detected or not settings:
        return ""
    return (f"{api.why.split(', so ')[0]} to check which TrainJob API this Trainer has; "
            f"sent them in spec.{api.field} ({TRAINER_RELEASES[api.field]}). If your Trainer "
            f"is older (v2.1: podTemplateOverrides, v2.0: podSpecOverrides), these settings are "
            f"dropped: {', '.join(settings)}. Ask an admin for 'get' on "
            f"customresourcedefinitions/{TRAINJOB_CRD}, or check with kubectl get crd "
            f"{TRAINJOB_CRD} -o yaml")


def pod_metadata_notice(api: TrainJobApi, istio_inject: bool) -> str:
    """The notice for a Trainer that cannot annotate the pods ("" when it can, or Istio is wanted).

    ``spec.podSpecOverrides`` (v2.0) and a Trainer with no pod-settings field have no place for
    pod metadata, so the pods lack ``sidecar.istio.io/inject: "false"``: with Istio injection on
    in the namespace (Kubeflow profiles have it), a sidecar keeps each pod running after the cell
    has finished."""
    if istio_inject or api.field not in (POD_SPEC_OVERRIDES, ""):
        return ""
    where = f"spec.{api.field}" if api.field else "no pod-settings field"
    return (f"this Kubeflow Trainer ({where}) cannot annotate the pods, so they lack "
            "sidecar.istio.io/inject: \"false\": if the namespace has Istio injection (Kubeflow "
            "profiles do), the sidecar keeps the pods running after the cell ends. Put the "
            "annotation in the (Cluster)TrainingRuntime's pod template, run in a namespace without "
            "injection, or upgrade Kubeflow Trainer")

