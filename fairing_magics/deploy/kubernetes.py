"""The Kubernetes deployer: a serving image, a Deployment and a Service (or an InferenceService).

Image: the model's serving image (:mod:`fairing_magics.image.serving`), built and pushed to
``--registry`` through the kernel's one build-and-publish path
(:meth:`~fairing_magics.image.publish.ImageService.publish`) and referred to by digest.

Objects (:func:`endpoint_options`, :func:`render_objects`, pure): an ``apps/v1`` Deployment with
a readiness probe on ``GET /v1/models/NAME`` and a ``v1`` Service, or with ``kserve=True`` a
``serving.kserve.io/v1beta1`` InferenceService running the same image. They are applied and
followed until the endpoint answers by :mod:`.kubernetes_rollout` (on failure nothing is left
behind), and reached, read and deleted through :mod:`.kubernetes_objects`. With ``--runtime``
no image is built: :mod:`.kserve_runtime` serves the model with KServe's stock runtime.
"""

from __future__ import annotations

from collections.abc import Callable

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
from fairing_magics.image.publish import SERVING, ImageService, target_repository
from fairing_magics.image.serving import SERVING_PORT
from fairing_magics.kube.options import DeployOptions
from fairing_magics.kube.serving import render_endpoint

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
        image = str(images.publish(package, builder=SERVING, repository=repository,
                                   base_image=settings.base_image, tag=name, emit=emit))
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
