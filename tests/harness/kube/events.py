"""v1 Event objects, as the scheduler, kubelet and controllers record them.

Repeats of the same (object, reason, message) bump ``count`` and ``lastTimestamp`` of one
Event, like the real event recorder's aggregation.
"""

from __future__ import annotations

import hashlib

from .resources import find_type
from .store import Store, now_iso

EVENT = find_type("", "v1", "events")


def record_event(store: Store, obj: dict, event_type: str, reason: str, message: str,
                 component: str, field_path: str = "") -> None:
    """Record ``reason``/``message`` (type Normal or Warning) about ``obj``."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    digest = hashlib.sha1(f"{meta['uid']}|{reason}|{message}".encode()).hexdigest()[:16]
    name = f"{meta['name']}.{digest}"
    now = now_iso()

    def bump(ev: dict) -> None:
        ev["count"] = ev.get("count", 1) + 1
        ev["lastTimestamp"] = now

    with store.lock:
        if store.mutate(EVENT, namespace, name, bump) is not None:
            return
        involved = {"kind": obj.get("kind"), "namespace": namespace, "name": meta["name"],
                    "uid": meta["uid"], "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        try:
            store.create(EVENT, namespace, {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved, "reason": reason, "message": message,
                "type": event_type, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": component, "host": "emulated-node"
                           if component == "kubelet" else None},
                "reportingComponent": component, "reportingInstance": "emulated-node"})
        except Exception:  # namespace being deleted: a real recorder drops the event too
            pass
