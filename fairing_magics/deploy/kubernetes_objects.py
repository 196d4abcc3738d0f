"""An endpoint's objects on a cluster: applied, read, reached, deleted.

An endpoint is an ``apps/v1`` Deployment and a ``v1`` Service, or a KServe InferenceService
(:class:`EndpointObjects` names which). :func:`apply_objects` creates each object, or
merge-patches it when the name exists, which rolls the new model out; it hands back the previous
state of what it updated, and :func:`restore_objects` puts that back after a failed rollout.
:func:`delete_objects` deletes them and waits until their pods are gone.

Where the kernel reaches the endpoint (:func:`service_url`), for a Deployment's Service:

- a load balancer's address when the Service has one (``status.loadBalancer.ingress``: EKS
  reports a **hostname**, others an IP), waited for with ``expose="loadbalancer"``;
- ``nodeport``: a node's ExternalIP (else InternalIP) and the Service's nodePort;
- ``clusterip`` from inside the cluster (a Kubeflow notebook):
  ``http://NAME.NS.svc.cluster.local:PORT``; from outside, the API server's service proxy, with
  the kubeconfig's credentials (:class:`KubernetesServer` with ``proxied``).

For an InferenceService, its ``status.address.url`` in the cluster, else ``status.url``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import urllib3

from fairing_magics.deploy.endpoint import READY, http_request
from fairing_magics.errors import ClusterError, FairingTimeout
from fairing_magics.kube.access import load_cluster_access
from fairing_magics.kube.api_resources import (
    API_RESOURCES,
    DEPLOYMENT,
    INFERENCESERVICE,
    POD,
    SERVICE,
)
from fairing_magics.kube.client import ClusterClient, Notice
from fairing_magics.kube.labels import endpoint_pod_selector

POLL_SECONDS = 0.5
DELETE_TIMEOUT = 60.0


def cluster_client(settings) -> ClusterClient:
    """A client of the configured cluster (``%fairing_config --context/--namespace``)."""
    return ClusterClient(load_cluster_access(context=settings.context or None,
                                             namespace=settings.namespace or None))


@dataclass(frozen=True)
class EndpointObjects:
    """What one endpoint is made of on the cluster: an InferenceService with ``kserve``, else a
    Deployment and a Service, all called ``name``."""

    name: str
    namespace: str
    kserve: bool

    @property
    def pod_selector(self) -> str:
        return endpoint_pod_selector(self.name, kserve=self.kserve)

    @property
    def owner(self):
        """The object whose pods serve: the InferenceService or the Deployment."""
        return INFERENCESERVICE if self.kserve else DEPLOYMENT


class KubernetesServer:
    """A deployed endpoint on a cluster: its objects, its URL and how to reach it."""

    backend = "kubernetes"

    def __init__(self, client: ClusterClient, objects: EndpointObjects, url: str, *,
                 proxied: bool = False, image: str = ""):
        self.client = client
        self.objects = objects
        self.url = url
        self.proxied = proxied
        self.image = image

    # -- Server protocol ---------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        if not self.proxied:
            return http_request(self.url, method, path, body, timeout)
        return proxy_request(self.client, self.objects, method, path, body, timeout)

    def logs(self, tail: int | None = None) -> str:
        return read_pod_logs(self.client, self.objects, tail=tail)

    def status(self) -> str:
        return read_status(self.client, self.objects)

    def stop(self) -> None:
        delete_objects(self.client, self.objects)

    def same_objects(self, other) -> bool:
        return isinstance(other, KubernetesServer) and other.objects == self.objects


# -- reaching it (pure, but for the proxy) --------------------------------------------------


def service_url(service: dict, *, in_cluster: bool, node_address: str = "") -> str:
    """Where the kernel reaches a Service (see the module docstring); empty when not (yet)
    known."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    ports = spec.get("ports") or [{}]
    port = ports[0].get("port")
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("hostname") or ingress.get("ip")
        if host:
            ingress_ports = ingress.get("ports") or []
            return f"http://{host}:{ingress_ports[0].get('port') if ingress_ports else port}"
    kind = spec.get("type") or "ClusterIP"
    if kind == "LoadBalancer" or not port:
        return ""  # the load balancer is still being provisioned
    if kind == "NodePort" and node_address and ports[0].get("nodePort"):
        return f"http://{node_address}:{ports[0]['nodePort']}"
    if in_cluster:
        namespace = meta.get("namespace") or "default"
        return f"http://{meta.get('name')}.{namespace}.svc.cluster.local:{port}"
    return ""


