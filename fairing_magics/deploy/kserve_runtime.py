"""KServe's stock model servers: a scikit-learn or XGBoost model served from a ``storageUri``.

``%fairing_deploy model --kserve --runtime sklearn|xgboost`` builds no image. The model is saved
in the format KServe's own server loads, uploaded to the S3 run storage (``--storage s3://...``)
under a content-addressed folder, and an InferenceService names the format and the folder::

    s3://BUCKET/PREFIX/models/NAME/<digest12>/model.joblib   sklearn: joblib.dump(model)
    s3://BUCKET/PREFIX/models/NAME/<digest12>/model.bst      xgboost: model.save_model(...)

    spec.predictor.model: {modelFormat: {name: sklearn}, protocolVersion: v1, storageUri: s3://...}

KServe resolves ``modelFormat`` to a ClusterServingRuntime (``kserve-sklearnserver``,
``kserve-xgbserver``), whose storage-initializer downloads the folder into ``/mnt/models`` before
the server starts with ``--model_dir=/mnt/models``. File names: the sklearn server loads
``model.joblib`` (or ``.pkl``/``.pickle``); the XGBoost server loads ``model.bst`` in every KServe
release (``.json``/``.ubj`` only in newer ones), so ``model.bst`` it is, in the format XGBoost
writes for that name (``xgb.Booster(model_file=...)`` reads either). The digest is of the saved
files: the same model gives the same folder, and a new model a new folder (a rollout).

**Policy** (:func:`runtime_for_model`, :func:`check_runtime_model`): scikit-learn estimators and
pipelines go to ``sklearn``, XGBoost ``Booster``/``XGBModel`` to ``xgboost``; anything else, a
model that needs code of this notebook (a class or function of ``__main__``) or of a package the
stock image lacks, and any ``--predictor`` (custom code needs our predictor image) is refused,
saying what to do instead, before anything is uploaded. The stock runtime loads the model with
its own scikit-learn/XGBoost, not the kernel's: the panel says which version saved it.

**S3 credentials and endpoint** belong to the cluster, as KServe documents them: the predictor's
service account (``%fairing_config --service-account SA`` or ``FAIRING_SERVICE_ACCOUNT``, rendered
as ``spec.predictor.serviceAccountName``) carries an IAM role (IRSA) or has a Secret attached
holding ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (Kubeflow's ``aws-secret`` has those keys).
An S3 endpoint other than AWS's (MinIO, a test server) is the annotation
``serving.kserve.io/s3-endpoint`` (with ``serving.kserve.io/s3-usehttps: "0"`` for plain HTTP) on
that Secret or service account. We chose that over an ``AWS_ENDPOINT_URL`` variable on the
predictor because the variable would reach only the server container, not the
storage-initializer, whose environment KServe builds from the service account; and we never copy
the kernel's credentials or endpoint into the cluster. When the kernel's S3 endpoint is not AWS's,
the panel says so.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import pickletools
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from typing import Any

import cloudpickle

from fairing_magics import events as ev
from fairing_magics.deploy.kubernetes_objects import (
    EndpointObjects,
    KubernetesServer,
    cluster_client,
)
from fairing_magics.deploy.kubernetes_rollout import roll_out
from fairing_magics.deploy.model import (
    MODEL_FILE,
    PREDICTOR_FILE,
    ModelPackage,
    describe_object,
    pickle_modules,
)
from fairing_magics.errors import ConfigError, DeployError
from fairing_magics.kube.manifests import to_yaml
from fairing_magics.kube.options import DeployOptions
from fairing_magics.kube.serving import render_endpoint
from fairing_magics.storage import S3Storage, storage_for

RUNTIMES = ("sklearn", "xgboost")
MODELS = "models"
#: Where KServe's storage-initializer puts the storageUri's files, and the servers read them.
MODEL_MOUNT = "/mnt/models"
S3_ENDPOINT_ANNOTATION = "serving.kserve.io/s3-endpoint"
#: The distribution whose version saved the model, per runtime.
FRAMEWORKS = {"sklearn": "scikit-learn", "xgboost": "xgboost"}
FILE_NAMES = {"sklearn": "model.joblib", "xgboost": "model.bst"}
#: Packages KServe's sklearn server image has besides the standard library (kserve needs
#: numpy and pandas; scikit-learn brings scipy, joblib and threadpoolctl).
SKLEARN_IMAGE_PACKAGES = frozenset({"sklearn", "numpy", "scipy", "joblib", "threadpoolctl",
                                    "pandas"})
RUNTIME_STAGES = ("package", "upload", "apply", "rollout", "ready")


@dataclass(frozen=True)
class RuntimeModel:
    """A model saved in a stock runtime's format: ``files`` (name -> bytes) for its folder."""

    runtime: str
    files: Mapping[str, bytes]
    description: str
    framework_version: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def digest(self) -> str:
        """``sha256:...`` of the files: same model, same digest (and folder)."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            data = self.files[name]
            h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        return "sha256:" + h.hexdigest()

    def folder(self, name: str) -> str:
        """The model's folder under the storage prefix: ``models/NAME/<digest12>``."""
        return f"{MODELS}/{name}/{self.digest.split(':', 1)[1][:12]}"


