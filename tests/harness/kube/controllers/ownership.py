"""Owner references, pods made from templates, and pod-state questions controllers ask."""

from __future__ import annotations

import json
import time

from ..resources import find_type
from ..store import now_iso

POD = find_type("", "v1", "pods")
SERVICE = find_type("", "v1", "services")


def owner_reference(owner: dict, block: bool = True) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": block}


def pod_from_template(template: dict, owner: dict, *, name: str = "", generate_name: str = "",
                      labels: dict | None = None) -> dict:
    template = json.loads(json.dumps(template or {}))
    meta = template.get("metadata") or {}
    pod_meta = {"labels": {**(meta.get("labels") or {}), **(labels or {})},
                "annotations": dict(meta.get("annotations") or {}),
                "ownerReferences": [owner_reference(owner)]}
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name
    return {"metadata": pod_meta, "spec": template.get("spec") or {}}


def owned_pods(emu, owner: dict) -> list[dict]:
    uid = owner["metadata"]["uid"]
    pods, _ = emu.store.list(POD, owner["metadata"]["namespace"])
    return [p for p in pods if any(r.get("uid") == uid for r in
                                   p["metadata"].get("ownerReferences") or [])]


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "Pending")


def is_deleting(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def is_ready(pod: dict) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def restarts(pod: dict) -> int:
    return sum(s.get("restartCount", 0) for s in
               (pod.get("status") or {}).get("containerStatuses") or [])


def set_condition(status: dict, ctype: str, value: str, reason: str = "",
                  message: str = "") -> bool:
    """Set a condition; returns True when something changed (lastTransitionTime moves only
    when the status flips, as controllers do)."""
    conditions = status.setdefault("conditions", [])
    now = now_iso()
    for c in conditions:
        if c["type"] == ctype:
            if (c["status"], c.get("reason", ""), c.get("message", "")) == (value, reason, message):
                return False
            if c["status"] != value:
                c["lastTransitionTime"] = now
            c.update({"status": value, "reason": reason, "message": message, "lastUpdateTime": now})
            return True
    conditions.append({"type": ctype, "status": value, "reason": reason, "message": message,
                       "lastTransitionTime": now, "lastUpdateTime": now})
    return True


def condition_true(obj: dict, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def seconds_since(iso: str | None) -> float:
    if not iso:
        return 0.0
    import calendar
    return time.time() - calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def delete_pod(emu, pod: dict) -> None:
    try:
        emu.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
    except Exception:  # already gone
        pass