def node_address(node: dict) -> str:
    """A node's ExternalIP, else its InternalIP, else empty."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return address["address"]
    return ""


def proxy_request(client: ClusterClient, objects: EndpointObjects, method: str, path: str,
                  body: bytes | None, timeout: float) -> tuple[int, bytes]:
    """A request to a ClusterIP Service through the API server's service proxy, with the
    client's credentials and TLS settings. The answer is the model server's, whatever its
    status; the request is not retried (a prediction is the caller's to repeat)."""
    proxy = f"{SERVICE.path(objects.namespace, objects.name)}:http/proxy{path}"
    try:
        reply = client.send(method, proxy, body=body, timeout=timeout, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise ConnectionError(f"the API server's service proxy at {client.access.host} cannot "
                              f"be reached: {exc}") from exc
    return reply.status, reply.data


# -- reading it -------------------------------------------------------------------------------


def read_pod_logs(client: ClusterClient, objects: EndpointObjects, *,
                  tail: int | None = None) -> str:
    """Every pod's log (``tail`` last lines each), each line prefixed by ``[pod] ``."""
    pods = client.list(POD, namespace=objects.namespace,
                       label_selector=objects.pod_selector)["items"]
    out = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        name = pod["metadata"]["name"]
        try:
            text = client.read_log(name, namespace=objects.namespace, tail_lines=tail)
        except ClusterError as exc:
            text = f"(no log: {exc})\n"
        out.extend(f"[{name}] {line}\n" for line in (text or "").splitlines())
    return "".join(out)


def read_status(client: ClusterClient, objects: EndpointObjects) -> str:
    """``Ready``, ``Unavailable (r/n ready)``, ``Deleted`` (from the Deployment or
    InferenceService)."""
    try:
        owner = client.get(objects.owner, objects.name, namespace=objects.namespace)
    except Exception as exc:  # noqa: BLE001 - a status line must not raise
        return "Deleted" if getattr(exc, "status", None) == 404 else \
            f"Unknown ({type(exc).__name__})"
    if objects.kserve:
        ready = condition(owner, "Ready")
        return READY if ready.get("status") == "True" else \
            f"NotReady ({ready.get('reason') or 'pending'})"
    want = (owner.get("spec") or {}).get("replicas", 1)
    ready_replicas = (owner.get("status") or {}).get("readyReplicas") or 0
    return READY if ready_replicas >= want else \
        f"Unavailable ({ready_replicas}/{want} ready)"


def condition(obj: dict, kind: str) -> dict:
    """The condition of type ``kind`` of an object's status ({} when it has none)."""
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return {}


# -- changing it ------------------------------------------------------------------------------


def apply_objects(client: ClusterClient, objects: list[dict],
                  notice: Notice | None = None) -> list[dict]:
    """Create each object, or merge-patch it when it exists (a rollout). Returns, for updated
    objects, their previous state (to roll back to); empty when everything was new. ``notice``
    hears the API server's warnings (see :mod:`fairing_magics.kube.fieldvalidation`)."""
    previous: list[dict] = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace") or client.namespace
        resource = API_RESOURCES[kind.lower()]
        try:
            current = client.get(resource, name, namespace=ns, missing_ok=True)
            if current is None:
                client.create(resource, obj, namespace=ns, notice=notice)
                continue
            if kind == "Service" and (current.get("spec") or {}).get("type") == obj["spec"]["type"]:
                continue  # same shape: keep it (and its clusterIP and nodePort) as it is
            current.setdefault("kind", kind)
            body = {"metadata": {"labels": obj["metadata"].get("labels"),
                                 "annotations": obj["metadata"].get("annotations")},
                    "spec": _patchable_spec(kind, obj["spec"])}
            client.patch(resource, name, body, namespace=ns, notice=notice)
            previous.append(current)
        except ClusterError:
            if previous:
                restore_objects(client, previous)
            raise
    return previous


def restore_objects(client: ClusterClient, previous: list[dict]) -> None:
    """Put updated objects back as they were (their spec), after a failed rollout."""
    for obj in previous:
        kind, meta = obj["kind"], obj["metadata"]
        spec = _patchable_spec(kind, obj["spec"])
        for immutable in ("clusterIP", "clusterIPs"):
            spec.pop(immutable, None)
        client.patch(API_RESOURCES[kind.lower()], meta["name"], {"spec": spec},
                     namespace=meta["namespace"])


def delete_objects(client: ClusterClient, objects: EndpointObjects, *,
                   wait: float = DELETE_TIMEOUT) -> bool:
    """Delete the endpoint's objects and wait until its pods are gone; True if any existed."""
    ns, name = objects.namespace, objects.name
    steps = ([(INFERENCESERVICE, "Foreground")] if objects.kserve else
             [(DEPLOYMENT, "Foreground"), (SERVICE, "")])
    found = False
    for resource, propagation in steps:
        found = client.delete(resource, name, namespace=ns, propagation=propagation) or found
    # Foreground deletion: the owner goes once its pods are gone; wait for both.
    deadline = time.monotonic() + wait
    while True:
        left = [p["metadata"]["name"] for p in client.list(
            POD, namespace=ns, label_selector=objects.pod_selector)["items"]]
        if not left:
            try:
                if client.get(objects.owner, name, namespace=ns, missing_ok=True) is not None:
                    left = [name]
            except ClusterError:
                if not objects.kserve:
                    raise
        if not left:
            return found
        if time.monotonic() > deadline:
            raise FairingTimeout(f"endpoint {name}: still being deleted after {wait:g} s "
                                 f"({', '.join(left)}); it will go on its own")
        time.sleep(POLL_SECONDS)


def _patchable_spec(kind: str, spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    if kind == "Deployment":
        spec.pop("selector", None)  # immutable; ours never changes
    return spec