# -- the policy (pure) ------------------------------------------------------------------------


def runtime_for_model(model: Any) -> str:
    """``xgboost``, ``sklearn`` or "" : the stock runtime that loads ``model``.

    By class (no import of the frameworks): an XGBoost ``Booster`` or ``XGBModel`` (the
    scikit-learn wrappers ``XGBClassifier``... too, checked first since they are also scikit-learn
    estimators), else a scikit-learn ``BaseEstimator`` with ``predict``.
    """
    if isinstance(model, type):
        return ""
    mro = type(model).__mro__
    if any((c.__module__ or "").split(".")[0] == "xgboost"
           and c.__name__ in ("Booster", "XGBModel") for c in mro):
        return "xgboost"
    if any(c.__module__ == "sklearn.base" and c.__name__ == "BaseEstimator" for c in mro):
        return "sklearn" if callable(getattr(model, "predict", None)) else ""
    return ""


def check_runtime_request(runtime: str, *, backend: str, kserve: bool, model: Any = None,
                          predictor: Any = None) -> None:
    """Refuse a ``--runtime`` request that cannot work, before anything is built or uploaded:
    a backend other than kubernetes, no ``--kserve``, a ``--predictor``, a model (when it is
    already an object) the runtime cannot load."""
    if not runtime:
        return
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime!r} is not one of {', '.join(RUNTIMES)} (KServe's "
                          "stock runtimes we deploy to); drop --runtime to serve with our "
                          "predictor image")
    if backend != "kubernetes":
        raise ConfigError(f"--runtime {runtime} is a KServe model server: use --backend "
                          f"kubernetes --kserve (the {backend} backend serves with our predictor; "
                          "drop --runtime)")
    if not kserve:
        raise ConfigError(f"--runtime {runtime} is a KServe model server: add --kserve")
    if predictor is not None:
        raise ConfigError(f"--predictor runs custom code, which needs our predictor image: "
                          f"KServe's stock {runtime} runtime runs only its own code. Drop "
                          "--runtime (to keep the predictor) or drop --predictor")
    if model is not None and not isinstance(model, (str, os.PathLike)):
        check_runtime_model(runtime, model)


def check_runtime_model(runtime: str, model: Any) -> None:
    """Refuse a model the stock ``runtime`` cannot load, saying which runtime would."""
    fits = runtime_for_model(model)
    what = describe_object(model)
    if fits == runtime:
        return
    if fits:
        raise ConfigError(f"the model is a {what}, which KServe's {fits} runtime serves, not the "
                          f"{runtime} one: use --runtime {fits}")
    raise ConfigError(f"KServe's stock runtimes serve scikit-learn estimators and pipelines "
                      f"(--runtime sklearn) and XGBoost models (--runtime xgboost); the model is a "
                      f"{what}. Drop --runtime to serve it with our predictor image (it runs any "
                      "model with predict(), or a function)")


def check_runtime_options(settings, *, runtime: str, kserve: bool, replicas: int = 1,
                          expose: str = "clusterip", cpu: str = "", memory: str = "") -> None:
    """The cluster deployer's check with ``--runtime``: the flags and the S3 storage it needs."""
    if not kserve:
        raise ConfigError(f"--runtime {runtime} is a KServe model server: add --kserve")
    if expose != "clusterip":
        raise ConfigError("--expose is for Deployments: an InferenceService is exposed by KServe's "
                          "ingress (drop --expose)")
    runtime_storage(settings, runtime)
    runtime_options("check", "s3://bucket/check", runtime=runtime, replicas=replicas, cpu=cpu,
                    memory=memory)


def runtime_storage(settings, runtime: str) -> S3Storage:
    """The S3 storage the model is uploaded to; refused when the configured storage is not S3."""
    storage = storage_for(settings.storage) if settings.storage else None
    if not isinstance(storage, S3Storage):
        where = f"--storage is {settings.storage}" if settings.storage else "no --storage is set"
        raise ConfigError(f"--runtime {runtime}: KServe's stock runtime downloads the model from "
                          f"S3 (storageUri), and {where}. Set S3 storage (%fairing_config "
                          "--storage s3://bucket/prefix, or FAIRING_STORAGE), or drop --runtime to "
                          "serve with our predictor image")
    return storage


