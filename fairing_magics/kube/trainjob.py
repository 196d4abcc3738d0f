"""Kubeflow Trainer v2: a run as a ``trainer.kubeflow.org/v1alpha1`` TrainJob (pure).

A TrainJob names a runtime and says only what differs: the Trainer controller copies the
runtime's JobSet template, applies the TrainJob's ``trainer`` (image, command, env, ``numNodes``,
``resourcesPerNode``) to the container ``node`` of the replicated job labelled
``trainer.kubeflow.org/trainjob-ancestor-step: trainer``, adds the framework's env (for torch:
``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` from the pod's Job completion index,
``PET_MASTER_ADDR`` ``<job>-node-0-0.<job>``, ``PET_MASTER_PORT`` 29500) and creates a JobSet
(``pkg/apis/trainer/v1alpha1/trainjob_types.go``, ``pkg/runtime/framework/plugins/torch`` and
``pkg/constants`` of kubeflow/trainer).

**Runtime.** ``--runtime-ref NAME`` is the ClusterTrainingRuntime ``NAME`` (the API's default
kind; ``torch-distributed`` when not given); ``--runtime-ref NAMESPACE/NAME`` is the namespaced
TrainingRuntime ``NAME``, which the API requires to live in the TrainJob's own namespace.

**Command.** A runtime's ``node`` container has its own command, so ``trainer.command`` is
always set: the bundle's (``python3 /fairing/bundle/fairing_bootstrap.py ...``, the image's Cmd).

**Nodes.** ``--workers N`` is ``numNodes`` (0 or 1: one node); ``--cpu/--memory/--gpus`` are
``resourcesPerNode``. Each node is one pod of the Indexed Job ``<run>-node-0``.

**Everything else** (the pod-level settings) goes where the cluster's Trainer takes it. Released
Trainers differ, and an API server silently prunes a field its CRD does not know, so a run on an
older Trainer would lose its service account (no S3 access), volumes or tolerations without a
word. :func:`render_trainjob` renders one of three shapes (the Kubernetes backend's
``trainjob_api`` finds which one the cluster's CRD accepts):

- ``runtimePatches`` (Trainer v2.2 and newer): patches keyed by ``manager``, here
  ``fairing.dev/fairing-magics``, aimed at the ``node`` replicated job: our labels and
  annotations on the JobSet and on the pods (with the Istio opt-out), and a PodSpecPatch.
- ``podTemplateOverrides`` (v2.1): ``spec.labels``/``spec.annotations`` (JobSet and Jobs) and
  one override with ``targetJobs: [{name: node}]``, pod ``metadata`` and ``spec``.
- ``podSpecOverrides`` (v2.0, Kubeflow 1.10): ``spec.labels``/``spec.annotations`` and one
  flat override with ``targetJobs: [{name: node}]``. It has no pod metadata: the pods get
  neither our labels nor the Istio opt-out (the runtime's template must carry that).

The pod spec part is the same in all three: ``serviceAccountName``, ``nodeSelector``,
``tolerations``, ``imagePullSecrets``, ``volumes`` and the ``node`` container's
``volumeMounts``; v2.0's ``podSpecOverrides`` has no ``imagePullSecrets``: there the pods get
``--image-pull-secret`` through their service account, or the run is refused
(``backends.kubernetes.trainjob_api.pull_secret_carrier``). The env of ``node`` can only be set
through ``trainer.env`` (the API refuses it in a patch), so all env goes there. ``--timeout`` is
``spec.activeDeadlineSeconds`` from Trainer v2.2; on v2.0 and v2.1, which have no such field, the
backend deletes the TrainJob when the time is up (``active_deadline=False``).

**Finding the pods**: JobSet labels every pod ``jobset.sigs.k8s.io/jobset-name: <run>``
(:func:`.labels.trainjob_pod_selector`) and ``jobset.sigs.k8s.io/replicatedjob-name: node``;
the Job controller adds ``batch.kubernetes.io/job-completion-index`` (the node rank).
"""

from __future__ import annotations

from dataclasses import dataclass

from fairing_magics.errors import ConfigError
from fairing_magics.image.layout import CMD
from fairing_magics.kube.api_resources import CLUSTER_TRAINING_RUNTIME, TRAINING_RUNTIME, TRAINJOB
from fairing_magics.kube.labels import ISTIO_INJECT
from fairing_magics.kube.naming import validate_name
from fairing_magics.kube.options import JobOptions
from fairing_magics.kube.pods import (
    render_object,
    render_pod_placement,
    run_annotations,
    run_labels,
)
from fairing_magics.kube.resources import render_resources

