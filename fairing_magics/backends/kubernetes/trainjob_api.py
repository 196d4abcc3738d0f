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

What older Trainers lack beyond that field is made up for, never dropped silently:
``spec.activeDeadlineSeconds`` (v2.2+; :func:`deadline_notice`: the backend deletes the
TrainJob at the deadline) and v2.0's ``imagePullSecrets`` (:func:`pull_secret_carrier`: the
pods' service account carries them, or the run is refused saying what to do).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import (
    CUSTOM_RESOURCE_DEFINITION,
    SERVICE_ACCOUNT,
    TRAINJOB,
)
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
    has ``spec.activeDeadlineSeconds`` (``deadline``, Trainer v2.2+), whether this was read from
    the CRD (``detected``) or assumed, and why."""

    field: str
    detected: bool
    why: str
    deadline: bool = True

    def describe(self) -> str:
        """One line for ``--dry-run``."""
        deadline = ("" if self.deadline else "; no spec.activeDeadlineSeconds (--timeout is "
                                             "enforced by this kernel, which deletes the TrainJob)")
        if self.detected:
            what = (f"spec.{self.field} ({TRAINER_RELEASES[self.field]})" if self.field
                    else "none of " + ", ".join(f"spec.{f}" for f in POD_SETTINGS_FIELDS))
            return f"TrainJob pod settings: {what}, detected: {self.why}{deadline}"
        return (f"TrainJob pod settings: spec.{self.field} ({TRAINER_RELEASES[self.field]}), "
                f"assumed: {self.why}{deadline}")


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


def active_deadline_of_crd(crd: dict, version: str = TRAINJOB.version) -> bool:
    """Whether the CRD's TrainJob has ``spec.activeDeadlineSeconds`` (Trainer v2.2+); True when
    the schema does not say (nothing would be pruned)."""
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") != version:
            continue
        root = ((entry.get("schema") or {}).get("openAPIV3Schema") or {})
        spec = (root.get("properties") or {}).get("spec")
        if spec is None:
            return bool(root.get("x-kubernetes-preserve-unknown-fields"))
        if spec.get("x-kubernetes-preserve-unknown-fields"):
            return True
        return "activeDeadlineSeconds" in (spec.get("properties") or {})
    return True


def trainjob_api_of_crd(crd: dict) -> TrainJobApi:
    """What a TrainJob CRD object says (pure): where pod settings go, and the deadline field."""
    field = pod_settings_field_of_crd(crd)
    deadline = active_deadline_of_crd(crd)
    if field is None:
        return TrainJobApi(RUNTIME_PATCHES, True, f"the CRD {TRAINJOB_CRD} keeps unknown spec "
                                                  "fields, so the newest field is used", deadline)
    if not field:
        return TrainJobApi("", True, f"the CRD {TRAINJOB_CRD} has none of "
                                     + ", ".join(f"spec.{f}" for f in POD_SETTINGS_FIELDS),
                           deadline)
    return TrainJobApi(field, True, f"the CRD {TRAINJOB_CRD} has spec.{field}", deadline)


_lock = threading.Lock()
_known: dict[tuple[str, str], TrainJobApi] = {}


def _cache_key(context: str) -> tuple[str, str]:
    return (os.environ.get("KUBECONFIG", ""), context or "")


def known_trainjob_api(context: str = "") -> TrainJobApi | None:
    """What this kernel already found for ``context`` (the one the user asked for, ``""`` for
    the current one); no request."""
    with _lock:
        return _known.get(_cache_key(context))


def dry_run_trainjob_api(context: str = "", access=None) -> TrainJobApi:
    """What ``--dry-run`` renders with, so that it shows what the real run sends: this kernel's
    answer for ``context``, else the CRD read through ``access`` (a read, nothing is changed),
    else, with no cluster access, the newest field, said to be assumed."""
    known = known_trainjob_api(context)
    if known is not None:
        return known
    if access is None:
        return TrainJobApi(RUNTIME_PATCHES, False, "--dry-run found no cluster access to read "
                                                   "the TrainJob CRD (a real run reads it)")
    return detect_trainjob_api(access, context)


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
    return trainjob_api_of_crd(crd)


def require_pod_settings_field(api: TrainJobApi, settings: list[str]) -> None:
    """Refuse a run with pod ``settings`` on a Trainer that has nowhere to put them."""
    if api.field or not settings:
        return
    raise ConfigError(
        f"this cluster's Kubeflow Trainer cannot take pod settings ({api.why}), so "
        f"{', '.join(settings)} would be dropped silently: upgrade Kubeflow Trainer to v2.0 or "
        "newer, or put these settings into the (Cluster)TrainingRuntime you run with "
        "--runtime-ref, and run without them")


def assumed_api_notice(api: TrainJobApi, settings: list[str], timeout: int | None = None) -> str:
    """The one notice for a run whose pod ``settings`` (or ``--timeout``) go in an assumed
    field ("" if none)."""
    if api.detected or not (settings or timeout is not None):
        return ""
    check = (f" Ask an admin for 'get' on customresourcedefinitions/{TRAINJOB_CRD}, or check "
             f"with kubectl get crd {TRAINJOB_CRD} -o yaml")
    deadline = (f" --timeout {timeout} s is also enforced by this kernel (it deletes the TrainJob "
                "at the deadline), in case this Trainer is older than v2.2 and has no "
                "spec.activeDeadlineSeconds." if timeout is not None else "")
    why = api.why.split(", so ")[0]
    if not settings:
        return f"{why} to check which TrainJob API this Trainer has.{deadline}{check}"
    return (f"{why} to check which TrainJob API this Trainer has; "
            f"sent them in spec.{api.field} ({TRAINER_RELEASES[api.field]}). If your Trainer "
            f"is older (v2.1: podTemplateOverrides, v2.0: podSpecOverrides), these settings are "
            f"dropped: {', '.join(settings)}.{deadline}{check}")


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


def kernel_enforces_deadline(api: TrainJobApi, timeout: int | None) -> bool:
    """Whether this kernel must stop the run at ``--timeout``: the Trainer has no
    ``spec.activeDeadlineSeconds``, or we could not check that it has."""
    return timeout is not None and not (api.deadline and api.detected)


def deadline_notice(api: TrainJobApi, timeout: int | None) -> str:
    """The submit's notice when this kernel, not the Trainer, enforces ``--timeout`` (an assumed
    API says so in :func:`assumed_api_notice`)."""
    if timeout is None or api.deadline or not api.detected:
        return ""
    return (f"this Kubeflow Trainer's TrainJob has no spec.activeDeadlineSeconds (it came with "
            f"v2.2): this kernel deletes the TrainJob when --timeout {timeout} s have passed and "
            "the cell fails then; keep the kernel running until the run ends (with --no-wait too)")


def pull_secret_carrier(access: ClusterAccess, api: TrainJobApi, namespace: str,
                        service_account: str, secrets: tuple[str, ...]) -> str:
    """On a Trainer whose TrainJob cannot carry ``imagePullSecrets`` (v2.0's podSpecOverrides),
    the pods can still get them from their service account (Kubernetes adds a service account's
    ``imagePullSecrets`` to each of its pods). Returns the notice saying so when the account
    ``service_account`` (``default`` when empty) has every secret of ``secrets``; "" when
    nothing needs carrying; raises ConfigError saying what to do otherwise."""
    if not secrets or api.field != POD_SPEC_OVERRIDES:
        return ""
    account = service_account or "default"
    names = ", ".join(secrets)
    patch = ",".join(f'{{"name":"{s}"}}' for s in secrets)
    fix = (f"Kubeflow Trainer v2.0's TrainJob has no field for imagePullSecrets "
           f"(spec.podSpecOverrides), so --image-pull-secret {names} cannot be sent with the run. "
           f"Attach the secret to the service account the pods run as (kubectl -n {namespace} "
           f"patch serviceaccount {account} -p '{{\"imagePullSecrets\":[{patch}]}}'): Kubernetes "
           "then adds it to every pod of that account; or put it in the "
           "(Cluster)TrainingRuntime's pod template, or upgrade Kubeflow Trainer to v2.1 or newer")
    try:
        sa = ClusterClient(access).get(SERVICE_ACCOUNT, account, namespace=namespace,
                                       missing_ok=True)
    except ClusterError as e:
        raise ConfigError(f"service account {namespace}/{account} cannot be read ({e}). "
                          f"{fix}") from e
    if sa is None:
        raise ConfigError(f"service account {namespace}/{account} does not exist. {fix}")
    carried = {ref.get("name") for ref in sa.get("imagePullSecrets") or []}
    missing = [s for s in secrets if s not in carried]
    if missing:
        raise ConfigError(f"service account {namespace}/{account} does not carry the pull "
                          f"secret{'s' if len(missing) > 1 else ''} {', '.join(missing)}. {fix}")
    return (f"Kubeflow Trainer v2.0 has no imagePullSecrets in spec.podSpecOverrides: the pods get "
            f"{names} from their service account {account}, which carries "
            f"{'them' if len(secrets) > 1 else 'it'}")