def save_runtime_model(runtime: str, model: Any) -> RuntimeModel:
    """``model`` saved in ``runtime``'s format (see the module docstring), with notes for the
    panel."""
    check_runtime_model(runtime, model)
    what = describe_object(model)
    if runtime == "sklearn":
        _check_sklearn_imports(model, what)
        import joblib  # scikit-learn's, here only when a model of it is saved: not ours to require

        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        data = buffer.getvalue()
    else:
        with tempfile.TemporaryDirectory(prefix="fairing-xgb-") as folder:
            path = os.path.join(folder, FILE_NAMES["xgboost"])
            try:
                model.save_model(path)
                with open(path, "rb") as file:
                    data = file.read()
            except Exception as exc:  # noqa: BLE001 - any failure is the model's: say which
                raise DeployError(f"cannot save the {what} with its save_model(): "
                                  f"{type(exc).__name__}: {exc}") from exc
    version = _framework_version(runtime)
    notes = [version_note(runtime, version)]
    if runtime == "xgboost" and not type(model).__name__ == "Booster":
        notes.append(f"KServe's XGBoost runtime loads the {type(model).__name__} as a Booster: "
                     "predict() answers the booster's output (for a classifier, probabilities "
                     "rather than labels)")
    return RuntimeModel(runtime=runtime, files={FILE_NAMES[runtime]: data}, description=what,
                        framework_version=version, notes=tuple(notes))


def version_note(runtime: str, version: str) -> str:
    """Which framework version saved the model, and that KServe's runtime loads it with its own."""
    framework = FRAMEWORKS[runtime]
    return (f"saved with {framework} {version or '(unknown version)'}; KServe's {runtime} runtime "
            f"loads it with its own {framework} (see its ClusterServingRuntime's image): a "
            "different version may warn or fail to load. Drop --runtime to serve with the "
            "kernel's versions in our predictor image")


def _framework_version(runtime: str) -> str:
    try:
        return metadata.version(FRAMEWORKS[runtime])
    except metadata.PackageNotFoundError:
        return ""


def _check_sklearn_imports(model: Any, what: str) -> None:
    """joblib saves classes by reference: the stock image must be able to import every module."""
    try:
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - lambdas, local classes: only cloudpickle saves them
        raise ConfigError(f"the {what} cannot be saved with joblib ({type(exc).__name__}: "
                          f"{exc}): it holds code only our predictor image can load. Drop "
                          "--runtime") from exc
    stdlib = set(sys.stdlib_module_names)
    modules = {m.split(".")[0] for m in pickle_modules(data)}
    if _refers_to_main(data):  # pickle_modules leaves __main__ out (no package provides it)
        modules.add("__main__")
    missing = sorted(modules - stdlib - SKLEARN_IMAGE_PACKAGES)
    if missing:
        names = ", ".join("this notebook (__main__)" if m == "__main__" else m for m in missing)
        raise ConfigError(f"the {what} needs code from {names}, which KServe's sklearn image "
                          "does not have (it has scikit-learn, numpy, scipy, pandas). Drop "
                          "--runtime to serve it with our predictor image, which ships that code")


def _refers_to_main(data: bytes) -> bool:
    """True when the pickle names the module ``__main__`` (a class or function of the notebook)."""
    try:
        return any(isinstance(arg, str) and (arg == "__main__" or arg.startswith("__main__ "))
                   for _op, arg, _pos in pickletools.genops(data))
    except Exception:  # noqa: BLE001 - an unreadable pickle is refused when the runtime loads it
        return False


# -- the InferenceService (pure) --------------------------------------------------------------


def runtime_options(name: str, storage_uri: str, *, runtime: str, namespace: str = "",
                    replicas: int = 1, cpu: str = "", memory: str = "", service_account: str = "",
                    istio_inject: bool = False, digest: str = "") -> DeployOptions:
    """The :class:`~fairing_magics.kube.options.DeployOptions` of a stock-runtime
    InferenceService (no image: KServe's runtime has it)."""
    return DeployOptions(name=name, image="", namespace=namespace, run_name=name,
                         replicas=replicas, model_name=name, kserve=True, runtime=runtime,
                         storage_uri=storage_uri, cpu=cpu, memory=memory,
                         service_account=service_account, istio_inject=istio_inject,
                         capture_digest=digest)


def render_runtime_objects(opts: DeployOptions) -> list[dict]:
    """``[InferenceService]`` with ``spec.predictor.model`` (see the module docstring)."""
    return render_endpoint(opts)


def runtime_objects(name: str, uri: str, *, runtime: str, settings, namespace: str,
                    replicas: int = 1, cpu: str = "", memory: str = "",
                    digest: str = "") -> list[dict]:
    """What a stock-runtime endpoint sends: the one rendering that ``--dry-run`` prints and the
    deploy applies (``--replicas``, ``--cpu``, ``--memory`` and the service account included)."""
    return render_runtime_objects(runtime_options(
        name, uri, runtime=runtime, namespace=namespace, replicas=replicas, cpu=cpu,
        memory=memory, service_account=getattr(settings, "service_account", ""),
        istio_inject=settings.istio_inject, digest=digest))


