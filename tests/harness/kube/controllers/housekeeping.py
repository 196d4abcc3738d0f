"""Namespace lifecycle and the garbage collector (ownerReferences, foreground deletion)."""

from __future__ import annotations

from ..resources import find_type

NAMESPACE = find_type("", "v1", "namespaces")
SERVICE_ACCOUNT = find_type("", "v1", "serviceaccounts")


class NamespaceController:
    """New namespaces get a ``default`` ServiceAccount; deleted ones are emptied, then removed."""

    def __init__(self, emu):
        self.emu = emu
        self.seen: set[str] = set()

    def reconcile(self) -> None:
        store = self.emu.store
        for ns in store.list(NAMESPACE)[0]:
            name, uid = ns["metadata"]["name"], ns["metadata"]["uid"]
            if ns["metadata"].get("deletionTimestamp"):
                left = [(t, o) for t, o in store.all_objects()
                        if t.namespaced and o["metadata"].get("namespace") == name]
                for t, o in left:
                    if not o["metadata"].get("deletionTimestamp"):
                        try:
                            store.delete(t, name, o["metadata"]["name"], "Background")
                        except Exception:
                            pass
                if not left:
                    store.mutate(NAMESPACE, "", name, lambda n: n["spec"].update(finalizers=[]))
            elif uid not in self.seen:
                self.seen.add(uid)
                if store.find(SERVICE_ACCOUNT, name, "default") is None:
                    store.create(SERVICE_ACCOUNT, name, {"metadata": {"name": "default"}})


class GarbageCollector:
    """Deletes objects whose owners are gone (background) and finishes foreground deletions."""

    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        store = self.emu.store
        objects = store.all_objects()
        uids = {o["metadata"]["uid"] for _, o in objects}
        for t, o in objects:
            meta = o["metadata"]
            refs = meta.get("ownerReferences") or []
            ns = meta.get("namespace", "")
            if refs and not any(r.get("uid") in uids for r in refs) \
                    and not meta.get("deletionTimestamp"):
                try:
                    store.delete(t, ns, meta["name"], "Background")
                except Exception:
                    pass
            if meta.get("deletionTimestamp") \
                    and "foregroundDeletion" in (meta.get("finalizers") or []):
                deps = store.dependents(meta["uid"])
                for dt, d in deps:
                    if not d["metadata"].get("deletionTimestamp"):
                        try:
                            store.delete(dt, d["metadata"].get("namespace", ""),
                                         d["metadata"]["name"], "Foreground")
                        except Exception:
                            pass
                if not deps:
                    store.mutate(t, ns, meta["name"], _drop_foreground)


def _drop_foreground(obj: dict) -> None:
    obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or []
                                     if f != "foregroundDeletion"]
