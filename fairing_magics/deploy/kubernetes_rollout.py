"""Rolling an endpoint out on a cluster, and following it until it answers.

:func:`roll_out` applies the endpoint's objects (stage ``apply``), waits until every replica of
the new model is ready and the old ones are gone (``rollout``), then until
``GET /v1/models/NAME`` answers 200 where the kernel reaches it (``ready``). Meanwhile
:class:`RolloutFollower` turns each pod's phase and waiting reason, and the pods' events
(``Pulling``, ``BackOff``, ``Unhealthy``), into events for the panel, and fails at once, with the
container's log, when a new pod crashes (``CrashLoopBackOff``, a non-zero exit) or its image
cannot be pulled. On failure nothing is left behind: new objects are deleted, updated ones get
their previous spec back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.deploy.endpoint import READY, ROLLING_OUT, server_failure
from fairing_magics.deploy.kubernetes_objects import (
    POLL_SECONDS,
    EndpointObjects,
    KubernetesServer,
    apply_objects,
    condition,
    delete_objects,
    node_address,
    restore_objects,
    service_url,
)
from fairing_magics.errors import ClusterError, DeployError, FairingError, FairingTimeout
from fairing_magics.kube.api_resources import (
    DEPLOYMENT,
    EVENT,
    INFERENCESERVICE,
    NODE,
    POD,
    SERVICE,
)
from fairing_magics.kube.client import ClusterClient

#: Waiting reasons of a new pod that will not fix themselves.
FATAL_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerError", "CreateContainerConfigError", "ErrImageNeverPull")


def roll_out(client: ClusterClient, rendered: list[dict], objects: EndpointObjects, *,
             image: str, replicas: int, expose: str, timeout: float,
             emit: Callable[[object], None], what: str) -> KubernetesServer:
    """Apply the endpoint's objects and follow the rollout until it answers; on failure, delete
    new objects or give updated ones their previous spec back. ``image`` tells the new pods from
    the old ones ("" when KServe picks the image: a stock runtime's)."""
    with ev.stage(emit, "apply") as step:
        undo = apply_objects(client, rendered,
                             notice=lambda text: emit(ev.Notice(text, "warning")))
        made = "InferenceService" if objects.kserve else "Deployment + Service"
        step.detail = f"{'updated' if undo else 'created'} {made} in {client.namespace}"
    try:
        follower = RolloutFollower(client, objects, image, replicas, emit)
        emit(ev.PhaseChanged(ROLLING_OUT, what))
        deadline = time.monotonic() + timeout
        with ev.stage(emit, "rollout"):
            follower.wait_rolled_out(deadline)
        with ev.stage(emit, "ready") as step:
            server = follower.wait_reachable(deadline, expose)
            server.image = image
            step.detail = server.url
        return server
    except BaseException as exc:
        emit(ev.Notice(("rolling back to the previous model" if undo else
                        f"removing the objects of {objects.name}"), "warning"))
        try:
            restore_objects(client, undo) if undo else delete_objects(client, objects)
        except FairingError as cleanup:
            if isinstance(exc, FairingError):
                raise type(exc)(f"{exc}\nAlso, cleaning up failed: {cleanup}") from exc
        raise


def describe_pod(pod: dict) -> tuple[str, str, str]:
    """(phase for people, detail, fatal reason or '') of a pod dict, from its container
    states."""
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
            restarted = container.get("restartCount", 0) >= 1
            if not fatal and last and last.get("exitCode") and restarted:
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


class RolloutFollower:
    """Follows one endpoint's rollout: pod phases and events become events; crashes fail it."""

    def __init__(self, client: ClusterClient, objects: EndpointObjects, image: str,
                 replicas: int, emit: Callable[[object], None]):
        self.client, self.objects, self.image = client, objects, image
        self.replicas, self.emit = replicas, emit
        self._pod_states: dict[str, tuple[str, str]] = {}
        self._events_seen: set[tuple] = set()
        self._isvc: dict = {}

    def wait_rolled_out(self, deadline: float) -> None:
        """Until every replica of the new image is ready and the old ones are gone."""
        while True:
            pods = self._watch_pods()
            if self._rolled_out(pods):
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{n}: {s[0]}" for n, s in sorted(self._pod_states.items()))
                raise FairingTimeout(
                    f"endpoint {self.objects.name} was not rolled out in time "
                    f"({states or 'no pods'}). Its pods' events are shown above; raise the "
                    "timeout if the image is large, or check the cluster's capacity.")
            time.sleep(POLL_SECONDS)

    def _rolled_out(self, pods: list[dict]) -> bool:
        ns, name = self.objects.namespace, self.objects.name
        if self.objects.kserve:
            isvc = self.client.get(INFERENCESERVICE, name, namespace=ns)
            self._isvc = isvc
            status = isvc.get("status") or {}
            observed = status.get("observedGeneration")
            if observed is not None and observed < (isvc["metadata"].get("generation") or 1):
                return False  # KServe has not seen the new spec yet: Ready is the old model's
            return condition(isvc, "Ready").get("status") == "True" and bool(status.get("url"))
        dep = self.client.get(DEPLOYMENT, name, namespace=ns)
        status = dep.get("status") or {}
        if (status.get("observedGeneration") or 0) < (dep["metadata"].get("generation") or 1):
            return False
        new = [p for p in pods if self._is_new(p)]
        ready_new = sum(1 for p in new if describe_pod(p)[0] == READY)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return (ready_new >= self.replicas
                and (status.get("updatedReplicas") or 0) >= self.replicas
                and (status.get("readyReplicas") or 0) >= self.replicas
                and len(live) <= self.replicas)

    def _is_new(self, pod: dict) -> bool:
        if not self.image:  # a stock runtime: KServe picks the image, every pod is of this rollout
            return True
        containers = (pod.get("spec") or {}).get("containers") or []
        return any(c.get("image") == self.image for c in containers)

    def _watch_pods(self) -> list[dict]:
        ns = self.objects.namespace
        pods = self.client.list(POD, namespace=ns,
                                label_selector=self.objects.pod_selector)["items"]
        names = {p["metadata"]["name"] for p in pods} | {self.objects.name}
        try:
            events = self.client.list(EVENT, namespace=ns)["items"]
        except ClusterError:
            events = []  # events are a help; a cluster that hides them still deploys
        for event in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime")
                            or ""):
            involved = event.get("involvedObject") or {}
            if involved.get("name") not in names:
                continue
            key = (event["metadata"].get("uid") or event["metadata"].get("name"),
                   event.get("count"))
            if key in self._events_seen:
                continue
            self._events_seen.add(key)
            level = "warning" if event.get("type") == "Warning" else "info"
            self.emit(ev.Notice(f"{event.get('reason')}: {event.get('message')}", level,
                                involved.get("name", "")))
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
        text = ""
        for previous in (True, False):
            try:
                text = self.client.read_log(pod_name, namespace=self.objects.namespace,
                                            tail_lines=30, previous=previous)
            except ClusterError:
                continue
            if text.strip():
                break
        hint = ("the image cannot be pulled: check --registry, and that the cluster may pull "
                "from it (imagePullSecrets, ECR permissions of the node role)"
                if "Image" in reason else "")
        return server_failure(f"endpoint {self.objects.name}: pod {pod_name}",
                              f"failed ({reason})", (text or "").splitlines(), hint=hint)

    def wait_reachable(self, deadline: float, expose: str) -> KubernetesServer:
        """Resolve the URL and wait until ``GET /v1/models/NAME`` answers 200 there."""
        while True:
            server = self._server()
            if server is not None:
                try:
                    status, _ = server.request("GET", f"/v1/models/{self.objects.name}",
                                               timeout=5)
                    if status == 200:
                        return server
                except OSError:
                    pass
            if time.monotonic() > deadline:
                if server is None and expose == "loadbalancer":
                    what = "the load balancer has no address yet"
                else:
                    where = server.url if server else "?"
                    what = f"GET /v1/models/{self.objects.name} at {where} is not 200"
                raise FairingTimeout(f"endpoint {self.objects.name} rolled out but is not "
                                     f"reachable in time: {what}")
            self._watch_pods()
            time.sleep(POLL_SECONDS)

    def _server(self) -> KubernetesServer | None:
        ns, name = self.objects.namespace, self.objects.name
        access = self.client.access
        in_cluster = access.source == "in-cluster"
        if self.objects.kserve:
            status = self._isvc.get("status") or {}
            url = ((status.get("address") or {}).get("url") if in_cluster else "") \
                or status.get("url") or ""
            return KubernetesServer(self.client, self.objects, url.rstrip("/")) if url else None
        service = self.client.get(SERVICE, name, namespace=ns)
        address = ""
        if (service.get("spec") or {}).get("type") == "NodePort":
            nodes = self.client.list(NODE)["items"]
            address = next((a for a in map(node_address, nodes) if a), "")
        url = service_url(service, in_cluster=in_cluster, node_address=address)
        if url:
            return KubernetesServer(self.client, self.objects, url)
        if (service.get("spec") or {}).get("type") == "ClusterIP":
            base = access.host.rstrip("/")
            return KubernetesServer(self.client, self.objects,
                                    f"{base}/api/v1/namespaces/{ns}/services/{name}:http/proxy",
                                    proxied=True)
        return None