DEFAULT_RUNTIME = "torch-distributed"
#: The replicated job and container the Trainer applies ``spec.trainer`` to.
TRAINER_JOB = "node"
TRAINER_CONTAINER = "node"
#: Who owns our entry of ``runtimePatches``.
PATCH_MANAGER = "fairing.dev/fairing-magics"
#: The TrainJob fields that carry pod-level settings, newest first, and the Trainers that have them.
RUNTIME_PATCHES = "runtimePatches"
POD_TEMPLATE_OVERRIDES = "podTemplateOverrides"
POD_SPEC_OVERRIDES = "podSpecOverrides"
POD_SETTINGS_FIELDS = (RUNTIME_PATCHES, POD_TEMPLATE_OVERRIDES, POD_SPEC_OVERRIDES)
TRAINER_RELEASES = {RUNTIME_PATCHES: "Kubeflow Trainer v2.2 or newer",
                    POD_TEMPLATE_OVERRIDES: "Kubeflow Trainer v2.1",
                    POD_SPEC_OVERRIDES: "Kubeflow Trainer v2.0 (Kubeflow 1.10)"}
#: Env the torch runtime sets itself; the Trainer's webhook refuses them in ``trainer.env``.
TORCH_RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR",
                      "PET_MASTER_PORT")


@dataclass(frozen=True)
class RuntimeRef:
    """A TrainJob's runtime: ``kind`` ClusterTrainingRuntime (``namespace`` empty) or
    TrainingRuntime (in ``namespace``)."""

    name: str
    kind: str = CLUSTER_TRAINING_RUNTIME.kind
    namespace: str = ""

    @property
    def resource(self):
        return TRAINING_RUNTIME if self.namespace else CLUSTER_TRAINING_RUNTIME

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"

    def render(self) -> dict:
        return {"apiGroup": CLUSTER_TRAINING_RUNTIME.group, "kind": self.kind, "name": self.name}


def parse_runtime_ref(text: str, namespace: str = "") -> RuntimeRef:
    """``NAME`` -> ClusterTrainingRuntime; ``NAMESPACE/NAME`` -> TrainingRuntime in NAMESPACE,
    which must be the run's ``namespace`` when that is known.

    >>> str(parse_runtime_ref(""))
    'ClusterTrainingRuntime torch-distributed'
    >>> str(parse_runtime_ref("team/my-torch", "team"))
    'TrainingRuntime team/my-torch'
    """
    text = str(text or DEFAULT_RUNTIME).strip()
    where, sep, name = text.rpartition("/")
    if sep and (not where or "/" in where):
        raise ConfigError(f"--runtime-ref {text!r} must be NAME (a ClusterTrainingRuntime) or "
                          "NAMESPACE/NAME (a TrainingRuntime)")
    validate_name(name, what="--runtime-ref name", max_length=253)
    if not sep:
        return RuntimeRef(name)
    if namespace and where != namespace:
        raise ConfigError(f"--runtime-ref {text}: a TrainJob can only use a TrainingRuntime of its "
                          f"own namespace ({namespace}); copy the runtime there, or use a "
                          "ClusterTrainingRuntime (--runtime-ref NAME)")
    return RuntimeRef(name, TRAINING_RUNTIME.kind, where)


def num_nodes(opts: JobOptions) -> int:
    """``--workers`` as ``numNodes``: at least one node."""
    return max(1, opts.workers)


def render_trainjob(opts: JobOptions, pod_settings_field: str = RUNTIME_PATCHES, *,
                    active_deadline: bool = True) -> dict:
    """A ``trainer.kubeflow.org/v1alpha1`` TrainJob whose pod-level settings go in
    ``pod_settings_field`` (one of :data:`POD_SETTINGS_FIELDS`; ``""``: a Trainer with none of
    them, the settings are left out). ``active_deadline``: the Trainer has
    ``spec.activeDeadlineSeconds`` (v2.2+); without it ``--timeout`` is left out here and the
    backend enforces it. See the module docstring."""
    if pod_settings_field not in POD_SETTINGS_FIELDS + ("",):
        raise ConfigError(f"unknown TrainJob field {pod_settings_field!r} for pod settings: use "
                          f"one of {', '.join(POD_SETTINGS_FIELDS)}")
    ref = parse_runtime_ref(opts.runtime_ref, opts.namespace)
    if opts.parameter_servers:
        raise ConfigError("a TrainJob has no parameter servers: use --kind tfjob")
    reserved = sorted(set(opts.env) & set(TORCH_RESERVED_ENV))
    if reserved:
        raise ConfigError(f"--env {', '.join(reserved)}: the Trainer's runtime sets these itself "
                          "(and refuses a TrainJob that sets them)")
    if opts.env_from_secrets:
        raise ConfigError("a TrainJob cannot take env from a Secret (envFrom): the Trainer API "
                          "has no field for it; use --service-account with IRSA instead")
    trainer: dict = {"image": opts.image}
    # The runtime's container has a command of its own (torch-distributed: a bash script), which
    # would replace the image's Cmd: name ours.
    trainer["command"] = list(opts.command or CMD)
    if opts.args:
        trainer["args"] = list(opts.args)
    if opts.env:
        trainer["env"] = [{"name": k, "value": v} for k, v in opts.env.items()]
    trainer["numNodes"] = num_nodes(opts)
    resources = render_resources(opts.cpu, opts.memory, opts.gpus)
    if resources:
        trainer["resourcesPerNode"] = resources
    spec: dict = {"runtimeRef": ref.render(), "trainer": trainer}
    if opts.timeout is not None and active_deadline:
        spec["activeDeadlineSeconds"] = opts.timeout
    jobset_meta = _jobset_metadata(opts)
    target = [{"name": TRAINER_JOB}]
    if pod_settings_field == RUNTIME_PATCHES:
        spec[RUNTIME_PATCHES] = [{"manager": PATCH_MANAGER,
                                  "trainingRuntimeSpec": {"template": _jobset_patch(opts)}}]
    elif pod_settings_field == POD_TEMPLATE_OVERRIDES:
        spec.update(jobset_meta)
        spec[POD_TEMPLATE_OVERRIDES] = [{"targetJobs": target, "metadata": _pod_metadata(opts),
                                         "spec": _pod_spec_patch(opts)}]
    elif pod_settings_field == POD_SPEC_OVERRIDES:
        spec.update(jobset_meta)
        override = _pod_spec_patch(opts)
        override.pop("imagePullSecrets", None)  # v2.0 has no such field: see pull_secret_carrier
        spec[POD_SPEC_OVERRIDES] = [{"targetJobs": target, **override}]
    return render_object(TRAINJOB, opts, spec)


