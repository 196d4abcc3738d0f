"""Kubernetes specs for a run and an endpoint, as pure functions returning plain dicts.

Nothing here talks to a cluster: every function takes options and returns the JSON-ready dict the
API server expects (``apiVersion``, ``kind``, ``metadata``, ``spec``), so ``--dry-run`` prints
exactly what would be sent and the tests need no network.

Training (:class:`JobOptions`, :func:`render_training`):

- ``kind="job"``: a ``batch/v1`` Job running one pod (container ``train``).
- ``kind="tfjob"``: a ``kubeflow.org/v1`` TFJob with one ``Chief``, ``workers`` ``Worker``
  replicas and optionally ``parameter_servers`` ``PS`` replicas (container ``tensorflow``).
- ``kind="pytorchjob"``: a ``kubeflow.org/v1`` PyTorchJob with one ``Master`` and ``workers``
  ``Worker`` replicas (container ``pytorch``).
  The training operator finds the main container by those names, so they are not ours to choose.
- ``kind="trainjob"``: a Kubeflow Trainer v2 ``trainer.kubeflow.org/v1alpha1`` TrainJob on a
  (Cluster)TrainingRuntime (``torch-distributed`` by default) with ``workers`` nodes (at least
  one); see :mod:`.trainjob` (container ``node``, the runtime's name for it).

Every replica gets the same image, command, resources, env and volumes. Pod templates carry
``sidecar.istio.io/inject: "false"`` unless ``istio_inject=True``: in Kubeflow namespaces an Istio
sidecar keeps a finished pod Running forever, so the Job never completes.

Serving (:class:`DeployOptions`, :func:`render_endpoint`): an ``apps/v1`` Deployment and a ``v1``
Service, or a ``serving.kserve.io/v1beta1`` InferenceService (our predictor container, or a stock
scikit-learn/XGBoost runtime reading ``storageUri``).

Labels: ``app.kubernetes.io/managed-by: fairing-magics``, ``fairing.dev/run: <object name>``,
``fairing.dev/name: <--name>``, ``fairing.dev/kind`` and ``fairing.dev/capture-digest`` (the
digest shortened to fit a label; the full digest is in the annotation of the same name). They let
``%fairing_jobs`` and ``%fairing_logs`` find runs after a kernel restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import yaml

from fairing_magics.backends.kubernetes.naming import (
    MAX_RUN_NAME,
    is_label_value,
    label_value,
    validate_name,
)
from fairing_magics.backends.kubernetes.resources import (
    render_resources,
    validate_count,
    validate_cpu,
    validate_gpus,
    validate_memory,
)
from fairing_magics.errors import ConfigError

# -- the API resources we use -------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResource:
    """One Kubernetes API resource: where it lives and what provides it (for messages)."""

    group: str
    version: str
    plural: str
    kind: str
    #: Who installs it when it is a custom resource (None for built-in resources).
    provided_by: str | None = None

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects: ``v1``, ``batch/v1``, ``kubeflow.org/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` as kubectl and RBAC errors write it: ``tfjobs.kubeflow.org``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def is_custom(self) -> bool:
        """True for resources a CRD defines (they may be missing from a cluster)."""
        return self.provided_by is not None


POD = ApiResource("", "v1", "pods", "Pod")
SERVICE = ApiResource("", "v1", "services", "Service")
EVENT = ApiResource("", "v1", "events", "Event")
JOB = ApiResource("batch", "v1", "jobs", "Job")
DEPLOYMENT = ApiResource("apps", "v1", "deployments", "Deployment")
TFJOB = ApiResource("kubeflow.org", "v1", "tfjobs", "TFJob",
                    provided_by="the Kubeflow training operator")
PYTORCHJOB = ApiResource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob",
                         provided_by="the Kubeflow training operator")
TRAINJOB = ApiResource("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob",
                       provided_by="Kubeflow Trainer v2")
CLUSTER_TRAINING_RUNTIME = ApiResource("trainer.kubeflow.org", "v1alpha1",
                                       "clustertrainingruntimes", "ClusterTrainingRuntime",
                                       provided_by="Kubeflow Trainer v2")
TRAINING_RUNTIME = ApiResource("trainer.kubeflow.org", "v1alpha1", "trainingruntimes",
                               "TrainingRuntime", provided_by="Kubeflow Trainer v2")
INFERENCESERVICE = ApiResource("serving.kserve.io", "v1beta1", "inferenceservices",
                               "InferenceService", provided_by="KServe")

#: The resource of each ``--kind`` (and of the serving objects), by the name users type.
API_RESOURCES: dict[str, ApiResource] = {
    "job": JOB, "tfjob": TFJOB, "pytorchjob": PYTORCHJOB, "trainjob": TRAINJOB,
    "deployment": DEPLOYMENT,
    "service": SERVICE, "inferenceservice": INFERENCESERVICE, "pod": POD,
}

TRAINING_KINDS = ("job", "tfjob", "pytorchjob", "trainjob")

#: The main container's name per kind; the training operator requires tensorflow/pytorch.
CONTAINER_NAMES = {"job": "train", "tfjob": "tensorflow", "pytorchjob": "pytorch", "trainjob": "node",
                   "deployment": "server", "inferenceservice": "kserve-container"}

# -- labels and annotations ---------------------------------------------------------------------

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "fairing-magics"
LABEL_RUN = "fairing.dev/run"
LABEL_NAME = "fairing.dev/name"
LABEL_KIND = "fairing.dev/kind"
LABEL_ENDPOINT = "fairing.dev/endpoint"
LABEL_DIGEST = "fairing.dev/capture-digest"
ANNOTATION_DIGEST = "fairing.dev/capture-digest"
ISTIO_INJECT = "sidecar.istio.io/inject"

#: Selects every object fairing-magics made (``%fairing_jobs`` adds its own filters).
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_KEY = re.compile(
    r"^(([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def run_selector(name: str) -> str:
    """Label selector for the objects and pods of one run (its object name)."""
    return f"{LABEL_RUN}={name}"


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Toleration:
    """A pod toleration; ``value`` empty means operator ``Exists``."""

    key: str
    value: str = ""
    effect: str = ""

    def render(self) -> dict:
        spec: dict = {"key": self.key, "operator": "Equal" if self.value else "Exists"}
        if self.value:
            spec["value"] = self.value
        if self.effect:
            spec["effect"] = self.effect
        return spec


@dataclass(frozen=True)
class Volume:
    """A volume mounted into the main container: exactly one of ``pvc``, ``secret``, ``config_map``."""

    mount_path: str
    pvc: str = ""
    secret: str = ""
    config_map: str = ""
    read_only: bool = False
    name: str = ""

    def __post_init__(self):
        sources = [s for s in (self.pvc, self.secret, self.config_map) if s]
        if len(sources) != 1:
            raise ConfigError(f"volume at '{self.mount_path}' needs exactly one of a PVC, a "
                              "Secret or a ConfigMap, e.g. pvc:my-claim:/mnt/data")
        if not self.mount_path.startswith("/"):
            raise ConfigError(f"volume mount path '{self.mount_path}' must be absolute, "
                              "e.g. /mnt/data")
        if not self.name:
            prefix = "pvc" if self.pvc else "secret" if self.secret else "cm"
            object.__setattr__(self, "name", _volume_name(f"{prefix}-{sources[0]}"))

    def render_volume(self) -> dict:
        if self.pvc:
            source = {"persistentVolumeClaim": {"claimName": self.pvc, "readOnly": self.read_only}}
        elif self.secret:
            source = {"secret": {"secretName": self.secret}}
        else:
            source = {"configMap": {"name": self.config_map}}
        return {"name": self.name, **source}

    def render_mount(self) -> dict:
        mount = {"name": self.name, "mountPath": self.mount_path}
        if self.read_only or not self.pvc:
            mount["readOnly"] = True
        return mount


@dataclass(frozen=True)
class PodOptions:
    """What every pod we make shares: image, command, resources, env, scheduling, volumes.

    ``name`` is the object name (unique per run, see ``naming.unique_name``); ``run_name`` the
    user's ``--name`` it came from (defaults to ``name``). ``env`` keeps its order.
    """

    name: str
    image: str = ""
    namespace: str = ""
    run_name: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    cpu: str = ""
    memory: str = ""
    gpus: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    service_account: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    image_pull_policy: str = "IfNotPresent"
    volumes: tuple[Volume, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    istio_inject: bool = False
    capture_digest: str = ""

    def __post_init__(self):
        validate_name(self.name, what="name", max_length=MAX_RUN_NAME)
        _set = object.__setattr__
        _set(self, "run_name", self.run_name or self.name)
        _set(self, "cpu", validate_cpu(self.cpu))
        _set(self, "memory", validate_memory(self.memory))
        _set(self, "gpus", validate_gpus(self.gpus))
        for attr in ("command", "args", "env_from_secrets", "image_pull_secrets", "tolerations",
                     "volumes"):
            value = getattr(self, attr)
            if isinstance(value, str):
                raise ConfigError(f"{attr} must be a list, not the string {value!r}")
            _set(self, attr, tuple(value))
        _set(self, "command", tuple(str(a) for a in self.command))
        _set(self, "args", tuple(str(a) for a in self.args))
        env = {str(k): "" if v is None else str(v) for k, v in dict(self.env).items()}
        for key in env:
            if not _ENV_NAME.match(key):
                raise ConfigError(f"environment variable name '{key}' is not allowed: use "
                                  "letters, digits, '_', '-' and '.', not starting with a digit")
        _set(self, "env", env)
        _set(self, "node_selector", _check_labels(self.node_selector, "node selector"))
        _set(self, "labels", _check_labels(self.labels, "label"))
        _set(self, "annotations", {str(k): str(v) for k, v in dict(self.annotations).items()})
        names = [v.name for v in self.volumes]
        if len(set(names)) != len(names):
            raise ConfigError(f"two volumes share a name ({', '.join(names)}): give them names")


@dataclass(frozen=True)
class JobOptions(PodOptions):
    """A training run: :class:`PodOptions` plus the kind, replicas and lifetime.

    ``workers``: Worker replicas of a TFJob/PyTorchJob (besides the one Chief/Master); a
    ``job`` runs one pod; a ``trainjob`` runs ``max(1, workers)`` nodes (``numNodes``) of the
    runtime ``runtime_ref`` (``NAME``: a ClusterTrainingRuntime, ``NAMESPACE/NAME``: a
    TrainingRuntime, which must be in the run's namespace; default ``torch-distributed``). ``timeout`` (seconds) becomes ``activeDeadlineSeconds``;
    ``backoff_limit`` retries (0: a failed pod fails the run); ``ttl_seconds_after_finished``
    keeps a finished run and its pods' logs that long, then Kubernetes deletes them.
    """

    kind: str = "job"
    workers: int = 1
    parameter_servers: int = 0
    timeout: int | None = None
    backoff_limit: int = 0
    ttl_seconds_after_finished: int | None = 3600
    runtime_ref: str = ""

    def __post_init__(self):
        super().__post_init__()
        _set = object.__setattr__
        kind = str(self.kind).lower()
        if self.runtime_ref and kind != "trainjob":
            raise ConfigError(f"--runtime-ref {self.runtime_ref} names a Kubeflow Trainer runtime: "
                              "add --kind trainjob")
        if kind not in TRAINING_KINDS:
            raise ConfigError(f"kind '{self.kind}' is not one of {', '.join(TRAINING_KINDS)}")
        _set(self, "kind", kind)
        if not self.image:
            raise ConfigError(f"run '{self.name}' has no image to run")
        _set(self, "workers", validate_count(self.workers, what="workers", minimum=0))
        _set(self, "parameter_servers",
             validate_count(self.parameter_servers, what="parameter servers", minimum=0))
        if kind == "job" and self.workers > 1:
            raise ConfigError(f"--workers {self.workers} needs --kind tfjob or pytorchjob: a Job "
                              "runs one pod")
        if self.parameter_servers and kind != "tfjob":
            raise ConfigError("parameter servers (PS replicas) exist only in a TFJob: use "
                              "--kind tfjob")
        if self.timeout is not None:
            _set(self, "timeout", validate_count(self.timeout, what="timeout (seconds)"))
        _set(self, "backoff_limit", validate_count(self.backoff_limit, what="backoff limit",
                                                   minimum=0))
        if self.ttl_seconds_after_finished is not None:
            _set(self, "ttl_seconds_after_finished",
                 validate_count(self.ttl_seconds_after_finished,
                                what="ttl seconds after finished", minimum=0))


@dataclass(frozen=True)
class DeployOptions(PodOptions):
    """A prediction endpoint: :class:`PodOptions` plus replicas, port and how it is exposed.

    The server listens on ``port`` (env ``PORT``) and is ready when ``GET /v1/models/<model_name>``
    answers 200 (KServe V1 protocol). ``expose``: ``clusterip`` (default), ``nodeport`` or
    ``loadbalancer``. With ``kserve=True`` an InferenceService is made instead: our container, or
    with ``runtime`` ``sklearn``/``xgboost`` a stock model server reading ``storage_uri``.
    """

    replicas: int = 1
    port: int = 8080
    model_name: str = ""
    expose: str = "clusterip"
    kserve: bool = False
    runtime: str = ""
    storage_uri: str = ""

    def __post_init__(self):
        super().__post_init__()
        _set = object.__setattr__
        _set(self, "replicas", validate_count(self.replicas, what="replicas"))
        port = validate_count(self.port, what="port")
        if port > 65535:
            raise ConfigError(f"port {port} is not a TCP port (1..65535)")
        _set(self, "port", port)
        _set(self, "model_name", self.model_name or self.name)
        expose = str(self.expose).lower().replace("-", "").replace("_", "")
        if expose not in _SERVICE_TYPES:
            raise ConfigError(f"expose '{self.expose}' is not one of clusterip, nodeport, "
                              "loadbalancer")
        _set(self, "expose", expose)
        runtime = str(self.runtime).lower()
        if runtime and runtime not in _KSERVE_RUNTIMES:
            raise ConfigError(f"runtime '{self.runtime}' is not one of "
                              f"{', '.join(_KSERVE_RUNTIMES)}")
        _set(self, "runtime", runtime)
        if runtime and not self.kserve:
            raise ConfigError(f"runtime '{runtime}' is a KServe model server: add --kserve")
        if runtime and not self.storage_uri:
            raise ConfigError(f"the stock {runtime} runtime reads the model from storage: give "
                              "a storage URI such as s3://bucket/models/linreg")
        if not runtime and not self.image:
            raise ConfigError(f"endpoint '{self.name}' has no image to serve")


_SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort",
                  "loadbalancer": "LoadBalancer"}
_KSERVE_RUNTIMES = ("sklearn", "xgboost")

# -- flag parsing that belongs to the spec ------------------------------------------------------


def parse_key_values(items: Iterable[str], *, what: str = "--env") -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}`` (later items win)."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} '{item}' must look like KEY=VALUE")
        result[key.strip()] = value
    return result


def parse_toleration(text: str) -> Toleration:
    """Parse ``--toleration`` in kubectl taint syntax: ``key[=value][:Effect]``.

    >>> parse_toleration("nvidia.com/gpu=present:NoSchedule").render()
    {'key': 'nvidia.com/gpu', 'operator': 'Equal', 'value': 'present', 'effect': 'NoSchedule'}
    """
    rest, _, effect = str(text).rpartition(":") if ":" in str(text) else (str(text), "", "")
    key, _, value = rest.partition("=")
    if not key or (effect and effect not in _EFFECTS):
        raise ConfigError(f"toleration '{text}' must look like key=value:NoSchedule, key:NoSchedule "
                          f"or key=value (effects: {', '.join(_EFFECTS)})")
    return Toleration(key=key, value=value, effect=effect)


def parse_volume(text: str) -> Volume:
    """Parse ``--volume``: ``pvc:CLAIM:/mount/path[:ro]``, ``secret:NAME:/path``,
    ``configmap:NAME:/path``."""
    parts = str(text).split(":")
    read_only = len(parts) == 4 and parts[3] == "ro"
    if len(parts) not in (3, 4) or (len(parts) == 4 and not read_only) or not parts[1]:
        raise ConfigError(f"volume '{text}' must look like pvc:CLAIM:/mnt/data[:ro], "
                          "secret:NAME:/etc/secret or configmap:NAME:/etc/config")
    source, name, path = parts[0].lower(), parts[1], parts[2]
    if source == "pvc":
        return Volume(mount_path=path, pvc=name, read_only=read_only)
    if source == "secret":
        return Volume(mount_path=path, secret=name)
    if source in ("configmap", "config-map", "cm"):
        return Volume(mount_path=path, config_map=name)
    raise ConfigError(f"volume '{text}': the source '{parts[0]}' is not pvc, secret or configmap")


# -- training specs -----------------------------------------------------------------------------


def render_training(opts: JobOptions) -> dict:
    """The spec of ``opts.kind``: :func:`render_job`, :func:`render_tfjob`,
    :func:`render_pytorchjob` or :func:`.trainjob.render_trainjob`."""
    from fairing_magics.backends.kubernetes.trainjob import render_trainjob

    return {"job": render_job, "tfjob": render_tfjob, "pytorchjob": render_pytorchjob,
            "trainjob": render_trainjob}[opts.kind](opts)


def render_job(opts: JobOptions) -> dict:
    """A ``batch/v1`` Job: one pod, ``restartPolicy: Never``, no retries unless asked."""
    spec: dict = {"backoffLimit": opts.backoff_limit}
    if opts.timeout is not None:
        spec["activeDeadlineSeconds"] = opts.timeout
    if opts.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = opts.ttl_seconds_after_finished
    spec["template"] = render_pod_template(opts, container_name=CONTAINER_NAMES["job"])
    return _object(JOB, opts, spec)


def render_tfjob(opts: JobOptions) -> dict:
    """A ``kubeflow.org/v1`` TFJob: ``Chief`` x1, ``Worker`` x workers, ``PS`` x parameter servers."""
    replicas = {"Chief": 1, "Worker": opts.workers, "PS": opts.parameter_servers}
    return _object(TFJOB, opts, {
        "runPolicy": _run_policy(opts),
        "tfReplicaSpecs": _replica_specs(opts, replicas, CONTAINER_NAMES["tfjob"]),
    })


def render_pytorchjob(opts: JobOptions) -> dict:
    """A ``kubeflow.org/v1`` PyTorchJob: ``Master`` x1 and ``Worker`` x workers."""
    replicas = {"Master": 1, "Worker": opts.workers}
    return _object(PYTORCHJOB, opts, {
        "runPolicy": _run_policy(opts),
        "pytorchReplicaSpecs": _replica_specs(opts, replicas, CONTAINER_NAMES["pytorchjob"]),
    })


def _run_policy(opts: JobOptions) -> dict:
    # cleanPodPolicy None keeps every replica's pod (and so its logs) until the TTL removes the
    # job; the operator's default deletes pods still running when the job ends.
    policy: dict = {"cleanPodPolicy": "None", "backoffLimit": opts.backoff_limit}
    if opts.timeout is not None:
        policy["activeDeadlineSeconds"] = opts.timeout
    if opts.ttl_seconds_after_finished is not None:
        policy["ttlSecondsAfterFinished"] = opts.ttl_seconds_after_finished
    return policy


def _replica_specs(opts: JobOptions, replicas: dict[str, int], container_name: str) -> dict:
    return {
        replica_type: {
            "replicas": count,
            "restartPolicy": "Never",
            "template": render_pod_template(opts, container_name=container_name),
        }
        for replica_type, count in replicas.items() if count
    }


# -- serving specs ------------------------------------------------------------------------------


def render_endpoint(opts: DeployOptions) -> list[dict]:
    """Everything an endpoint needs: ``[InferenceService]`` with ``kserve``, else
    ``[Deployment, Service]``."""
    if opts.kserve:
        return [render_inferenceservice(opts)]
    return [render_deployment(opts), render_service(opts)]


def render_deployment(opts: DeployOptions) -> dict:
    """An ``apps/v1`` Deployment of ``replicas`` serving pods with a readiness probe.

    Deploying the same name again with a new image (or a new capture digest, which is a pod
    template annotation) rolls out new pods; the selector stays the same, as it must.
    """
    template = render_pod_template(opts, container_name=CONTAINER_NAMES["deployment"],
                                   serving=True)
    return _object(DEPLOYMENT, opts, {
        "replicas": opts.replicas,
        "selector": {"matchLabels": {LABEL_ENDPOINT: opts.name}},
        "template": template,
    })


def render_service(opts: DeployOptions) -> dict:
    """A ``v1`` Service in front of the Deployment's pods (ClusterIP, NodePort or LoadBalancer)."""
    return _object(SERVICE, opts, {
        "type": _SERVICE_TYPES[opts.expose],
        "selector": {LABEL_ENDPOINT: opts.name},
        "ports": [{"name": "http", "port": opts.port, "targetPort": opts.port,
                   "protocol": "TCP"}],
    })


def render_inferenceservice(opts: DeployOptions) -> dict:
    """A ``serving.kserve.io/v1beta1`` InferenceService.

    Without ``runtime``: our predictor image as the custom container ``kserve-container`` (the
    name KServe requires), listening on ``port``. With ``runtime`` ``sklearn`` or ``xgboost``:
    KServe's stock server loads the model from ``storage_uri`` (KServe V1 protocol); give a
    ``service_account`` that holds the S3 credentials (KServe reads them from it). Istio injection
    is off (an annotation KServe copies to the pods) unless ``istio_inject``.
    """
    predictor: dict = {"minReplicas": opts.replicas, **render_pod_placement(opts)}
    resources = render_resources(opts.cpu, opts.memory, opts.gpus)
    if opts.runtime:
        # protocolVersion v1: KServe's V1 REST protocol, what our Endpoint speaks.
        model: dict = {"modelFormat": {"name": opts.runtime}, "protocolVersion": "v1",
                       "storageUri": opts.storage_uri}
        if resources:
            model["resources"] = resources
        predictor["model"] = model
    else:
        container = render_container(opts, CONTAINER_NAMES["inferenceservice"], serving=True)
        # Knative (KServe's serverless mode) allows one port, unnamed or http1.
        container["ports"] = [{"containerPort": opts.port, "protocol": "TCP"}]
        predictor["containers"] = [container]
        if opts.volumes:
            predictor["volumes"] = [v.render_volume() for v in opts.volumes]
    isvc = _object(INFERENCESERVICE, opts, {"predictor": predictor})
    if not opts.istio_inject:  # KServe copies the InferenceService's annotations to its pods
        isvc["metadata"].setdefault("annotations", {})[ISTIO_INJECT] = "false"
    return isvc


# -- pods ---------------------------------------------------------------------------------------


def run_labels(opts: PodOptions, kind: str) -> dict[str, str]:
    """The labels that identify a run or endpoint (the user's labels first, ours win)."""
    labels = dict(opts.labels)
    labels.update({
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_RUN: opts.name,
        LABEL_NAME: label_value(opts.run_name),
        LABEL_KIND: kind,
    })
    if isinstance(opts, DeployOptions):
        labels[LABEL_ENDPOINT] = opts.name
    if opts.capture_digest:
        labels[LABEL_DIGEST] = label_value(opts.capture_digest.split(":")[-1])
    return labels


def run_annotations(opts: PodOptions) -> dict[str, str]:
    annotations = dict(opts.annotations)
    if opts.capture_digest:
        annotations[ANNOTATION_DIGEST] = opts.capture_digest
    return annotations


def render_pod_template(opts: PodOptions, *, container_name: str, serving: bool = False) -> dict:
    """A pod template: run labels, annotations (Istio off by default) and the pod spec."""
    kind = opts.kind if isinstance(opts, JobOptions) else "endpoint"
    labels = run_labels(opts, kind)
    annotations = run_annotations(opts)
    if not opts.istio_inject:
        # Istio reads the label (newer) or the annotation (older); both say the same.
        labels[ISTIO_INJECT] = "false"
        annotations[ISTIO_INJECT] = "false"
    metadata: dict = {"labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": render_pod_spec(opts, container_name, serving=serving)}


def render_pod_placement(opts: PodOptions) -> dict:
    """The pod fields every workload shares (pod template, InferenceService predictor, TrainJob
    patch): ``serviceAccountName``, ``imagePullSecrets``, ``nodeSelector``, ``tolerations``;
    only those the options set."""
    fields: dict = {}
    if opts.service_account:
        fields["serviceAccountName"] = opts.service_account
    if opts.image_pull_secrets:
        fields["imagePullSecrets"] = [{"name": s} for s in opts.image_pull_secrets]
    if opts.node_selector:
        fields["nodeSelector"] = dict(opts.node_selector)
    if opts.tolerations:
        fields["tolerations"] = [t.render() for t in opts.tolerations]
    return fields


def render_pod_spec(opts: PodOptions, container_name: str, *, serving: bool = False) -> dict:
    spec: dict = {}
    if not serving:
        spec["restartPolicy"] = "Never"
    spec.update(render_pod_placement(opts))
    spec["containers"] = [render_container(opts, container_name, serving=serving)]
    if opts.volumes:
        spec["volumes"] = [v.render_volume() for v in opts.volumes]
    return spec


def render_container(opts: PodOptions, name: str, *, serving: bool = False) -> dict:
    """The main container: image, command, env (``PORT`` for servers), resources, mounts."""
    container: dict = {"name": name, "image": opts.image,
                       "imagePullPolicy": opts.image_pull_policy}
    if opts.command:
        container["command"] = list(opts.command)
    if opts.args:
        container["args"] = list(opts.args)
    env = dict(opts.env)
    if serving and isinstance(opts, DeployOptions):
        env["PORT"] = str(opts.port)
        container["ports"] = [{"name": "http", "containerPort": opts.port, "protocol": "TCP"}]
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if opts.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in opts.env_from_secrets]
    resources = render_resources(opts.cpu, opts.memory, opts.gpus)
    if resources:
        container["resources"] = resources
    if serving and isinstance(opts, DeployOptions):
        container["readinessProbe"] = {
            "httpGet": {"path": f"/v1/models/{opts.model_name}", "port": opts.port},
            "initialDelaySeconds": 1, "periodSeconds": 2, "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
    if opts.volumes:
        container["volumeMounts"] = [v.render_mount() for v in opts.volumes]
    return container


def _object(resource: ApiResource, opts: PodOptions, spec: dict) -> dict:
    kind = opts.kind if isinstance(opts, JobOptions) else "endpoint"
    metadata: dict = {"name": opts.name}
    if opts.namespace:
        metadata["namespace"] = opts.namespace
    metadata["labels"] = run_labels(opts, kind)
    annotations = run_annotations(opts)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata,
            "spec": spec}


