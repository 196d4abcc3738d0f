"""Services resolve to a ready pod's port; KServe InferenceServices become a predictor
Deployment + Service and report Ready with ``status.url``.

With host networking every pod listens on 127.0.0.1 and its own port (env ``PORT``). A Service
records where it leads in the annotation ``emulator.fairing.dev/endpoint: 127.0.0.1:PORT``
(and in ``status.loadBalancer.ingress``). An InferenceService's ``status.url`` is
``http://127.0.0.1:PORT`` of its predictor, so tests can call it.
"""

from __future__ import annotations

import json

from ..resources import find_type
from ..selectors import selector_from_match_labels
from .deployments import DEPLOYMENT, template_hash
from .ownership import (
    SERVICE,
    condition_true,
    is_deleting,
    is_ready,
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
        if not containers:
            store.mutate(ISVC, ns, name, lambda i: set_condition(
                i.setdefault("status", {}), "Ready", "False", "UnsupportedPredictor",
                "the emulator runs only spec.predictor.containers"))
            return
        dep_name = f"{name}-predictor"
        labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor",
                  "app": f"isvc.{dep_name}"}
        pod_spec = {k: v for k, v in predictor.items()
                    if k not in ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                                 "canaryTrafficPercent", "logger", "batcher")}
        template = {"metadata": {"labels": labels, "annotations": predictor.get("annotations") or {}},
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
        endpoint = self.emu.service_endpoint(ns, dep_name)
        ready = condition_true(dep, "Available") and endpoint is not None and \
            (dep.get("status") or {}).get("updatedReplicas", 0) >= replicas

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
