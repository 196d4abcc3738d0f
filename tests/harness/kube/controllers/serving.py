"""Services resolve to a ready pod's port; KServe InferenceServices become a predictor
Deployment + Service and report Ready with ``status.url``.

A predictor is either ``spec.predictor.containers`` (a custom container) or
``spec.predictor.model`` (a stock runtime: resolved, downloaded and run as
:mod:`.kserve_runtimes` describes). The InferenceService's annotations reach the pods, as KServe
propagates them.

With host networking every pod listens on 127.0.0.1 and its own port (env ``PORT``). A Service
records where it leads in the annotation ``emulator.fairing.dev/endpoint: 127.0.0.1:PORT``
(and in ``status.loadBalancer.ingress``). An InferenceService's ``status.url`` is
``http://127.0.0.1:PORT`` of its predictor, so tests can call it.
"""

from __future__ import annotations

import json

from ..events import record_event
from ..resources import find_type
from ..selectors import selector_from_match_labels
from .deployments import DEPLOYMENT, template_hash
from .kserve_runtimes import RuntimeUnavailable, StorageInitializer, find_runtime, runtime_pod_spec
from .ownership import (
    SERVICE,
    is_deleting,
    is_ready,
    owned_pods,
    owner_reference,
    set_condition,
)

POD = find_type("", "v1", "pods")
ISVC = find_type("serving.kserve.io", "v1beta1", "inferenceservices")
_PREDICTOR_HASH = "emulator.fairing.dev/predictor-hash"


class ServiceController:
    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        from ..emulator import ENDPOINT_ANNOTATION, PORT_ANNOTATION
        store = self.emu.store
        for svc in store.list(SERVICE)[0]:
            meta = svc["metadata"]
            selector = svc["spec"].get("selector")
            endpoint = None
            if selector:
                matches = selector_from_match_labels({"matchLabels": selector})
                pods, _ = store.list(POD, meta["namespace"], matches)
                ready = [p for p in pods if is_ready(p) and not is_deleting(p)]
                if ready:
                    port = ready[0]["metadata"].get("annotations", {}).get(PORT_ANNOTATION)
                    endpoint = f"127.0.0.1:{port}" if port else None

            def update(s: dict, endpoint: str | None = endpoint) -> None:
                annotations = s["metadata"].setdefault("annotations", {})
                if endpoint:
                    annotations[ENDPOINT_ANNOTATION] = endpoint
                    port = int(endpoint.rsplit(":", 1)[1])
                    s.setdefault("status", {})["loadBalancer"] = {"ingress": [
                        {"ip": "127.0.0.1", "ports": [{"port": port, "protocol": "TCP"}]}]}
                else:
                    annotations.pop(ENDPOINT_ANNOTATION, None)
                    s.setdefault("status", {})["loadBalancer"] = {}
                if not annotations:
                    s["metadata"].pop("annotations")
            store.mutate(SERVICE, meta["namespace"], meta["name"], update)