# -- YAML ---------------------------------------------------------------------------------------

_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")


def to_yaml(spec_or_list: dict | list[dict]) -> str:
    """YAML for ``--dry-run``: one document, or several separated by ``---``.

    Keys keep the order the render functions give them (``apiVersion``, ``kind``, ``metadata``,
    ``spec`` first), which reads like the manifests in Kubernetes' own docs.
    """
    docs = [spec_or_list] if isinstance(spec_or_list, dict) else list(spec_or_list)
    ordered = [_ordered(doc) for doc in docs]
    return yaml.safe_dump_all(ordered, sort_keys=False, default_flow_style=False, width=100,
                              allow_unicode=True, explicit_start=len(ordered) > 1)


def _ordered(doc: dict) -> dict:
    return {**{k: doc[k] for k in _TOP_KEYS if k in doc},
            **{k: v for k, v in doc.items() if k not in _TOP_KEYS}}


def _volume_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].rstrip("-")
    return name or "volume"


def _check_labels(labels: Mapping[str, str], what: str) -> dict[str, str]:
    result = {str(k): str(v) for k, v in dict(labels).items()}
    for key, value in result.items():
        if not _LABEL_KEY.match(key) or len(key) > 316:
            raise ConfigError(f"{what} key '{key}' is not valid: use an optional DNS prefix and "
                              "'/', then letters, digits, '-', '_' or '.' (e.g. team=ml)")
        if not is_label_value(value):
            raise ConfigError(f"{what} value '{value}' for '{key}' is not valid: at most 63 "
                              "letters, digits, '-', '_' or '.', starting and ending with a "
                              "letter or digit")
    return result
