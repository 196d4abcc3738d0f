"""Every object fairing-magics sends to a cluster, in realistic variants, rendered by the public
functions the magics use (so the suite follows the code wherever it moves).

Training (:func:`training_objects`): ``plan.training_spec`` of a cell's ``TrainOptions`` and
``Settings`` (the same call ``--dry-run`` and the backend make), for ``--kind job``, ``tfjob``,
``pytorchjob`` and ``trainjob``; a TrainJob in the shape that the product's own detection
(:func:`~fairing_magics.backends.kubernetes.trainjob_api.trainjob_api_of_crd`) picks from each
Trainer release's real CRD. Variants: no flags; every pod flag at once (cpu, memory, GPUs, env,
node selector, tolerations of both kinds, service account, AWS secret, pull secrets, every
volume source, timeout, workers) with S3 storage; GPUs only; the longest ``--name`` with local
folder storage and Istio injection on; a TrainingRuntime of the namespace.

Schedules (:func:`schedule_objects`): the CronJob of ``%fairing_notebook --schedule`` for the
same variants (``schedules.schedule_spec``: the Job's pod template, a per-run output folder).

Serving (:func:`serving_objects`): the Deployment and Service of every ``--expose``, the
InferenceService with our predictor image, and the InferenceService of each stock KServe runtime
(sklearn, xgboost), each plain and with every flag (replicas, cpu, memory, a service account).

Sweeps (:func:`sweep_objects`): the Katib Experiment of each trial kind and algorithm; Katib's
CRD keeps every field, so its webhook's rules check it (``report.KATIB_WEBHOOK``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fairing_magics.backends.kubernetes.plan import training_spec
from fairing_magics.config import Settings
from fairing_magics.kube.naming import MAX_BASE_NAME, unique_name
from fairing_magics.pipeline import TrainOptions

IMAGE = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job@sha256:" + "a" * 64
DIGEST = "sha256:" + "c" * 64
NAMESPACE = "kubeflow-user-example-com"
LONG_NAME = "a" + "-very-long-training-run-name"[: MAX_BASE_NAME - 2] + "z"


@dataclass(frozen=True)
class Variant:
    """One rendered object: ``label`` says which flags made it; ``for_release``: the only
    schema release it is meant for (a TrainJob shape), "" for all."""

    label: str
    object: dict = field(compare=False)
    for_release: str = ""

    @property
    def kind(self) -> str:
        return self.object["kind"]


def _train_variants() -> dict[str, tuple[TrainOptions, Settings]]:
    s3 = Settings(storage="s3://fairing-bucket/runs-prefix", backend="kubernetes",
                  namespace=NAMESPACE)
    every = dict(
        cpu="2", memory="4Gi", gpus=1, env={"LEARNING_RATE": "0.01", "EPOCHS": "3"},
        node_selector={"node.kubernetes.io/instance-type": "p3.2xlarge", "pool": "gpu"},
        tolerations=("nvidia.com/gpu=present:NoSchedule", "dedicated:NoExecute", "spot"),
        service_account="default-editor", aws_secret="aws-secret",
        image_pull_secrets=("ecr-pull", "regcred"),
        volumes=("pvc:training-data:/mnt/data:ro", "secret:api-keys:/etc/keys",
                 "configmap:train-config:/etc/config"),
        timeout=3600.5, workers=3, namespace=NAMESPACE)
    return {
        "no flags": (TrainOptions(), Settings(backend="kubernetes")),
        "every pod flag, S3 storage": (TrainOptions(name="train-all", **every), s3),
        "GPUs only": (TrainOptions(name="gpu", gpus=4, cpu="500m", memory="512Mi"), s3),
        "longest name, folder storage, Istio on": (
            TrainOptions(name=LONG_NAME, workers=1, timeout=60),
            Settings(storage="/srv/fairing-storage", istio_inject=True, backend="kubernetes")),
    }


def training_objects(kind: str, *, trainjob_field: str = "runtimePatches",
                     trainjob_deadline: bool = True) -> list[Variant]:
    """Each variant of ``--kind kind`` (a TrainJob in the given shape)."""
    variants = []
    for label, (options, settings) in _train_variants().items():
        options = TrainOptions(**{**options.__dict__, "kind": kind})
        if kind == "job":  # a Job runs one pod
            options = TrainOptions(**{**options.__dict__, "workers": 0})
        name = unique_name(options.name)
        namespace = options.namespace or settings.namespace
        spec = training_spec(options, settings, name=name, image=IMAGE, capture_digest=DIGEST,
                             namespace=namespace, region="cn-northwest-1",
                             trainjob_field=trainjob_field, trainjob_deadline=trainjob_deadline)
        variants.append(Variant(f"--kind {kind}, {label}", spec))
    if kind == "trainjob":
        options = TrainOptions(name="own-runtime", kind="trainjob", namespace=NAMESPACE,
                               runtime_ref=f"{NAMESPACE}/my-torch", workers=2)
        spec = training_spec(options, Settings(backend="kubernetes"), name=unique_name("own"),
                             image=IMAGE, namespace=NAMESPACE, trainjob_field=trainjob_field,
                             trainjob_deadline=trainjob_deadline)
        variants.append(Variant("--kind trainjob, a TrainingRuntime of the namespace", spec))
    return variants


def trainjob_objects() -> list[Variant]:
    """The TrainJob variants for each Trainer release, in the shape detected from its CRD."""
    from fairing_magics.backends.kubernetes.trainjob_api import trainjob_api_of_crd
    from tests.harness.kube.schemas import crd_object, releases

    variants = []
    for schema in releases("trainer", crd="trainjobs.trainer.kubeflow.org"):
        api = trainjob_api_of_crd(crd_object(schema))
        for v in training_objects("trainjob", trainjob_field=api.field,
                                  trainjob_deadline=api.deadline):
            variants.append(Variant(f"{v.label} ({schema.title}: spec.{api.field})", v.object,
                                    for_release=schema.release))
    return variants


def schedule_objects() -> list[Variant]:
    """The CronJob of a scheduled notebook, for each training variant (a Job: one pod)."""
    from fairing_magics.backends.kubernetes.schedules import schedule_spec

    variants = []
    for (label, (options, settings)), schedule in zip(
            _train_variants().items(), ("0 6 * * *", "*/15 8-18 * * MON-FRI", "@hourly",
                                        "30 2 1,15 * ?"), strict=True):
        options = TrainOptions(**{**options.__dict__, "kind": "job", "workers": 0})
        name = unique_name(options.name, max_length=41)
        spec = schedule_spec(options, settings, name=name, image=IMAGE, schedule=schedule,
                             capture_digest=DIGEST, namespace=options.namespace or settings.namespace)
        variants.append(Variant(f"--schedule {schedule!r}, {label}", spec))
    return variants


def serving_objects() -> list[Variant]:
    """Every endpoint shape: Deployment + Service per ``--expose``, InferenceServices."""
    from fairing_magics.deploy.kserve_runtime import runtime_objects
    from fairing_magics.deploy.kubernetes import endpoint_objects

    plain = Settings(backend="kubernetes", namespace=NAMESPACE)
    flags = dict(replicas=3, cpu="1500m", memory="3Gi")
    variants = []
    for expose in ("clusterip", "nodeport", "loadbalancer"):
        for label, extra, settings in (("", {}, plain),
                                       (", --replicas --cpu --memory, Istio on", flags,
                                        Settings(namespace=NAMESPACE, istio_inject=True))):
            for obj in endpoint_objects("linreg", IMAGE, settings=settings, namespace=NAMESPACE,
                                        expose=expose, digest=DIGEST, **extra):
                variants.append(Variant(f"--expose {expose}{label}", obj))
    for label, extra in (("", {}), (", --replicas --cpu --memory", flags)):
        for obj in endpoint_objects(LONG_NAME[:50].rstrip("-"), IMAGE, settings=plain,
                                    namespace=NAMESPACE, kserve=True, digest=DIGEST, **extra):
            variants.append(Variant(f"--kserve (our predictor){label}", obj))
    account = Settings(namespace=NAMESPACE, service_account="kserve-s3",
                       storage="s3://fairing-bucket/prefix")
    for runtime in ("sklearn", "xgboost"):
        uri = f"s3://fairing-bucket/prefix/models/linreg/{'d' * 12}"
        for label, extra, settings in (("", {}, plain),
                                       (", --replicas --cpu --memory, service account", flags,
                                        account)):
            for obj in runtime_objects("linreg", uri, runtime=runtime, settings=settings,
                                       namespace=NAMESPACE, digest=DIGEST, **extra):
                variants.append(Variant(f"--kserve --runtime {runtime}{label}", obj))
    return variants


def sweep_objects() -> list[Variant]:
    """The Katib Experiment of ``%%fairing_sweep`` for each trial kind and algorithm, plain and
    with every flag (``sweep.katib.render_experiment``, as the dry run and the real sweep)."""
    from fairing_magics.sweep.katib import render_experiment
    from fairing_magics.sweep.options import SweepOptions
    from fairing_magics.sweep.space import parse_space

    space = parse_space(["lr=loguniform:1e-4:1e-1", "depth=int:2:8:2", "kernel=choice:rbf,linear",
                         "batch=choice:16,32", "dropout=uniform:0:0.5"])
    grid = parse_space(["depth=int:2:8:2", "dropout=uniform:0:0.5:0.1"])
    s3 = Settings(storage="s3://fairing-bucket/runs-prefix", backend="kubernetes",
                  namespace=NAMESPACE)
    folder = Settings(storage="/srv/fairing", backend="kubernetes", namespace=NAMESPACE)
    every = dict(cpu="2", memory="4Gi", gpus=1, env={"EPOCHS": "3"}, outputs=("model",),
                 timeout=900, service_account="default-editor", image_pull_secrets=("ecr-pull",),
                 namespace=NAMESPACE)
    variants = []
    for kind in ("job", "tfjob", "pytorchjob"):
        workers = 0 if kind == "job" else 2
        for label, space_, algorithm, extra, settings in (
                ("tpe", space, "tpe", {}, Settings(backend="kubernetes")),
                ("random, median stopping, every flag, s3", space, "random", every, s3),
                ("grid, folder storage", grid, "grid", {}, folder),
                ("bayesianoptimization", space, "bayesian", {}, s3)):
            options = SweepOptions(
                space=space_, objective="val_loss", metrics=("accuracy",), trials=16, parallel=4,
                algorithm=algorithm, early_stopping="median" if "median" in label else "",
                train=TrainOptions(name="tune", backend="kubernetes", kind=kind,
                                   workers=workers, **extra))
            obj = render_experiment(options, settings, name=unique_name("tune", max_length=41),
                                    image=IMAGE, capture_digest=DIGEST,
                                    namespace=settings.namespace)
            variants.append(Variant(f"--kind {kind}, {label}", obj))
    return variants


def every_object() -> list[Variant]:
    """Everything above: what the conformance suite checks."""
    found = []
    for kind in ("job", "tfjob", "pytorchjob"):
        found += training_objects(kind)
    return (found + trainjob_objects() + schedule_objects() + serving_objects()
            + sweep_objects())
