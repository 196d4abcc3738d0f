"""Objects, resourceVersions, graceful and cascading deletion, and the watch fan-out.

One global resourceVersion counter (like etcd's revision) stamps every change. A bounded history
of changes lets a watch resume from a resourceVersion; asking for one older than the history
(or after :meth:`Store.expire_watches`) gives 410 Gone, as on a real API server.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from . import admission
from .apierrors import ApiError, already_exists, conflict, gone, not_found
from .resources import ResourceType, find_type

Matcher = Callable[[dict], bool]
NAMESPACE_TYPE = find_type("", "v1", "namespaces")
CRD_TYPE = find_type("apiextensions.k8s.io", "v1", "customresourcedefinitions")
SERVICE_ACCOUNT = find_type("", "v1", "serviceaccounts")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _copy(obj: dict) -> dict:
    return json.loads(json.dumps(obj))


def _key(t: ResourceType) -> str:
    return f"{t.plural}.{t.group}"


@dataclass(frozen=True)
class Change:
    """One entry of the history: ``obj`` after the change, ``old`` before it (if any)."""
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    rtype: ResourceType
    obj: dict
    old: dict | None


class Watcher:
    """A live watch: events land in ``events`` (a queue of (type, object) or ("ERROR", Status))."""

    def __init__(self, rtype: ResourceType, namespace: str | None, matcher: Matcher):
        self.rtype, self.namespace, self.matcher = rtype, namespace, matcher
        self.events: queue.Queue = queue.Queue()

    def offer(self, change: Change) -> None:
        if change.rtype != self.rtype:
            return
        ns = change.obj["metadata"].get("namespace")
        if self.namespace is not None and ns != self.namespace:
            return
        now = self.matcher(change.obj)
        before = change.old is not None and self.matcher(change.old)
        if change.type == "MODIFIED":
            if now and not before:
                self.events.put(("ADDED", change.obj))
            elif before and not now:
                self.events.put(("DELETED", change.obj))
            elif now:
                self.events.put(("MODIFIED", change.obj))
        elif now:
            self.events.put((change.type, change.obj))


class Store:
    """All objects of the emulated cluster, keyed by (type, namespace, name)."""

    def __init__(self, history_limit: int = 5000, schemas=None):
        #: A fieldvalidation.SchemaAdmission (None: nothing is pruned or schema-checked).
        self.schemas = schemas
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], dict] = {}
        self._types: dict[str, ResourceType] = {}
        self.rv = 0
        self.history: deque[Change] = deque()
        self.history_limit = history_limit
        self.compacted_rv = 0
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Change], None]] = []

    # -- reading -------------------------------------------------------------------------
    def get(self, t: ResourceType, namespace: str, name: str) -> dict:
        with self.lock:
            obj = self._objects.get((_key(t), namespace or "", name))
            if obj is None:
                raise not_found(t, name)
            return _copy(obj)

    def find(self, t: ResourceType, namespace: str, name: str) -> dict | None:
        try:
            return self.get(t, namespace, name)
        except ApiError:
            return None

    def list(self, t: ResourceType, namespace: str | None = None,
             matcher: Matcher | None = None) -> tuple[list[dict], int]:
        """Matching objects sorted by namespace/name, and the current resourceVersion."""
        with self.lock:
            items = [_copy(o) for (k, ns, _), o in sorted(self._objects.items())
                     if k == _key(t) and (namespace is None or ns == namespace)
                     and (matcher is None or matcher(o))]
            return items, self.rv

    def names(self, t: ResourceType, namespace: str | None = None) -> set[str]:
        """The names of the objects of ``t`` (no copies: the real CRDs are large, and every
        request asks which are installed)."""
        with self.lock:
            return {name for (k, ns, name) in self._objects
                    if k == _key(t) and (namespace is None or ns == namespace)}

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, dict]]:
        with self.lock:
            found = []
            for (k, _, _), o in self._objects.items():
                refs = o["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    found.append((self._types[k], _copy(o)))
            return found

    def all_objects(self) -> list[tuple[ResourceType, dict]]:
        """Every object's type and metadata (``{"metadata": ...}``, copies): for the garbage
        collector and namespace cleanup, which need no more, and run after every change (the
        real CRDs the cluster holds are large)."""
        with self.lock:
            return [(self._types[k], {"metadata": _copy(o["metadata"])})
                    for (k, _, _), o in self._objects.items()]

    def uid_exists(self, uid: str) -> bool:
        with self.lock:
            return any(o["metadata"]["uid"] == uid for o in self._objects.values())

    # -- writing -------------------------------------------------------------------------
    def create(self, t: ResourceType, namespace: str, obj: dict, dry_run: bool = False,
               directive: str | None = None, warnings: list[str] | None = None) -> dict:
        """Create ``obj``; ``directive`` is the request's ``fieldValidation``, ``warnings``
        collects the Warning headers to answer with (see :mod:`.fieldvalidation`)."""
        obj = _copy(obj)
        meta = obj.setdefault("metadata", {})
        with self.lock:
            if t.namespaced:
                meta["namespace"] = namespace
                ns = self._objects.get((_key(NAMESPACE_TYPE), "", namespace))
                if ns is None:
                    raise not_found(NAMESPACE_TYPE, namespace)
                if ns["metadata"].get("deletionTimestamp"):
                    raise ApiError(403, f'{t.qualified} "{meta.get("name", "")}" is forbidden: '
                                   f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated")
            else:
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                while True:
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                    key = (_key(t), namespace if t.namespaced else "", meta["name"])
                    if key not in self._objects:
                        break
            obj["apiVersion"], obj["kind"] = t.api_version, t.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            obj = self._admit(t, obj, None, directive, warnings)
            meta = obj["metadata"]
            if t.plural == "pods":
                self._add_pull_secrets(obj, namespace)
            admission.default(t, obj)
            admission.validate(t, obj)
            key = (_key(t), namespace if t.namespaced else "", meta["name"])
            if key in self._objects:
                raise already_exists(t, meta["name"])
            meta["generation"] = 1
            for drop in ("resourceVersion", "deletionTimestamp", "selfLink"):
                meta.pop(drop, None)
            if dry_run:
                return obj
            self._types[key[0]] = t
            self._store(key, t, "ADDED", obj, None)
            return _copy(obj)

    def update(self, t: ResourceType, namespace: str, name: str, obj: dict,
               subresource: str = "", directive: str | None = None,
               warnings: list[str] | None = None) -> dict:
        """PUT semantics: optimistic concurrency on ``metadata.resourceVersion`` if given."""
        with self.lock:
            key = (_key(t), namespace if t.namespaced else "", name)
            old = self._objects.get(key)
            if old is None:
                raise not_found(t, name)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(t, name)
            new = self._merge_update(t, old, _copy(obj), subresource)
            if subresource != "status":
                new = self._admit(t, new, old, directive, warnings)
            if (new.get("metadata") or {}).get("name") != name:
                raise ApiError(400, "the name of the object does not match the name on the URL")
            admission.validate(t, new)
            return self._commit(key, t, old, new)

    def mutate(self, t: ResourceType, namespace: str, name: str,
               change: Callable[[dict], None]) -> dict | None:
        """Controllers' writes: apply ``change`` to a copy; None if the object is gone."""
        with self.lock:
            key = (_key(t), namespace if t.namespaced else "", name)
            old = self._objects.get(key)
            if old is None:
                return None
            new = _copy(old)
            change(new)
            if new == old:
                return new
            return self._commit(key, t, old, new)

    def _admit(self, t: ResourceType, obj: dict, old: dict | None, directive: str | None,
               warnings: list[str] | None) -> dict:
        """Prune, default and validate by the type's schema (the real ones; see
        :mod:`.fieldvalidation`)."""
        if self.schemas is None:
            return obj
        crd = self._objects.get((_key(CRD_TYPE), "", t.crd)) if t.crd else None
        return self.schemas.admit(t, obj, crd=crd, old=old, directive=directive,
                                  warnings=warnings)

    def _add_pull_secrets(self, pod: dict, namespace: str) -> None:
        """The ServiceAccount admission plugin: a pod gets its service account's
        ``imagePullSecrets`` (after its own)."""
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        sa = self._objects.get((_key(SERVICE_ACCOUNT), namespace, account))
        extra = [s for s in (sa or {}).get("imagePullSecrets") or []
                 if s not in (spec.get("imagePullSecrets") or [])]
        if extra:
            spec.setdefault("imagePullSecrets", []).extend(_copy(extra))

    def _merge_update(self, t: ResourceType, old: dict, new: dict, subresource: str) -> dict:
        new.setdefault("metadata", {})
        new["apiVersion"], new["kind"] = t.api_version, t.kind
        if subresource == "status":
            merged = _copy(old)
            merged["status"] = new.get("status", {})
            return merged
        for fixed in ("uid", "creationTimestamp", "namespace", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if fixed in old["metadata"]:
                new["metadata"][fixed] = old["metadata"][fixed]
            else:
                new["metadata"].pop(fixed, None)
        if t.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def _commit(self, key: tuple, t: ResourceType, old: dict, new: dict) -> dict:
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not _pending(t, new):
            self._remove(key, t, new)
            return _copy(new)
        self._store(key, t, "MODIFIED", new, old)
        return _copy(new)

    def delete(self, t: ResourceType, namespace: str, name: str, propagation: str = "",
               grace: int | None = None, preconditions: dict | None = None) -> dict:
        """DELETE semantics; returns the object as last seen (with deletionTimestamp if kept)."""
        with self.lock:
            key = (_key(t), namespace if t.namespaced else "", name)
            obj = self._objects.get(key)
            if obj is None:
                raise not_found(t, name)
            uid = (preconditions or {}).get("uid")
            if uid and uid != obj["metadata"]["uid"]:
                raise conflict(t, name)
            propagation = propagation or ("Orphan" if t.plural == "jobs" else "Background")
            new = _copy(obj)
            meta = new["metadata"]
            if propagation == "Orphan":
                for dt, dep in self.dependents(meta["uid"]):
                    self.mutate(dt, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                                lambda d, u=meta["uid"]: _drop_owner(d, u))
            elif propagation == "Foreground":
                finalizers = meta.setdefault("finalizers", [])
                if "foregroundDeletion" not in finalizers:
                    finalizers.append("foregroundDeletion")
            if t.plural == "namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
                new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            already = meta.get("deletionTimestamp")
            meta.setdefault("deletionTimestamp", now_iso())
            if t.plural == "pods":
                if grace is None:
                    grace = new.get("spec", {}).get("terminationGracePeriodSeconds", 30)
                meta["deletionGracePeriodSeconds"] = grace
            if not _pending(t, new):
                self._remove(key, t, new)
                return _copy(new)
            if new != obj or not already:
                self._store(key, t, "MODIFIED", new, obj)
            return _copy(new)

    def remove_now(self, t: ResourceType, namespace: str, name: str, uid: str = "") -> None:
        """Finish a deletion (the kubelet after killing a pod); only that ``uid`` if given."""
        with self.lock:
            key = (_key(t), namespace if t.namespaced else "", name)
            obj = self._objects.get(key)
            if obj is not None and (not uid or obj["metadata"]["uid"] == uid):
                self._remove(key, t, _copy(obj))

    def _remove(self, key: tuple, t: ResourceType, obj: dict) -> None:
        old = self._objects.pop(key)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(Change(self.rv, "DELETED", t, _copy(obj), old))

    def _store(self, key: tuple, t: ResourceType, kind: str, obj: dict, old: dict | None) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._objects[key] = obj
        self._types[key[0]] = t
        self._emit(Change(self.rv, kind, t, _copy(obj), old))

    def _emit(self, change: Change) -> None:
        self.history.append(change)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for w in list(self.watchers):
            w.offer(change)
        for listener in self.listeners:
            listener(change)

    # -- watching ------------------------------------------------------------------------
    def watch(self, t: ResourceType, namespace: str | None, matcher: Matcher,
              resource_version: str | None) -> Watcher:
        with self.lock:
            w = Watcher(t, namespace, matcher)
            if resource_version in (None, "", "0"):
                items, _ = self.list(t, namespace, matcher)
                for item in items:
                    w.events.put(("ADDED", item))
            else:
                try:
                    since = int(resource_version)
                except ValueError as e:
                    raise ApiError(400, f"invalid resource version: {resource_version}") from e
                if since < self.compacted_rv:
                    raise gone(f"too old resource version: {since} ({self.compacted_rv + 1})")
                for change in self.history:
                    if change.rv > since:
                        w.offer(change)
            self.watchers.add(w)
            return w

    def stop_watch(self, w: Watcher) -> None:
        with self.lock:
            self.watchers.discard(w)

    def expire_watches(self) -> int:
        """Forget the history and end every open watch with 410 Gone; returns how many."""
        with self.lock:
            self.compacted_rv = self.rv
            self.history.clear()
            status = gone(f"too old resource version: {self.rv}").status()
            ended = list(self.watchers)
            for w in ended:
                w.events.put(("ERROR", status))
            self.watchers.clear()
            return len(ended)


def _pending(t: ResourceType, obj: dict) -> bool:
    """Whether a deleted object must stay until someone finishes its deletion."""
    if obj["metadata"].get("finalizers") or _graceful(t, obj):
        return True
    return t.plural == "namespaces" and bool(obj.get("spec", {}).get("finalizers"))


def _graceful(t: ResourceType, obj: dict) -> bool:
    """A pod on a node waits for its kubelet to stop the containers (unless grace is 0)."""
    if t.plural != "pods":
        return False
    return bool(obj.get("spec", {}).get("nodeName")) and \
        obj["metadata"].get("deletionGracePeriodSeconds", 30) > 0 and \
        obj.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def _drop_owner(obj: dict, uid: str) -> None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)
