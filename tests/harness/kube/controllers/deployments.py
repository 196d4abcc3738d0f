"""apps/v1 Deployment controller: pods from the template, readiness, rollout on change.

Simplification: pods are owned by the Deployment itself (no ReplicaSet objects) but carry the
``pod-template-hash`` label and the ``<deployment>-<hash>-xxxxx`` names a real one gives.
A rollout starts the new pods and removes the old ones once the new ones are ready.
"""

from __future__ import annotations

import hashlib
import json

from ..events import record_event
from ..resources import find_type
from .ownership import (
    POD,
    delete_pod,
    is_deleting,
    is_ready,
    owned_pods,
    phase,
    pod_from_template,
    set_condition,
)

DEPLOYMENT = find_type("apps", "v1", "deployments")


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghjklmnpqrstvwxz2456789")[:10] or digest[:10]


class DeploymentController:
    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        for dep in self.emu.store.list(DEPLOYMENT)[0]:
            if not is_deleting(dep):
                self._sync(dep)

    def _sync(self, dep: dict) -> None:
        store, meta, spec = self.emu.store, dep["metadata"], dep["spec"]
        name, ns, replicas = meta["name"], meta["namespace"], int(spec.get("replicas", 1))
        h = template_hash(spec["template"])
        pods = [p for p in owned_pods(self.emu, dep) if not is_deleting(p)]
        # pods of a Deployment restart forever; ones that ended (evicted, failed) are replaced
        for p in pods:
            if phase(p) in ("Succeeded", "Failed"):
                delete_pod(self.emu, p)
        pods = [p for p in pods if phase(p) not in ("Succeeded", "Failed")]
        new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == h]
        old = [p for p in pods if p not in new]
        if len(new) < replicas:
            if not new:
                record_event(store, dep, "Normal", "ScalingReplicaSet",
                             f"Scaled up replica set {name}-{h} to {replicas}",
                             "deployment-controller")
            for _ in range(replicas - len(new)):
                pod = pod_from_template(spec["template"], dep, generate_name=f"{name}-{h}-",
                                        labels={"pod-template-hash": h})
                new.append(store.create(POD, ns, pod))
        for p in new[replicas:]:
            delete_pod(self.emu, p)
        new = new[:replicas]
        ready_new = sum(is_ready(p) for p in new)
        if old and ready_new >= replicas:
            for p in old:
                delete_pod(self.emu, p)
            record_event(store, dep, "Normal", "ScalingReplicaSet",
                         f"Scaled down old replica sets of {name} to 0", "deployment-controller")
            old = []
        ready = sum(is_ready(p) for p in new + old)
        max_unavailable = replicas // 4
        generation = meta.get("generation", 1)

        def update(d: dict) -> None:
            status = d.setdefault("status", {})
            status.update(observedGeneration=generation, replicas=len(new) + len(old),
                          updatedReplicas=len(new), readyReplicas=ready, availableReplicas=ready,
                          unavailableReplicas=max(replicas - ready, 0))
            for key in ("readyReplicas", "availableReplicas", "unavailableReplicas", "replicas",
                        "updatedReplicas"):
                if not status[key]:
                    status.pop(key)
            if ready >= replicas - max_unavailable:
                set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                              "Deployment has minimum availability.")
            else:
                set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                              "Deployment does not have minimum availability.")
            if ready_new >= replicas and not old:
                set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                              f'ReplicaSet "{name}-{h}" has successfully progressed.')
            else:
                set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                              f'ReplicaSet "{name}-{h}" is progressing.')
        store.mutate(DEPLOYMENT, ns, name, update)
