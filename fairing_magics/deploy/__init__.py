"""Deploy: a model in the kernel becomes a live prediction endpoint, in one call.

::

    from fairing_magics.deploy import deploy, undeploy

    ep = deploy(model, name="linreg", backend="local", settings=settings)
    ep.predict(x_test)               # the same predictions as model.predict(x_test)
    undeploy("linreg")               # or ep.delete()

Stages, each reported to the panel (:class:`~fairing_magics.ui.endpointview.EndpointView`)
through :mod:`fairing_magics.events`:

1. **package**: find the model (a kernel value, ``from_run=RUN``, an ``s3://`` URI), pickle it
   with the optional predictor, find its requirements (:mod:`.model`);
2. on ``local`` (:mod:`.local`): start ``serve.py`` on a free port of 127.0.0.1;
   on ``kubernetes`` (:mod:`.kubernetes`): build and push an image (base + requirements + model
   folder + serve.py), apply a Deployment and a Service (or an InferenceService with
   ``kserve=True``) and follow the rollout, pod by pod;
   on ``docker`` (:mod:`.docker`): build and push the same image, run it in a container of the
   local Docker Engine (host network, a free port of 127.0.0.1);
3. **ready**: ``GET /v1/models/NAME`` answers 200 where the kernel reaches the endpoint.

When the server crashes or never gets ready, :class:`~fairing_magics.errors.DeployError` says
so with the server's last log lines, and nothing is left behind (the subprocess is stopped; a
new Deployment and Service are deleted, an updated one rolled back; a container is removed).
Deploying a name again rolls the new model out and the same :class:`~.endpoint.Endpoint` object
serves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fairing_magics import events as ev
from fairing_magics.base_image import image_notices
from fairing_magics.config import Settings
from fairing_magics.deploy.docker import DockerDeployer
from fairing_magics.deploy.docker import describe_plan as describe_docker_plan
from fairing_magics.deploy.endpoint import READY, Endpoint, EndpointBook, PredictionError
from fairing_magics.deploy.kserve_runtime import (
    RUNTIME_STAGES,
    check_runtime_request,
    describe_runtime_plan,
    load_package_model,
    save_runtime_model,
)
from fairing_magics.deploy.kubernetes import KubernetesDeployer, endpoint_objects
from fairing_magics.deploy.local import LocalDeployer
from fairing_magics.deploy.model import package_model, resolve_model
from fairing_magics.errors import ConfigError, FairingError
from fairing_magics.image.publish import describe_index, describe_registry_plan, target_repository
from fairing_magics.image.serving import MODEL_DIR
from fairing_magics.kube.manifests import to_yaml
from fairing_magics.kube.naming import MAX_RUN_NAME, validate_name
from fairing_magics.ui.endpointview import make_endpoint_view

__all__ = ["ENDPOINTS", "Endpoint", "EndpointBook", "PredictionError", "deploy", "get_deployer",
           "plan_deploy", "undeploy"]

#: This kernel's endpoints, by name.
ENDPOINTS = EndpointBook()
DEPLOY_BACKENDS = ("local", "docker", "kubernetes")
DEFAULT_TIMEOUT = 300.0


def get_deployer(backend: str):
    """The deployer of ``backend``: ``local``, ``docker`` or ``kubernetes``."""
    if backend == "local":
        return LocalDeployer()
    if backend == "docker":
        return DockerDeployer()
    if backend == "kubernetes":
        return KubernetesDeployer()
    raise ConfigError(f"--backend {backend!r} cannot serve models yet; use one of "
                      f"{', '.join(DEPLOY_BACKENDS)}")


def deploy(model: Any = None, *, name: str, backend: str = "", settings: Settings | None = None,
           predictor: Any = None, from_run: str | None = None, storage_uri: str | None = None,
           replicas: int = 1, kserve: bool = False, runtime: str = "", expose: str = "clusterip",
           cpu: str = "", memory: str = "", timeout: float = DEFAULT_TIMEOUT,
           emit: Callable[[object], None] | None = None,
           show: Callable[[object], None] | None = None,
           book: EndpointBook | None = None, images=None) -> Endpoint:
    """Serve ``model`` as endpoint ``name``; return the :class:`Endpoint` once it is ready.

    ``model``: an object with ``predict``, a callable ``f(x)``, or a URI (``s3://bucket/prefix/
    runs/RUN/``, a ``.pkl`` file); or None with ``from_run=RUN`` (read from ``storage_uri``, else
    the configured storage, else the local run folders). ``predictor``: a function
    ``predict(model, x)`` or a class with ``preprocess``/``predict``/``postprocess``.
    ``backend``: ``local``, ``docker`` or ``kubernetes`` (default: the configured one); cluster
    options: ``replicas``, ``kserve``, ``expose`` (``clusterip``, ``nodeport``,
    ``loadbalancer``), ``cpu``, ``memory``; with ``kserve``, ``runtime`` ``sklearn`` or
    ``xgboost`` serves with KServe's stock runtime from the S3 storage instead of our image
    (:mod:`.kserve_runtime`). ``timeout``: seconds to wait for readiness.

    Events go to ``emit`` when given; otherwise to a new panel, handed to ``show`` (the magics
    display it). ``book`` keeps the kernel's endpoints (default :data:`ENDPOINTS`); ``images``
    is the kernel's :class:`~fairing_magics.image.publish.ImageService` (made when needed).
    """
    settings = settings or Settings()
    book = ENDPOINTS if book is None else book
    backend = backend or settings.backend
    if backend not in DEPLOY_BACKENDS:
        get_deployer(backend)  # raises the message naming the choices
    validate_name(name, what="--name", max_length=MAX_RUN_NAME)
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"timeout {timeout:g} must be a positive number of seconds")
    deployer = get_deployer(backend)
    stages = deployer.stages
    if runtime:  # KServe's stock runtime: refused early when it cannot serve this model
        check_runtime_request(runtime, backend=backend, kserve=kserve, model=model,
                              predictor=predictor)
        stages = RUNTIME_STAGES
    options = dict(replicas=replicas, kserve=kserve, runtime=runtime, expose=expose,
                   cpu=cpu, memory=memory)
    deployer.check(settings, **options)
    builds_image = backend in ("docker", "kubernetes") and not runtime
    if builds_image:  # its base image's registry answers, else the copy-image command
        from fairing_magics.base_image import check_base_reachable

        check_base_reachable(settings.base_image, settings.registry,
                             insecure_registries=settings.insecure_registries)

    view = None
    if emit is None:
        view = make_endpoint_view(settings.ui, title=name, backend=backend, stages=stages,
                                  log_lines=settings.log_lines)
        if show is not None:
            show(view)
        emit = view.handle
    started = time.perf_counter()
    try:
        with ev.stage(emit, "package") as step:
            target, source = resolve_model(model, from_run=from_run, storage_uri=storage_uri,
                                           settings=settings)
            package = package_model(target, predictor=predictor)
            step.detail = f"{package.description}; {', '.join(package.requirements)}"
        for note in package.notes:
            emit(ev.Notice(note, "warning"))
        if builds_image:
            for notice in image_notices(settings.base_image, settings.registry, settings.index_url,
                                        settings.extra_index_urls):
                emit(ev.Notice(notice, "warning"))
        existing = book.get(name)
        server = deployer.start(package, name=name, settings=settings, emit=emit, timeout=timeout,
                                images=images, **options)
    except FairingError as exc:
        emit(ev.Finished(ev.FAILED, str(exc).splitlines()[0], time.perf_counter() - started))
        raise
    except BaseException as exc:
        emit(ev.Finished(ev.FAILED, f"{type(exc).__name__}: {exc}", time.perf_counter() - started))
        raise

    if existing is not None:
        old = existing.replace_server(server, model=package.description, source=source)
        if old is not None and not _same_objects(old, server):
            old.stop()  # local: the new server is ready, the old one goes
        endpoint = existing
    else:
        endpoint = Endpoint(name, server, model=package.description, source=source,
                            on_delete=book.discard)
        book.add(endpoint)
    if view is not None:
        endpoint.view = view  # it says Deleted after %fairing_undeploy
    emit(ev.PhaseChanged(READY, server.url))
    emit(ev.Finished(ev.SUCCEEDED, f"{name} ready at {endpoint.predict_url}",
                     time.perf_counter() - started))
    detach = getattr(server, "detach_events", None)
    if detach is not None:
        detach()  # the access log of later requests must not print into later cells
    return endpoint


def plan_deploy(model: Any = None, *, name: str, backend: str = "",
                settings: Settings | None = None,
                predictor: Any = None, from_run: str | None = None, storage_uri: str | None = None,
                replicas: int = 1, kserve: bool = False, runtime: str = "",
                expose: str = "clusterip", cpu: str = "", memory: str = "") -> str:
    """``--dry-run``: what :func:`deploy` would do, as text (the model, its packages, the image
    and the Kubernetes YAML). Nothing is built, pushed, started or read from storage."""
    settings = settings or Settings()
    backend = backend or settings.backend
    validate_name(name, what="--name", max_length=MAX_RUN_NAME)
    deployer = get_deployer(backend)
    if runtime:
        check_runtime_request(runtime, backend=backend, kserve=kserve, model=model,
                              predictor=predictor)
    deployer.check(settings, replicas=replicas, kserve=kserve, runtime=runtime, expose=expose,
                   cpu=cpu, memory=memory)
    lines = [f"Dry run of endpoint {name!r} on the {backend} backend; nothing was built, "
             "pushed or started."]
    package = None
    if from_run:
        root = storage_uri or settings.storage or str(settings.home)
        from fairing_magics.storage import describe_run_folder

        lines.append(f"Model: the single output (or 'model') of run {from_run}, read from "
                     f"outputs.pkl in {describe_run_folder(root, from_run + '*')} when deploying")
    elif isinstance(model, str):
        lines.append(f"Model: read from {model} when deploying")
    else:
        if model is None:
            raise ConfigError("nothing to deploy: give a model (a variable) or --from-run RUN")
        package = package_model(model, predictor=predictor)
        custom = " with a custom predictor" if predictor is not None else ""
        lines.append(f"Model: {package.description}{custom}")
        lines.append(f"Model folder: {len(package.members)} files, {package.size} bytes, "
                     f"{package.digest[:19]}")
        lines.append("Packages: " + ", ".join(package.requirements))
        lines.extend(f"Note: {note}" for note in package.notes)
    if runtime:
        # The deploy saves the model as it comes out of its package: so does the plan, or the
        # folder (the saved files' digest) it shows would not be the one the deploy uploads.
        saved = (save_runtime_model(runtime, load_package_model(package))
                 if package is not None else None)
        lines.extend(describe_runtime_plan(saved, name=name, runtime=runtime, settings=settings,
                                           replicas=replicas, cpu=cpu, memory=memory))
        return "\n".join(lines)
    if backend == "local":
        lines.append("Would run: serve.py with this kernel's Python on a free port of 127.0.0.1, "
                     f"ready when GET /v1/models/{name} answers 200")
        return "\n".join(lines)
    if backend == "docker":
        lines.extend(describe_docker_plan(package, name=name, settings=settings))
        return "\n".join(lines)
    repository = target_repository(settings.registry)
    lines.append("")
    lines.extend(describe_registry_plan(settings.registry))
    lines.append(f"Base image: {settings.base_image} (resolved to a digest at build time)")
    lines.append("Layers: base, dependencies (" + (", ".join(package.requirements) if package else
                                                   "the model's pinned packages") +
                 f"), model folder with serve.py at {MODEL_DIR}")
    lines.append(describe_index(settings))
    for notice in image_notices(settings.base_image, settings.registry, settings.index_url,
                                settings.extra_index_urls):
        lines.extend(["", "Warning: " + notice])
    objects = endpoint_objects(name, f"{repository}@sha256:<digest of the built image>",
                               settings=settings, namespace=settings.namespace, package=package,
                               replicas=replicas, kserve=kserve, expose=expose, cpu=cpu,
                               memory=memory)
    what = "an InferenceService" if kserve else "a Deployment and a Service"
    lines += ["", f"Kubernetes: would create (or patch, rolling out) {what} in namespace "
              f"{settings.namespace or '(the context or pod namespace)'}:", "",
              to_yaml(objects).rstrip("\n")]
    return "\n".join(lines)


def _same_objects(old, new) -> bool:
    """True when a rollout updated the old server's objects in place (a Deployment patched)."""
    same = getattr(new, "same_objects", None)
    return bool(same and same(old))


def undeploy(name: str, *, settings: Settings | None = None, backend: str = "",
             book: EndpointBook | None = None) -> str:
    """Remove endpoint ``name``: this kernel's, or on a cluster or a Docker Engine one an earlier
    kernel made.

    Returns a one-line summary. Raises ConfigError when there is no such endpoint.
    """
    book = ENDPOINTS if book is None else book
    endpoint = book.get(name)
    if endpoint is not None:
        where = endpoint.backend
        endpoint.delete()
        return f"endpoint {name} ({where}) deleted"
    settings = settings or Settings()
    backend = backend or settings.backend
    if backend == "kubernetes":
        if KubernetesDeployer().delete_named(name, settings):
            return f"endpoint {name} (kubernetes) deleted"
    if backend == "docker":
        if DockerDeployer().delete_named(name, settings):
            return f"endpoint {name} (docker) deleted"
    raise ConfigError(f"there is no endpoint {name!r} (this kernel has: "
                      f"{', '.join(sorted(e.name for e in book.all())) or 'none'})")
