"""What a run or an endpoint is made of, as values checked when they are made.

:class:`PodOptions` holds what every pod we make shares (image, command, resources, env,
scheduling, volumes, labels); :class:`JobOptions` adds a training run's kind, replicas and
lifetime, :class:`DeployOptions` an endpoint's replicas, port and exposure. Each refuses a bad
value on construction with a :class:`~fairing_magics.errors.ConfigError` that says what to write
instead, so a flag is refused before anything is built, and the renderers (:mod:`.pods`,
:mod:`.training`, :mod:`.trainjob`, :mod:`.serving`) never see one. The ``parse_*`` functions
read the flags that take kubectl's own syntax (``--toleration``, ``--volume``, ``--env``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fairing_magics.errors import ConfigError
from fairing_magics.kube.api_resources import TRAINING_KINDS
from fairing_magics.kube.naming import MAX_RUN_NAME, is_label_value, validate_name
from fairing_magics.kube.resources import (
    validate_count,
    validate_cpu,
    validate_gpus,
    validate_memory,
)

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_KEY = re.compile(
    r"^(([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


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
    """A volume mounted into the main container: one of ``pvc``, ``secret``, ``config_map``."""

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
    TrainingRuntime, which must be in the run's namespace; default ``torch-distributed``).
    ``timeout`` (seconds) becomes ``activeDeadlineSeconds``; ``backoff_limit`` retries (0: a
    failed pod fails the run); ``ttl_seconds_after_finished`` keeps a finished run and its pods'
    logs that long, then Kubernetes deletes them.
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
        if expose not in SERVICE_TYPES:
            raise ConfigError(f"expose '{self.expose}' is not one of clusterip, nodeport, "
                              "loadbalancer")
        _set(self, "expose", expose)
        runtime = str(self.runtime).lower()
        if runtime and runtime not in KSERVE_RUNTIMES:
            raise ConfigError(f"runtime '{self.runtime}' is not one of "
                              f"{', '.join(KSERVE_RUNTIMES)}")
        _set(self, "runtime", runtime)
        if runtime and not self.kserve:
            raise ConfigError(f"runtime '{runtime}' is a KServe model server: add --kserve")
        if runtime and not self.storage_uri:
            raise ConfigError(f"the stock {runtime} runtime reads the model from storage: give "
                              "a storage URI such as s3://bucket/models/linreg")
        if not runtime and not self.image:
            raise ConfigError(f"endpoint '{self.name}' has no image to serve")


#: ``--expose`` and the Service ``type`` it makes.
SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer"}
#: KServe's stock model servers an InferenceService may name (``--runtime``).
KSERVE_RUNTIMES = ("sklearn", "xgboost")

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
        raise ConfigError(f"toleration '{text}' must look like key=value:NoSchedule, "
                          f"key:NoSchedule or key=value (effects: {', '.join(_EFFECTS)})")
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