def _jobset_metadata(opts: JobOptions) -> dict:
    meta: dict = {"labels": dict(run_labels(opts, "trainjob"))}
    annotations = run_annotations(opts)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _pod_metadata(opts: JobOptions) -> dict:
    labels, annotations = dict(run_labels(opts, "trainjob")), dict(run_annotations(opts))
    if not opts.istio_inject:
        labels[ISTIO_INJECT] = "false"
        annotations[ISTIO_INJECT] = "false"
    return {"labels": labels, "annotations": annotations}


def _jobset_patch(opts: JobOptions) -> dict:
    pod: dict = {"metadata": _pod_metadata(opts), "spec": _pod_spec_patch(opts)}
    return {"metadata": _jobset_metadata(opts),
            "spec": {"replicatedJobs": [{"name": TRAINER_JOB,
                                         "template": {"spec": {"template": pod}}}]}}


def _pod_spec_patch(opts: JobOptions) -> dict:
    """The PodSpecPatch of the node pods: only the fields the API lets a patch set."""
    spec: dict = render_pod_placement(opts)
    if opts.volumes:
        spec["volumes"] = [v.render_volume() for v in opts.volumes]
    container: dict = {"name": TRAINER_CONTAINER}
    if opts.volumes:
        container["volumeMounts"] = [v.render_mount() for v in opts.volumes]
    spec["containers"] = [container]
    return spec


def node_pod_patches(trainjob: dict) -> list[dict]:
    """The pod template patches (``metadata``, ``spec``) of our TrainJob's ``node`` job, in
    whichever field the TrainJob carries them. ``spec`` is the TrainJob's own dict (a
    ``podSpecOverrides`` entry itself), so a caller may add to it."""
    patches = []
    spec = trainjob["spec"]
    for override in spec.get(POD_TEMPLATE_OVERRIDES) or []:
        if _targets_node(override):
            patches.append({"metadata": override.get("metadata") or {},
                            "spec": override.setdefault("spec", {})})
    for override in spec.get(POD_SPEC_OVERRIDES) or []:
        if _targets_node(override):
            patches.append({"spec": override})
    for patch in spec.get(RUNTIME_PATCHES) or []:
        template = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {})
        for job in (template.get("spec") or {}).get("replicatedJobs") or []:
            if job.get("name") == TRAINER_JOB:
                pod = ((job.get("template") or {}).get("spec") or {}).get("template")
                if pod is not None:
                    patches.append(pod)
    return patches


def _targets_node(override: dict) -> bool:
    return any(t.get("name") == TRAINER_JOB for t in override.get("targetJobs") or [])


#: What a PodSpecPatch field is called in a message (the flag that sets it).
_SETTING_NAMES = {"serviceAccountName": "--service-account", "nodeSelector": "--node-selector",
                  "tolerations": "--toleration", "imagePullSecrets": "--image-pull-secret"}


def pod_settings(trainjob: dict) -> list[str]:
    """The pod-level settings a TrainJob asks for, as a user reads them
    (``--service-account s3-reader``, ``volume fairing-output``); empty when it asks none."""
    used: list[str] = []
    for patch in node_pod_patches(trainjob):
        pod = patch.get("spec") or {}
        for key, flag in _SETTING_NAMES.items():
            value = pod.get(key)
            if value:
                used.append(f"{flag} {value}" if isinstance(value, str) else flag)
        used += [f"volume {v['name']}" for v in pod.get("volumes") or []]
    return list(dict.fromkeys(used))