def storage_uri(storage: S3Storage, folder: str) -> str:
    """``s3://bucket/prefix/folder`` of ``folder`` in ``storage``."""
    return storage.uri + folder  # the storage's URI ends with "/"


def custom_s3_endpoint() -> str:
    """The kernel's S3 endpoint when it is not AWS's (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL),
    else ""."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    return endpoint.strip()


def describe_runtime_plan(saved: RuntimeModel | None, *, name: str, runtime: str,
                          settings, replicas: int = 1, cpu: str = "",
                          memory: str = "") -> list[str]:
    """``--dry-run`` lines: where the model would go and the InferenceService."""
    storage = runtime_storage(settings, runtime)
    folder = (saved.folder(name) if saved is not None
              else f"{MODELS}/{name}/<digest12 of the saved model>")
    uri = storage_uri(storage, folder)
    file = FILE_NAMES[runtime]
    lines = [f"Model file: {file} ({'joblib.dump' if runtime == 'sklearn' else 'save_model'}), "
             f"uploaded to {uri}/{file}; no image is built (KServe's {runtime} runtime serves it)"]
    if saved is not None:
        lines.extend(f"Note: {note}" for note in saved.notes)
    lines.extend(f"Note: {note}" for note in credential_notes(settings))
    objects = runtime_objects(name, uri, runtime=runtime, settings=settings,
                              namespace=settings.namespace, replicas=replicas, cpu=cpu,
                              memory=memory, digest=saved.digest if saved else "")
    lines += ["", "Kubernetes: would create (or patch, rolling out) an InferenceService in "
              f"namespace {settings.namespace or '(the context or pod namespace)'}:", "",
              to_yaml(objects).rstrip("\n")]
    return lines


def credential_notes(settings) -> list[str]:
    """What the cluster needs to read the model from S3 (see the module docstring)."""
    account = getattr(settings, "service_account", "")
    notes = []
    if not account:
        notes.append("no --service-account is set: KServe reads the model with the namespace's "
                     "default service account, which needs S3 read access (an IAM role, or a "
                     "Secret with AWS keys)")
    endpoint = custom_s3_endpoint()
    if endpoint:
        notes.append(f"the kernel's S3 endpoint is {endpoint}: KServe reads it from the "
                     f"annotation {S3_ENDPOINT_ANNOTATION} on the service account's S3 Secret (not "
                     "from this kernel)")
    return notes


# -- deploying (talks to S3 and the cluster) --------------------------------------------------


def load_package_model(package: ModelPackage) -> Any:
    """The model object inside a :class:`~.model.ModelPackage` (its cloudpickled
    ``model.pkl``)."""
    if PREDICTOR_FILE in package.members:
        raise ConfigError("--predictor runs custom code, which needs our predictor image: drop "
                          "--runtime")
    return cloudpickle.loads(package.members[MODEL_FILE])


def upload_runtime_model(saved: RuntimeModel, storage: S3Storage, name: str) -> str:
    """Put the saved files in their folder of ``storage``; return the folder's ``s3://`` URI."""
    storage.upload_files(saved.folder(name), saved.files)
    return storage_uri(storage, saved.folder(name))


def start_runtime_endpoint(package: ModelPackage, *, name: str, settings,
                           emit: Callable[[object], None], timeout: float, runtime: str,
                           replicas: int = 1, cpu: str = "", memory: str = "") -> KubernetesServer:
    """Save, upload, apply the InferenceService and follow its rollout (as for our predictor);
    return the :class:`~.kubernetes_objects.KubernetesServer`."""
    saved = save_runtime_model(runtime, load_package_model(package))
    storage = runtime_storage(settings, runtime)
    client = cluster_client(settings)
    for note in saved.notes:
        emit(ev.Notice(note, "warning"))
    for note in credential_notes(settings):
        emit(ev.Notice(note, "info"))
    with ev.stage(emit, "upload") as step:
        uri = upload_runtime_model(saved, storage, name)
        step.detail = f"{uri}/{FILE_NAMES[runtime]}"
    objects = runtime_objects(name, uri, runtime=runtime, settings=settings,
                              namespace=client.namespace, replicas=replicas, cpu=cpu,
                              memory=memory, digest=saved.digest)
    server = roll_out(client, objects,
                      EndpointObjects(name, client.namespace, True), image="",
                      replicas=replicas, expose="clusterip", timeout=timeout, emit=emit,
                      what=f"{replicas} replica(s) of KServe's {runtime} runtime, "
                           f"model {saved.digest[7:19]}")
    server.image = f"kserve {runtime} runtime, {uri}"
    return server
