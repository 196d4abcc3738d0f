"""The Kubernetes deployer: a serving image, a Deployment and a Service (or an InferenceService).

Image (no Docker daemon, nothing run in it): the base image (``--base-image``), the dependency
layer of the model's pinned requirements at ``/fairing/deps`` (shared with training images and
cached), and a small model layer at ``/fairing/model`` (the model folder with ``serve.py``). The
image runs ``python3 /fairing/model/serve.py /fairing/model`` and its config sets ``PORT=8080``:
the port belongs to the image, so the pod spec does not repeat it (and a platform that hands a
pod its port through ``PORT`` can). It is pushed to ``--registry`` (ECR repositories are made
when missing) and referred to by digest.

Objects (:func:`endpoint_options`, :func:`render_objects`, pure): an ``apps/v1`` Deployment with
a readiness probe on ``GET /v1/models/NAME`` and a ``v1`` Service, or with ``kserve=True`` a
``serving.kserve.io/v1beta1`` InferenceService running the same image. They are applied and
followed until the endpoint answers by :mod:`.kubernetes_rollout` (on failure nothing is left
behind), and reached, read and deleted through :mod:`.kubernetes_objects`. With ``--runtime``
no image is built: :mod:`.kserve_runtime` serves the model with KServe's stock runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.deploy.kserve_runtime import check_runtime_options, start_runtime_endpoint
from fairing_magics.deploy.kubernetes_objects import (
    EndpointObjects,
    KubernetesServer,
    cluster_client,
    delete_objects,
)
from fairing_magics.deploy.kubernetes_rollout import roll_out
from fairing_magics.deploy.model import ModelPackage
from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.images import ImageService, target_repository
from fairing_magics.kube.options import DeployOptions
from fairing_magics.kube.serving import render_endpoint

MODEL_DIR = "/fairing/model"
SERVING_PORT = 8080
MODEL_DIGEST_LABEL = "fairing.model.digest"


# -- the image (pure, but for the build and push) ---------------------------------------------


def model_layer(package: ModelPackage):
    """The layer holding the model folder (``serve.py`` included) at ``/fairing/model``."""
    from fairing_magics.image.layer import entries_from_members, layer_from_entries

    short = package.digest.split(":", 1)[1][:12]
    return layer_from_entries(entries_from_members(package.members, MODEL_DIR),
                              f"fairing-magics: model layer, {package.description} ({short}) at {MODEL_DIR}")


def serving_config(package: ModelPackage, base_env: dict[str, str], *, with_deps: bool) -> dict:
    """Config changes (for ``append_layers``) that make an image serve the model folder."""
    from fairing_magics.image.layout import DEPS_DIR

    env = {"PORT": str(SERVING_PORT), "PYTHONUNBUFFERED": "1", "FAIRING_MODEL_DIR": MODEL_DIR}
    if with_deps:
        kept = [p for p in base_env.get("PYTHONPATH", "").split(":") if p and p != DEPS_DIR]
        env["PYTHONPATH"] = ":".join([DEPS_DIR, *kept])
    return {"env": env, "cmd": ["python3", f"{MODEL_DIR}/serve.py", MODEL_DIR], "workdir": MODEL_DIR,
            "labels": {MODEL_DIGEST_LABEL: package.digest}}


def build_model_image(package: ModelPackage, images, *, repository: str, base_image: str, tag: str = "",
                      emit: Callable[[object], None] = lambda event: None) -> str:
    """Build the serving image of ``package`` on ``base_image`` and push it; return ``repo@sha256:...``."""
    import sys

    from fairing_magics.aws import ensure_repository, parse_ecr_host
    from fairing_magics.image.builder import base_python
    from fairing_magics.image.deps import Target, dependency_layer, python_minor
    from fairing_magics.image.image import append_layers
    from fairing_magics.registry.reference import parse_reference

    emit(ev.StageChanged("build", "running"))
    started = time.perf_counter()
    try:
        base = images.builder.resolve_base(base_image) if base_image else None
        if base is not None:
            emit(ev.Notice(f"base image {base_image} -> {base.ref}"))
        python = base_python(base) or python_minor(f"{sys.version_info[0]}.{sys.version_info[1]}")
        target = Target(python=python, platform=base.platform if base else "linux/amd64")
        deps = dependency_layer(package.requirements, target, installer=images.builder.installer,
                                cache_dir=images.builder.cache_dir)
        layers = [layer for layer in (deps, model_layer(package)) if layer is not None]
        image = append_layers(base, layers, **serving_config(package, base.env if base else {},
                                                             with_deps=deps is not None))
    except Exception:
        emit(ev.StageChanged("build", "failed", time.perf_counter() - started))
        raise
    emit(ev.StageChanged("build", "done", time.perf_counter() - started, f"{len(image.layers)} layers"))
    emit(ev.StageChanged("push", "running"))
    started = time.perf_counter()
    try:
        ecr = parse_ecr_host(parse_reference(repository).registry)
        if ecr is not None and ensure_repository(ecr, parse_reference(repository).repository):
            emit(ev.Notice(f"created ECR repository {parse_reference(repository).repository} in {ecr.region}"))
        images.publisher.tag = tag or None
        ref = images.publisher.publish(image, repository,
                                       progress=lambda done, total, what: emit(ev.Progress(what, done, total)))
    except Exception:
        emit(ev.StageChanged("push", "failed", time.perf_counter() - started))
        raise
    emit(ev.StageChanged("push", "done", time.perf_counter() - started, ref.split("@")[-1][:19]))
    return ref


# -- the objects (pure) -----------------------------------------------------------------------


def endpoint_options(name: str, image: str, *, namespace: str = "",
                     package: ModelPackage | None = None, replicas: int = 1, kserve: bool = False,
                     expose: str = "clusterip", cpu: str = "", memory: str = "",
                     istio_inject: bool = False, digest: str = "") -> DeployOptions:
    """The :class:`~fairing_magics.kube.options.DeployOptions` of an endpoint (``digest``: the
    model's, when there is no ``package`` yet)."""
    return DeployOptions(name=name, image=image or "placeholder", namespace=namespace,
                         run_name=name, replicas=replicas, port=SERVING_PORT, model_name=name,
                         expose=expose, kserve=kserve, cpu=cpu, memory=memory,
                         istio_inject=istio_inject, env={"FAIRING_MODEL_NAME": name},
                         capture_digest=package.digest if package is not None else digest)


def endpoint_objects(name: str, image: str, *, settings, namespace: str,
                     package: ModelPackage | None = None, digest: str = "", replicas: int = 1,
                     kserve: bool = False, expose: str = "clusterip", cpu: str = "",
                     memory: str = "") -> list[dict]:
    """What an endpoint with our predictor image sends: the one rendering that ``--dry-run``
    prints and the deploy applies (Deployment + Service, or an InferenceService)."""
    return render_objects(endpoint_options(
        name, image, namespace=namespace, package=package, digest=digest, replicas=replicas,
        kserve=kserve, expose=expose, cpu=cpu, memory=memory, istio_inject=settings.istio_inject))


def render_objects(opts: DeployOptions) -> list[dict]:
    """The endpoint's objects, without the ``PORT`` variable in the pod spec (the image sets it;
    see the module docstring)."""
    objects = render_endpoint(opts)
    for obj in objects:
        spec = obj["spec"]
        pod_spec = spec.get("template", {}).get("spec") or spec.get("predictor") or {}
        for container in pod_spec.get("containers") or []:
            env = [e for e in container.get("env") or [] if e.get("name") != "PORT"]
            if env:
                container["env"] = env
            else:
                container.pop("env", None)
    return objects


# -- the deployer -----------------------------------------------------------------------------


class KubernetesDeployer:
    """Serves model folders on a cluster (see the module docstring)."""

    name = "kubernetes"
    stages = ("package", "build", "push", "apply", "rollout", "ready")

    def check(self, settings, *, replicas: int = 1, kserve: bool = False, runtime: str = "",
              expose: str = "clusterip", cpu: str = "", memory: str = "") -> None:
        """Refuse bad flags and a missing registry before anything is built."""
        if runtime:  # no image: the model goes to S3 storage (see kserve_runtime)
            check_runtime_options(settings, runtime=runtime, kserve=kserve, replicas=replicas,
                                  expose=expose, cpu=cpu, memory=memory)
            return
        target_repository(settings.registry)
        endpoint_options("check", "placeholder", replicas=replicas, kserve=kserve, expose=expose,
                         cpu=cpu, memory=memory)
        if kserve and expose != "clusterip":
            raise ConfigError("--expose is for Deployments: an InferenceService is exposed by "
                              "KServe's ingress (drop --expose, or drop --kserve)")

    def start(self, package: ModelPackage, *, name: str, settings,
              emit: Callable[[object], None], timeout: float = 300.0, images=None,
              replicas: int = 1, kserve: bool = False, runtime: str = "",
              expose: str = "clusterip", cpu: str = "", memory: str = "") -> KubernetesServer:
        """Build and push the image, apply the objects, follow the rollout until ready.

        With ``runtime``: no image; :func:`~.kserve_runtime.start_runtime_endpoint` uploads the
        model."""
        if runtime:
            return start_runtime_endpoint(package, name=name, settings=settings, emit=emit,
                                          timeout=timeout, runtime=runtime, replicas=replicas,
                                          cpu=cpu, memory=memory)
        repository = target_repository(settings.registry)
        client = cluster_client(settings)
        images = images or ImageService(settings)
        image = build_model_image(package, images, repository=repository,
                                  base_image=settings.base_image, tag=name, emit=emit)
        objects = endpoint_objects(name, image, settings=settings, namespace=client.namespace,
                                   package=package, replicas=replicas, kserve=kserve,
                                   expose=expose, cpu=cpu, memory=memory)
        return roll_out(client, objects,
                        EndpointObjects(name, client.namespace, kserve), image=image,
                        replicas=replicas, expose=expose, timeout=timeout, emit=emit,
                        what=f"{replicas} replica(s) of {image.split('@')[-1][:19]}")

    def delete_named(self, name: str, settings) -> bool:
        """Delete endpoint ``name`` (both shapes) made by any kernel; True if it existed."""
        client = cluster_client(settings)
        found = delete_objects(client, EndpointObjects(name, client.namespace, False))
        try:
            found = delete_objects(client, EndpointObjects(name, client.namespace, True)) or found
        except ClusterError as exc:
            if "CustomResourceDefinition" not in str(exc):  # no KServe here: nothing to delete
                raise
        return found