class InferenceServiceController:
    def __init__(self, emu):
        self.emu = emu
        self.storage = StorageInitializer(emu.workdir / "kserve-models")

    def reconcile(self) -> None:
        if ISVC not in self.emu.served_types():
            return
        for isvc in self.emu.store.list(ISVC)[0]:
            if not is_deleting(isvc):
                self._sync(isvc)

    def _sync(self, isvc: dict) -> None:
        store, meta = self.emu.store, isvc["metadata"]
        name, ns = meta["name"], meta["namespace"]
        predictor = isvc["spec"].get("predictor") or {}
        containers = predictor.get("containers")
        model = predictor.get("model")
        if not containers and not model:
            store.mutate(ISVC, ns, name, lambda i: set_condition(
                i.setdefault("status", {}), "Ready", "False", "UnsupportedPredictor",
                "the emulator runs spec.predictor.containers or spec.predictor.model"))
            return
        if not containers:
            try:
                runtime = find_runtime(store, ns, model, self.emu.served_types())
                folder = self.storage.provide(store, ns, name, model.get("storageUri", ""),
                                              predictor.get("serviceAccountName") or "default")
            except RuntimeUnavailable as exc:
                self._not_ready(isvc, exc.reason, exc.message)
                return
            predictor = {**predictor, **runtime_pod_spec(predictor, runtime, name, folder)}
            predictor.pop("model")
        dep_name = f"{name}-predictor"
        labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor",
                  "app": f"isvc.{dep_name}"}
        pod_spec = {k: v for k, v in predictor.items()
                    if k not in ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                                 "canaryTrafficPercent", "logger", "batcher")}
        annotations = {**(meta.get("annotations") or {}), **(predictor.get("annotations") or {})}
        template = {"metadata": {"labels": labels, "annotations": annotations},
                    "spec": json.loads(json.dumps(pod_spec))}
        template["spec"].pop("annotations", None)
        template["spec"].pop("labels", None)
        replicas = int(predictor.get("minReplicas") or 1)
        wanted = template_hash({"template": template, "replicas": replicas})
        dep = store.find(DEPLOYMENT, ns, dep_name)
        if dep is None:
            dep = store.create(DEPLOYMENT, ns, {
                "metadata": {"name": dep_name, "labels": labels,
                             "annotations": {_PREDICTOR_HASH: wanted},
                             "ownerReferences": [owner_reference(isvc)]},
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                         "template": template}})
        elif (dep["metadata"].get("annotations") or {}).get(_PREDICTOR_HASH) != wanted:
            def retemplate(d: dict) -> None:  # the predictor changed: roll out
                d["spec"]["template"] = template
                d["spec"]["replicas"] = replicas
                d["metadata"].setdefault("annotations", {})[_PREDICTOR_HASH] = wanted
            dep = store.mutate(DEPLOYMENT, ns, dep_name, retemplate) or dep
        if store.find(SERVICE, ns, dep_name) is None:
            store.create(SERVICE, ns, {
                "metadata": {"name": dep_name, "labels": labels,
                             "ownerReferences": [owner_reference(isvc)]},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                         "targetPort": 8080}]}})
        endpoint = self._rolled_out_endpoint(dep, replicas)
        ready = endpoint is not None

        def update(i: dict) -> None:
            status = i.setdefault("status", {})
            status["observedGeneration"] = meta.get("generation", 1)
            if ready:
                url = f"http://{endpoint}"
                status["url"] = url
                status["address"] = {"url": url}
                status["components"] = {"predictor": {"url": url}}
                for c in ("PredictorReady", "IngressReady", "Ready"):
                    set_condition(status, c, "True")
            else:
                set_condition(status, "PredictorReady", "False", "PredictorNotReady",
                              "Predictor pods are not ready yet")
                set_condition(status, "Ready", "False", "PredictorNotReady",
                              "Predictor pods are not ready yet")
        store.mutate(ISVC, ns, name, update)

    def _rolled_out_endpoint(self, dep: dict, replicas: int) -> str | None:
        """``127.0.0.1:PORT`` of a pod of the current predictor once every replica of it is ready
        and no pod of an earlier one is left (a changed predictor is not Ready until then, so the
        URL never leads to the old model); else None."""
        from ..emulator import PORT_ANNOTATION

        current = template_hash(dep["spec"]["template"])
        pods = [p for p in owned_pods(self.emu, dep) if not is_deleting(p)]
        new = [p for p in pods
               if p["metadata"].get("labels", {}).get("pod-template-hash") == current]
        if len(pods) > len(new) or sum(is_ready(p) for p in new) < replicas:
            return None
        port = next(p["metadata"].get("annotations", {}).get(PORT_ANNOTATION)
                    for p in new if is_ready(p))
        return f"127.0.0.1:{port}" if port else None

    def _not_ready(self, isvc: dict, reason: str, message: str) -> None:
        """Ready False with ``reason``, and a Warning event when the message is new."""
        meta = isvc["metadata"]
        ready = next((c for c in (isvc.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), {})
        if ready.get("message") != message:
            record_event(self.emu.store, isvc, "Warning", reason, message, "kserve-controller")

        def update(i: dict) -> None:
            status = i.setdefault("status", {})
            set_condition(status, "PredictorReady", "False", reason, message)
            set_condition(status, "Ready", "False", reason, message)
        self.emu.store.mutate(ISVC, meta["namespace"], meta["name"], update)
