"""The Kubernetes deployer: a serving image, a Deployment and a Service (or an InferenceService).

Image (no Docker daemon, nothing run in it): the base image (``--base-image``), the dependency
layer of the model's pinned requirements at ``/fairing/deps`` (shared with training images and
cached), and a small model layer at ``/fairing/model`` (the model folder with ``serve.py``). The
image runs ``python3 /fairing/model/serve.py /fairing/model`` and its config sets ``PORT=8080``:
the port belongs to the image, so the pod spec does not repeat it (and a platform that hands a
pod its port through ``PORT`` can). It is pushed to ``--registry`` (ECR repositories are made
when missing) and referred to by digest.

Objects (``apps/v1`` Deployment with a readiness probe on ``GET /v1/models/NAME`` + ``v1``
Service, or with ``kserve=True`` a ``serving.kserve.io/v1beta1`` InferenceService running the
same image): created, or patched when the name exists, which rolls the new model out. The
deployer then follows the rollout: each pod's phase and waiting reason, the pods' events
(``Pulling``, ``BackOff``, ``Unhealthy``), and it fails at once, with the container's log, when
a new pod crashes (``CrashLoopBackOff``, a non-zero exit) or its image cannot be pulled. On
failure nothing is left behind: new objects are deleted, updated ones get their previous spec back.

Where the kernel reaches the endpoint (:func:`service_url`), for a Deployment's Service:

- a load balancer's address when the Service has one (``status.loadBalancer.ingress``: EKS
  reports a **hostname**, others an IP), waited for with ``expose="loadbalancer"``;
- ``nodeport``: a node's ExternalIP (else InternalIP) and the Service's nodePort;
- ``clusterip`` from inside the cluster (a Kubeflow notebook): ``http://NAME.NS.svc.cluster.local:PORT``;
  from outside, the API server's service proxy, with the kubeconfig's credentials.

For an InferenceService, its ``status.address.url`` in the cluster, else ``status.url``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

from fairing_magics import events as ev
from fairing_magics.deploy.endpoint import READY, ROLLING_OUT, http_request, server_failure
from fairing_magics.deploy.model import ModelPackage
from fairing_magics.errors import ClusterError, DeployError, FairingError, FairingTimeout

MODEL_DIR = "/fairing/model"
SERVING_PORT = 8080
MODEL_DIGEST_LABEL = "fairing.model.digest"
POLL_SECONDS = 0.5
DELETE_TIMEOUT = 60.0
#: Waiting reasons of a new pod that will not fix themselves.
FATAL_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerError", "CreateContainerConfigError", "ErrImageNeverPull")
ISVC_LABEL = "serving.kserve.io/inferenceservice"


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


# -- the objects (pure) ---------------------------------------------------------------------------


def endpoint_options(name: str, image: str, *, namespace: str = "", package: ModelPackage | None = None,
                     replicas: int = 1, kserve: bool = False, expose: str = "clusterip", cpu: str = "",
                     memory: str = "", istio_inject: bool = False, digest: str = ""):
    """The :class:`~fairing_magics.backends.kubernetes.specs.DeployOptions` of an endpoint
    (``digest``: the model's, when there is no ``package`` yet)."""
    from fairing_magics.backends.kubernetes.specs import DeployOptions

    return DeployOptions(name=name, image=image or "placeholder", namespace=namespace, run_name=name,
                         replicas=replicas, port=SERVING_PORT, model_name=name, expose=expose,
                         kserve=kserve, cpu=cpu, memory=memory, istio_inject=istio_inject,
                         env={"FAIRING_MODEL_NAME": name},
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


def render_objects(opts) -> list[dict]:
    """The endpoint's objects, without the ``PORT`` variable in the pod spec (the image sets it;
    see the module docstring)."""
    from fairing_magics.backends.kubernetes.specs import render_endpoint

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


def service_url(service: dict, *, in_cluster: bool, node_address: str = "") -> str:
    """Where the kernel reaches a Service (see the module docstring); empty when not (yet) known."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    ports = spec.get("ports") or [{}]
    port = ports[0].get("port") or SERVING_PORT
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("hostname") or ingress.get("ip")
        if host:
            ingress_ports = ingress.get("ports") or []
            return f"http://{host}:{ingress_ports[0].get('port') if ingress_ports else port}"
    kind = spec.get("type") or "ClusterIP"
    if kind == "LoadBalancer":
        return ""  # the load balancer is still being provisioned
    if kind == "NodePort" and node_address and ports[0].get("nodePort"):
        return f"http://{node_address}:{ports[0]['nodePort']}"
    if in_cluster:
        return f"http://{meta.get('name')}.{meta.get('namespace') or 'default'}.svc.cluster.local:{port}"
    return ""


def node_address(node: dict) -> str:
    """A node's ExternalIP, else its InternalIP, else empty."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return address["address"]
    return ""


def describe_pod(pod: dict) -> tuple[str, str, str]:
    """(phase for people, detail, fatal reason or '') of a pod dict, from its container states."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True":
        return READY, "", ""
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        last = (container.get("lastState") or {}).get("terminated")
        if waiting:
            reason = waiting.get("reason") or "Waiting"
            detail = waiting.get("message") or ""
            if last and last.get("exitCode"):
                detail = f"exited {last['exitCode']}" + (f": {detail}" if detail else "")
            fatal = reason if reason in FATAL_WAITING else ""
            if not fatal and last and last.get("exitCode") and container.get("restartCount", 0) >= 1:
                fatal = f"exit code {last['exitCode']}"
            return reason, detail, fatal
        if terminated:
            code = terminated.get("exitCode")
            reason = terminated.get("reason") or "Terminated"
            return reason, f"exit code {code}", (f"exit code {code}" if code else "")
    unscheduled = conditions.get("PodScheduled") or {}
    if unscheduled.get("status") == "False":
        return "Unschedulable", unscheduled.get("message") or "", ""
    return phase, "", ""


def _plain(obj) -> dict:
    """A client model object or dict as a JSON-like dict (camelCase keys, as the API has them)."""
    if isinstance(obj, dict):
        return obj
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(obj)


# -- talking to the cluster ---------------------------------------------------------------------


@dataclass
class _Objects:
    """What one endpoint is made of on the cluster."""

    name: str
    namespace: str
    kserve: bool

    @property
    def pod_selector(self) -> str:
        from fairing_magics.backends.kubernetes.specs import LABEL_ENDPOINT

        return f"{ISVC_LABEL}={self.name}" if self.kserve else f"{LABEL_ENDPOINT}={self.name}"


class KubernetesServer:
    """A deployed endpoint on a cluster: its objects, its URL and how to reach it."""

    backend = "kubernetes"

    def __init__(self, access, objects: _Objects, url: str, *, proxied: bool = False, image: str = ""):
        self.access = access
        self.objects = objects
        self.url = url
        self.proxied = proxied
        self.image = image

    # -- Server protocol ---------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        if not self.proxied:
            return http_request(self.url, method, path, body, timeout)
        return _proxy_request(self.access, self.objects, method, path, body, timeout)

    def logs(self, tail: int | None = None) -> str:
        return read_pod_logs(self.access, self.objects, tail=tail)

    def status(self) -> str:
        return read_status(self.access, self.objects)

    def stop(self) -> None:
        delete_objects(self.access, self.objects)

    def same_objects(self, other) -> bool:
        return isinstance(other, KubernetesServer) and other.objects == self.objects


def _apis(access):
    from kubernetes import client

    return (client.AppsV1Api(access.api_client), client.CoreV1Api(access.api_client),
            client.CustomObjectsApi(access.api_client))


def _not_found(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404


def _proxy_request(access, objects: _Objects, method: str, path: str, body: bytes | None,
                   timeout: float) -> tuple[int, bytes]:
    """A request to a ClusterIP Service through the API server's service proxy, with the client's
    credentials and TLS settings (its connection pool; tokens from exec plugins such as EKS's are
    refreshed by ``auth_settings``). Works the same with every client version we support."""
    import urllib3

    config = access.api_client.configuration
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for setting in (config.auth_settings() or {}).values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    url = (f"{config.host.rstrip('/')}/api/v1/namespaces/{objects.namespace}/services/"
           f"{objects.name}:http/proxy{path}")
    try:
        reply = access.api_client.rest_client.pool_manager.request(
            method, url, body=body, headers=headers, timeout=timeout, retries=False, preload_content=True)
    except urllib3.exceptions.HTTPError as exc:
        raise ConnectionError(f"the API server's service proxy at {config.host} cannot be reached: {exc}") from exc
    return reply.status, reply.data


def read_pod_logs(access, objects: _Objects, *, tail: int | None = None) -> str:
    """Every pod's log (``tail`` last lines each), each line prefixed by ``[pod] ``."""
    from fairing_magics.backends.kubernetes.cluster import api_call
    from fairing_magics.backends.kubernetes.specs import POD

    _, core, _ = _apis(access)
    with api_call(access, "list", POD, namespace=objects.namespace):
        pods = core.list_namespaced_pod(objects.namespace, label_selector=objects.pod_selector).items
    out = []
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        name = pod.metadata.name
        kwargs = {"tail_lines": tail} if tail else {}
        try:
            with api_call(access, "get", "pods/log", namespace=objects.namespace, name=name):
                text = core.read_namespaced_pod_log(name, objects.namespace, **kwargs)
        except ClusterError as exc:
            text = f"(no log: {exc})\n"
        out.extend(f"[{name}] {line}\n" for line in (text or "").splitlines())
    return "".join(out)


def read_status(access, objects: _Objects) -> str:
    """``Ready``, ``Unavailable (r/n ready)``, ``Deleted`` (from the Deployment or InferenceService)."""
    from fairing_magics.backends.kubernetes.specs import INFERENCESERVICE

    apps, _, custom = _apis(access)
    try:
        if objects.kserve:
            isvc = custom.get_namespaced_custom_object(INFERENCESERVICE.group, INFERENCESERVICE.version,
                                                       objects.namespace, INFERENCESERVICE.plural, objects.name)
            ready = _condition(isvc, "Ready")
            return READY if ready.get("status") == "True" else f"NotReady ({ready.get('reason') or 'pending'})"
        dep = _plain(apps.read_namespaced_deployment(objects.name, objects.namespace))
    except Exception as exc:  # noqa: BLE001 - a status line must not raise
        return "Deleted" if _not_found(exc) else f"Unknown ({type(exc).__name__})"
    want = (dep.get("spec") or {}).get("replicas", 1)
    ready = (dep.get("status") or {}).get("readyReplicas") or 0
    return READY if ready >= want else f"Unavailable ({ready}/{want} ready)"


def _condition(obj: dict, kind: str) -> dict:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def delete_objects(access, objects: _Objects, *, wait: float = DELETE_TIMEOUT) -> bool:
    """Delete the endpoint's objects and wait until its pods are gone; True if any existed."""
    from fairing_magics.backends.kubernetes.cluster import api_call
    from fairing_magics.backends.kubernetes.specs import DEPLOYMENT, INFERENCESERVICE, POD, SERVICE

    apps, core, custom = _apis(access)
    ns, name = objects.namespace, objects.name
    found = False
    if objects.kserve:
        steps = [(INFERENCESERVICE, lambda: custom.delete_namespaced_custom_object(
            INFERENCESERVICE.group, INFERENCESERVICE.version, ns, INFERENCESERVICE.plural, name,
            propagation_policy="Foreground", _preload_content=False))]
    else:
        # _preload_content=False: API servers answer a delete with the object or with a Status;
        # we need neither, and deserializing the wrong one fails in some client versions.
        steps = [(DEPLOYMENT, lambda: apps.delete_namespaced_deployment(
                     name, ns, propagation_policy="Foreground", _preload_content=False)),
                 (SERVICE, lambda: core.delete_namespaced_service(name, ns, _preload_content=False))]
    for resource, call in steps:
        try:
            with api_call(access, "delete", resource, namespace=ns, name=name):
                try:
                    call()
                    found = True
                except Exception as exc:
                    if not _not_found(exc):
                        raise
        except ClusterError:
            raise
    # Foreground deletion: the owner goes once its pods are gone; wait for both.
    _resource, read_owner, _create, _patch = _crud(access, "InferenceService" if objects.kserve else "Deployment",
                                                   ns, name)
    deadline = time.monotonic() + wait
    while True:
        with api_call(access, "list", POD, namespace=ns):
            left = [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector=objects.pod_selector).items]
        if not left:
            try:
                with api_call(access, "get", _resource, namespace=ns, name=name):
                    try:
                        read_owner()
                        left = [name]
                    except Exception as exc:
                        if not _not_found(exc):
                            raise
            except ClusterError:
                if not objects.kserve:
                    raise
        if not left:
            return found
        if time.monotonic() > deadline:
            raise FairingTimeout(f"endpoint {name}: still being deleted after {wait:g} s "
                                 f"({', '.join(left)}); it will go on its own")
        time.sleep(POLL_SECONDS)


class KubernetesDeployer:
    """Serves model folders on a cluster (see the module docstring)."""

    name = "kubernetes"
    stages = ("package", "build", "push", "apply", "rollout", "ready")

    def check(self, settings, *, replicas: int = 1, kserve: bool = False, runtime: str = "",
              expose: str = "clusterip", cpu: str = "", memory: str = "") -> None:
        """Refuse bad flags and a missing registry before anything is built."""
        from fairing_magics.errors import ConfigError
        from fairing_magics.images import target_repository

        if runtime:  # no image: the model goes to S3 storage (see kserve_runtime)
            from fairing_magics.deploy.kserve_runtime import check_runtime_options

            check_runtime_options(settings, runtime=runtime, kserve=kserve, replicas=replicas, expose=expose,
                                  cpu=cpu, memory=memory)
            return
        target_repository(settings.registry)
        endpoint_options("check", "placeholder", replicas=replicas, kserve=kserve, expose=expose,
                         cpu=cpu, memory=memory)
        if kserve and expose != "clusterip":
            raise ConfigError("--expose is for Deployments: an InferenceService is exposed by KServe's "
                              "ingress (drop --expose, or drop --kserve)")

    def start(self, package: ModelPackage, *, name: str, settings, emit: Callable[[object], None],
              timeout: float = 300.0, images=None, replicas: int = 1, kserve: bool = False,
              runtime: str = "", expose: str = "clusterip", cpu: str = "", memory: str = "") -> KubernetesServer:
        """Build and push the image, apply the objects, follow the rollout until ready.

        With ``runtime``: no image; :func:`~.kserve_runtime.start_runtime_endpoint` uploads the model."""
        from fairing_magics.backends.kubernetes.cluster import load_cluster_access
        from fairing_magics.images import ImageService, target_repository

        if runtime:
            from fairing_magics.deploy.kserve_runtime import start_runtime_endpoint

            return start_runtime_endpoint(package, name=name, settings=settings, emit=emit, timeout=timeout,
                                          runtime=runtime, replicas=replicas, cpu=cpu, memory=memory)
        repository = target_repository(settings.registry)
        access = load_cluster_access(context=settings.context or None, namespace=settings.namespace or None)
        images = images or ImageService(settings)
        image = build_model_image(package, images, repository=repository, base_image=settings.base_image,
                                  tag=name, emit=emit)
        objects = endpoint_objects(name, image, settings=settings, namespace=access.namespace,
                                   package=package, replicas=replicas, kserve=kserve, expose=expose,
                                   cpu=cpu, memory=memory)
        return roll_out(access, objects, _Objects(name, access.namespace, kserve), image=image,
                        replicas=replicas, expose=expose, timeout=timeout, emit=emit,
                        what=f"{replicas} replica(s) of {image.split('@')[-1][:19]}")

    def delete_named(self, name: str, settings) -> bool:
        """Delete endpoint ``name`` (both shapes) made by any kernel; True if it existed."""
        from fairing_magics.backends.kubernetes.cluster import load_cluster_access

        access = load_cluster_access(context=settings.context or None, namespace=settings.namespace or None)
        found = delete_objects(access, _Objects(name, access.namespace, False))
        try:
            found = delete_objects(access, _Objects(name, access.namespace, True)) or found
        except ClusterError as exc:
            if "CustomResourceDefinition" not in str(exc):  # no KServe here: nothing to delete
                raise
        return found


def roll_out(access, rendered: list[dict], objects: _Objects, *, image: str, replicas: int, expose: str,
             timeout: float, emit: Callable[[object], None], what: str) -> KubernetesServer:
    """Apply the endpoint's objects and follow the rollout until it answers; on failure, delete
    new objects or give updated ones their previous spec back. ``image`` tells the new pods from
    the old ones ("" when KServe picks the image: a stock runtime's)."""
    name = objects.name
    emit(ev.StageChanged("apply", "running"))
    started = time.perf_counter()
    undo = apply_objects(access, rendered, emit)
    verb = "updated" if undo else "created"
    emit(ev.StageChanged("apply", "done", time.perf_counter() - started,
                         f"{verb} {'InferenceService' if objects.kserve else 'Deployment + Service'} "
                         f"in {access.namespace}"))
    try:
        follower = RolloutFollower(access, objects, image, replicas, emit)
        emit(ev.PhaseChanged(ROLLING_OUT, what))
        emit(ev.StageChanged("rollout", "running"))
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        follower.wait_rolled_out(deadline)
        emit(ev.StageChanged("rollout", "done", time.perf_counter() - started))
        emit(ev.StageChanged("ready", "running"))
        started = time.perf_counter()
        server = follower.wait_reachable(deadline, expose)
        server.image = image
        emit(ev.StageChanged("ready", "done", time.perf_counter() - started, server.url))
        return server
    except BaseException as exc:
        emit(ev.Notice(("rolling back to the previous model" if undo else
                        f"removing the objects of {name}"), "warning"))
        try:
            restore_objects(access, undo) if undo else delete_objects(access, objects)
        except FairingError as cleanup:
            if isinstance(exc, FairingError):
                raise type(exc)(f"{exc}\nAlso, cleaning up failed: {cleanup}") from exc
        raise


def _crud(access, kind: str, ns: str, name: str, writer=None):
    """(resource, read(), create(body), patch(body)) of one object of ``kind``; creates and
    patches go through ``writer``, an :class:`~fairing_magics.backends.kubernetes.writes.
    ObjectWriter` (``fieldValidation=Strict``, warnings as notices)."""
    from fairing_magics.backends.kubernetes.specs import DEPLOYMENT, INFERENCESERVICE, SERVICE
    from fairing_magics.backends.kubernetes.writes import ObjectWriter

    apps, core, custom = _apis(access)
    writer = writer or ObjectWriter(access, lambda event: None)
    resource = {"Deployment": DEPLOYMENT, "Service": SERVICE}.get(kind, INFERENCESERVICE)
    if kind == "Deployment":
        read = lambda: apps.read_namespaced_deployment(name, ns)  # noqa: E731
    elif kind == "Service":
        read = lambda: core.read_namespaced_service(name, ns)  # noqa: E731
    else:
        read = lambda: custom.get_namespaced_custom_object(  # noqa: E731
            INFERENCESERVICE.group, INFERENCESERVICE.version, ns, INFERENCESERVICE.plural, name)
    return (resource, read, lambda body: writer.create(resource, ns, body),
            lambda body: writer.patch(resource, ns, name, body))


def apply_objects(access, objects: list[dict],
                  emit: Callable[[object], None] | None = None) -> list[dict]:
    """Create each object, or merge-patch it when it exists (a rollout). Returns, for updated
    objects, their previous state (to roll back to); empty when everything was new."""
    from fairing_magics.backends.kubernetes.cluster import api_call
    from fairing_magics.backends.kubernetes.writes import ObjectWriter

    writer = ObjectWriter(access, emit or (lambda event: None))  # one fallback notice at most
    previous: list[dict] = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace") or access.namespace
        resource, read, create, patch = _crud(access, kind, ns, name, writer)
        try:
            with api_call(access, "get", resource, namespace=ns, name=name):
                try:
                    current = _plain(read())
                except Exception as exc:
                    if not _not_found(exc):
                        raise
                    current = None
            if current is None:
                create(obj)
                continue
            if kind == "Service" and (current.get("spec") or {}).get("type") == obj["spec"]["type"]:
                continue  # same shape: keep it (and its clusterIP and nodePort) as it is
            current.setdefault("kind", kind)
            body = {"metadata": {"labels": obj["metadata"].get("labels"),
                                 "annotations": obj["metadata"].get("annotations")},
                    "spec": _patchable_spec(kind, obj["spec"])}
            patch(body)
            previous.append(current)
        except ClusterError:
            if previous:
                restore_objects(access, previous)
            raise
    return previous


def _patchable_spec(kind: str, spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    if kind == "Deployment":
        spec.pop("selector", None)  # immutable; ours never changes
    return spec


def restore_objects(access, previous: list[dict]) -> None:
    """Put updated objects back as they were (their spec), after a failed rollout."""
    from fairing_magics.backends.kubernetes.writes import ObjectWriter

    writer = ObjectWriter(access, lambda event: None)
    for obj in previous:
        kind, meta = obj["kind"], obj["metadata"]
        _resource, _read, _create, patch = _crud(access, kind, meta["namespace"], meta["name"],
                                                 writer)
        spec = _patchable_spec(kind, obj["spec"])
        for immutable in ("clusterIP", "clusterIPs"):
            spec.pop(immutable, None)
        patch({"spec": spec})


class RolloutFollower:
    """Follows one endpoint's rollout: pod phases and events become events; crashes fail it."""

    def __init__(self, access, objects: _Objects, image: str, replicas: int, emit: Callable[[object], None]):
        self.access, self.objects, self.image, self.replicas, self.emit = access, objects, image, replicas, emit
        self.apps, self.core, self.custom = _apis(access)
        self._pod_states: dict[str, tuple[str, str]] = {}
        self._events_seen: set[tuple] = set()

    def wait_rolled_out(self, deadline: float) -> None:
        """Until every replica of the new image is ready and the old ones are gone."""
        while True:
            pods = self._watch_pods()
            if self._rolled_out(pods):
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{n}: {s[0]}" for n, s in sorted(self._pod_states.items())) or "no pods"
                raise FairingTimeout(f"endpoint {self.objects.name} was not rolled out in time ({states}). "
                                     "Its pods' events are shown above; raise the timeout if the image is "
                                     "large, or check the cluster's capacity.")
            time.sleep(POLL_SECONDS)

    def _rolled_out(self, pods: list[dict]) -> bool:
        from fairing_magics.backends.kubernetes.cluster import api_call
        from fairing_magics.backends.kubernetes.specs import DEPLOYMENT, INFERENCESERVICE

        ns, name = self.objects.namespace, self.objects.name
        if self.objects.kserve:
            with api_call(self.access, "get", INFERENCESERVICE, namespace=ns, name=name):
                isvc = self.custom.get_namespaced_custom_object(
                    INFERENCESERVICE.group, INFERENCESERVICE.version, ns, INFERENCESERVICE.plural, name)
            self._isvc = isvc
            status = isvc.get("status") or {}
            observed = status.get("observedGeneration")
            if observed is not None and observed < (isvc["metadata"].get("generation") or 1):
                return False  # KServe has not seen the new spec yet: Ready is the old model's
            return _condition(isvc, "Ready").get("status") == "True" and bool(status.get("url"))
        with api_call(self.access, "get", DEPLOYMENT, namespace=ns, name=name):
            dep = _plain(self.apps.read_namespaced_deployment(name, ns))
        status = dep.get("status") or {}
        if (status.get("observedGeneration") or 0) < (dep["metadata"].get("generation") or 1):
            return False
        new = [p for p in pods if self._is_new(p)]
        ready_new = sum(1 for p in new if describe_pod(p)[0] == READY)
        return (ready_new >= self.replicas and (status.get("updatedReplicas") or 0) >= self.replicas
                and (status.get("readyReplicas") or 0) >= self.replicas
                and len([p for p in pods if not (p["metadata"].get("deletionTimestamp"))]) <= self.replicas)

    def _is_new(self, pod: dict) -> bool:
        if not self.image:  # a stock runtime: KServe picks the image, every pod is of this rollout
            return True
        return any(c.get("image") == self.image for c in (pod.get("spec") or {}).get("containers") or [])

    def _watch_pods(self) -> list[dict]:
        from fairing_magics.backends.kubernetes.cluster import api_call
        from fairing_magics.backends.kubernetes.specs import EVENT, POD

        ns = self.objects.namespace
        with api_call(self.access, "list", POD, namespace=ns):
            pods = [_plain(p) for p in self.core.list_namespaced_pod(
                ns, label_selector=self.objects.pod_selector).items]
        names = {p["metadata"]["name"] for p in pods} | {self.objects.name}
        try:
            with api_call(self.access, "list", EVENT, namespace=ns):
                events = [_plain(e) for e in self.core.list_namespaced_event(ns).items]
        except ClusterError:
            events = []  # events are a help; a cluster that hides them still deploys
        for event in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
            involved = event.get("involvedObject") or {}
            if involved.get("name") not in names:
                continue
            key = (event["metadata"].get("uid") or event["metadata"].get("name"), event.get("count"))
            if key in self._events_seen:
                continue
            self._events_seen.add(key)
            level = "warning" if event.get("type") == "Warning" else "info"
            self.emit(ev.Notice(f"{event.get('reason')}: {event.get('message')}", level, involved.get("name", "")))
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            state, detail, fatal = describe_pod(pod)
            if pod["metadata"].get("deletionTimestamp"):
                state, fatal = "Terminating", ""
            if self._pod_states.get(pod_name) != (state, detail):
                self._pod_states[pod_name] = (state, detail)
                self.emit(ev.PhaseChanged(state, detail, pod_name))
            if fatal and self._is_new(pod):
                raise self._crash(pod_name, fatal)
        return pods

    def _crash(self, pod_name: str, reason: str) -> DeployError:
        from kubernetes.client.exceptions import ApiException

        text = ""
        for previous in (True, False):
            try:
                text = self.core.read_namespaced_pod_log(pod_name, self.objects.namespace, tail_lines=30,
                                                         previous=previous)
            except (ApiException, OSError):
                continue
            if text.strip():
                break
        hint = ("the image cannot be pulled: check --registry, and that the cluster may pull from it "
                "(imagePullSecrets, ECR permissions of the node role)" if "Image" in reason else "")
        return server_failure(f"endpoint {self.objects.name}: pod {pod_name}", f"failed ({reason})",
                              (text or "").splitlines(), hint=hint)

    def wait_reachable(self, deadline: float, expose: str) -> KubernetesServer:
        """Resolve the URL and wait until ``GET /v1/models/NAME`` answers 200 there."""
        while True:
            server = self._server()
            if server is not None:
                try:
                    status, _ = server.request("GET", f"/v1/models/{self.objects.name}", timeout=5)
                    if status == 200:
                        return server
                except OSError:
                    pass
            if time.monotonic() > deadline:
                what = ("the load balancer has no address yet" if server is None and expose == "loadbalancer"
                        else f"GET /v1/models/{self.objects.name} at {server.url if server else '?'} is not 200")
                raise FairingTimeout(f"endpoint {self.objects.name} rolled out but is not reachable in time: "
                                     f"{what}")
            self._watch_pods()
            time.sleep(POLL_SECONDS)

    def _server(self) -> KubernetesServer | None:
        from fairing_magics.backends.kubernetes.cluster import api_call
        from fairing_magics.backends.kubernetes.specs import SERVICE

        ns, name = self.objects.namespace, self.objects.name
        in_cluster = self.access.source == "in-cluster"
        if self.objects.kserve:
            status = self._isvc.get("status") or {}
            url = ((status.get("address") or {}).get("url") if in_cluster else "") or status.get("url") or ""
            return KubernetesServer(self.access, self.objects, url.rstrip("/")) if url else None
        with api_call(self.access, "get", SERVICE, namespace=ns, name=name):
            service = _plain(self.core.read_namespaced_service(name, ns))
        address = ""
        if (service.get("spec") or {}).get("type") == "NodePort":
            nodes = [_plain(n) for n in self.core.list_node().items]
            address = next((a for a in map(node_address, nodes) if a), "")
        url = service_url(service, in_cluster=in_cluster, node_address=address)
        if url:
            return KubernetesServer(self.access, self.objects, url)
        if (service.get("spec") or {}).get("type") == "ClusterIP":
            base = self.access.host.rstrip("/")
            return KubernetesServer(self.access, self.objects,
                                    f"{base}/api/v1/namespaces/{ns}/services/{name}:http/proxy", proxied=True)
        return None
