"""HTTP front of the emulator: routing of ``/api`` and ``/apis`` paths to the store.

Plain HTTP/1.1 with keep-alive; watches and followed logs are chunked streams. Every request
needs the bearer token of the kubeconfig (401 otherwise), passes the fault hooks (429/500) and
the deny rules (403, worded like RBAC), then reaches the store.
"""

from __future__ import annotations

import json
import socket
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import yaml

from . import resources as rs
from .apierrors import ApiError, bad_request, forbidden, success_status
from .fieldvalidation import warning_header
from .logbook import Dropped, parse_timestamp, render_log
from .patches import json_patch, merge_patch
from .selectors import parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .emulator import KubeEmulator

def version_document(version: str) -> dict:
    """``/version`` of an API server of Kubernetes ``version`` (``1.36``)."""
    major, minor = version.split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0-fairing-emulator",
            "gitCommit": "0000000", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64"}


def _query_bool(value) -> bool:
    """A boolean query parameter as the API server reads it (Go's strconv.ParseBool): client 29
    sends ``watch=True``, newer clients ``watch=true``."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: KubeEmulator):
        super().__init__(("127.0.0.1", 0), Handler)
        self.emulator = emulator


class Route:
    """A parsed resource path: type, namespace, name, subresource."""

    def __init__(self, t: rs.ResourceType, namespace: str | None, name: str, sub: str):
        self.t, self.namespace, self.name, self.sub = t, namespace, name, sub


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server: ApiServer

    def log_message(self, format, *args):  # noqa: A002 - quiet by design
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # -- plumbing -------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        emu.requests.append((method, url.path))
        self.warnings: list[str] = []
        try:
            if self.headers.get("Authorization") != f"Bearer {emu.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            emu.faults.check_request(method, url.path)
            emu.faults.hold(method, url.path, "before")
            self._dispatch(method, url.path.rstrip("/") or "/")
        except ApiError as e:
            self._send_json(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # an emulator bug: answer like an apiserver panic, and show it
            traceback.print_exc()
            self.close_connection = True
            try:
                self._send_json(500, ApiError(500, f"Internal error occurred: {e!r}").status())
            except OSError:
                pass

    def _send_json(self, code: int, body: dict, headers: dict | None = None) -> None:
        self.server.emulator.faults.hold(self.command, urlsplit(self.path).path, "after")
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        for text in dict.fromkeys(getattr(self, "warnings", [])):
            self.send_header("Warning", warning_header(text))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Close mid-stream, no final chunk: the client sees a broken connection."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _json_body(self) -> object:
        if not self.body:
            return {}
        try:
            if "yaml" in (self.headers.get("Content-Type") or ""):
                return yaml.safe_load(self.body)
            return json.loads(self.body)
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"the body of the request was in an unknown format: {e}") from e

    # -- routing --------------------------------------------------------------------------
    def _dispatch(self, method: str, path: str) -> None:
        emu = self.server.emulator
        if path in ("/healthz", "/readyz", "/livez"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
            return
        served = emu.served_types()
        if path == "/version":
            return self._send_json(200, version_document(emu.kubernetes_version))
        if path == "/api":
            return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                         "serverAddressByClientCIDRs": [
                                             {"clientCIDR": "0.0.0.0/0",
                                              "serverAddress": "127.0.0.1"}]})
        if path == "/api/v1":
            return self._send_json(200, rs.resource_list("", "v1", served))
        if path == "/apis":
            return self._send_json(200, rs.group_list(served + [rs.SSAR]))
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            versions = sorted({t.version for t in served + [rs.SSAR] if t.group == parts[1]})
            if not versions:
                raise ApiError(404, "the server could not find the requested resource")
            return self._send_json(200, rs.group_document(parts[1], versions))
        if parts[0] == "apis" and len(parts) == 3:
            doc = rs.resource_list(parts[1], parts[2], served + [rs.SSAR])
            if not doc["resources"]:
                raise ApiError(404, "the server could not find the requested resource")
            return self._send_json(200, doc)
        route = self._route(parts, served)
        verb = self._verb(method, route)
        if not emu.faults.allowed(verb, route.t.plural, route.t.group, route.namespace or "",
                                  route.sub if route.sub != "status" else "status"):
            raise forbidden(route.t, emu.user, verb, route.namespace or "", route.name, route.sub)
        if route.t is rs.SSAR:
            return self._access_review()
        if route.sub == "log":
            return self._pod_log(route)
        getattr(self, "_" + verb)(route)

    def _route(self, parts: list[str], served: list[rs.ResourceType]) -> Route:
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        t = rs.find_type(group, version, rest[0])
        if t is None or (t not in served and t is not rs.SSAR) or \
                (namespace is not None and not t.namespaced):
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and not (sub == "status" and t.has_status) \
                and not (sub == "log" and t.plural == "pods"):
            raise ApiError(404, "the server could not find the requested resource")
        return Route(t, namespace if t.namespaced else None, name, sub)

    def _verb(self, method: str, route: Route) -> str:
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if _query_bool(self.query.get("watch")) else "list"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]

    # -- verbs ----------------------------------------------------------------------------
    def _get(self, route: Route) -> None:
        self._send_json(200, self.server.emulator.store.get(route.t, route.namespace, route.name))

    def _matcher(self, route: Route):
        labels = parse_label_selector(self.query.get("labelSelector"))
        fields = parse_field_selector(self.query.get("fieldSelector"), route.t.allows_field)
        return lambda obj: labels(obj) and fields(obj)

    def _list(self, route: Route) -> None:
        items, rv = self.server.emulator.store.list(route.t, route.namespace, self._matcher(route))
        meta: dict = {"resourceVersion": str(rv)}
        limit = int(self.query.get("limit") or 0)
        token = self.query.get("continue")
        if token:
            items = [i for i in items if _sort_key(i) > token]
        if limit and len(items) > limit:
            items = items[:limit]
            meta["continue"] = _sort_key(items[-1])
        self._send_json(200, {"kind": route.t.kind + "List", "apiVersion": route.t.api_version,
                              "metadata": meta, "items": items})

    def _watch(self, route: Route) -> None:
        emu = self.server.emulator
        w = emu.store.watch(route.t, route.namespace, self._matcher(route),
                            self.query.get("resourceVersion"))
        timeout = float(self.query.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        try:
            self._start_stream("application/json")
            idle = 0.0
            while not emu.stopping.is_set():
                left = deadline - time.monotonic() if deadline else 1.0
                if left <= 0:
                    break
                try:
                    kind, obj = w.events.get(timeout=min(left, 0.5))
                except Exception:  # queue.Empty
                    idle += 0.5
                    if idle >= 10:  # a blank line (ignored by clients) finds closed sockets
                        self._chunk(b"\n")
                        idle = 0.0
                    continue
                idle = 0.0
                self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                if kind == "ERROR":
                    break
            self._end_stream()
        except OSError:
            self.close_connection = True
        finally:
            emu.store.stop_watch(w)

    def _create(self, route: Route) -> None:
        if route.name:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        body = self._json_body()
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        ns = (body.get("metadata") or {}).get("namespace")
        if route.t.namespaced and ns and ns != route.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        dry = self.query.get("dryRun") == "All"
        self._record(body)
        obj = self.server.emulator.store.create(route.t, route.namespace or "", body, dry_run=dry,
                                                directive=self.query.get("fieldValidation"),
                                                warnings=self.warnings)
        self._send_json(201, obj)

    def _record(self, body) -> None:
        import copy

        self.server.emulator.received.append({
            "method": self.command, "path": urlsplit(self.path).path, "query": dict(self.query),
            "body": copy.deepcopy(body)})

    def _update(self, route: Route) -> None:
        body = self._json_body()
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        self._record(body)
        obj = self.server.emulator.store.update(route.t, route.namespace or "", route.name, body,
                                                route.sub,
                                                directive=self.query.get("fieldValidation"),
                                                warnings=self.warnings)
        self._send_json(200, obj)

    def _patch(self, route: Route) -> None:
        store = self.server.emulator.store
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self._json_body()
        self._record(body)
        directive = self.query.get("fieldValidation")
        if kind == "application/apply-patch+yaml":
            current = store.find(route.t, route.namespace or "", route.name)
            if current is None:
                body.setdefault("metadata", {})["name"] = route.name
                return self._send_json(201, store.create(route.t, route.namespace or "", body,
                                                         directive=directive,
                                                         warnings=self.warnings))
        else:
            current = store.get(route.t, route.namespace or "", route.name)
        if kind == "application/json-patch+json":
            new = json_patch(current, body)
        elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                      "application/apply-patch+yaml"):
            if not isinstance(body, dict):
                raise bad_request("a merge patch must be an object")
            if "resourceVersion" not in (body.get("metadata") or {}):
                current["metadata"].pop("resourceVersion", None)
            new = merge_patch(current, body)
        else:
            raise ApiError(415, f"the body of the request was in an unknown format - accepted "
                           f"media types include: application/json-patch+json, "
                           f"application/merge-patch+json, application/apply-patch+yaml "
                           f"(got {kind!r})")
        obj = store.update(route.t, route.namespace or "", route.name, new, route.sub,
                           directive=directive, warnings=self.warnings)
        self._send_json(200, obj)

    def _delete_options(self) -> tuple[str, int | None, dict | None]:
        body = self._json_body() if self.body else {}
        body = body if isinstance(body, dict) else {}
        policy = self.query.get("propagationPolicy") or body.get("propagationPolicy") or ""
        if not policy and body.get("orphanDependents") is not None:
            policy = "Orphan" if body["orphanDependents"] else "Background"
        grace = self.query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        return policy, int(grace) if grace is not None else None, body.get("preconditions")

    def _delete(self, route: Route) -> None:
        policy, grace, pre = self._delete_options()
        store = self.server.emulator.store
        obj = store.delete(route.t, route.namespace or "", route.name, policy, grace, pre)
        if route.t.plural == "pods" or store.find(route.t, route.namespace or "", route.name):
            return self._send_json(200, obj)
        self._send_json(200, success_status(route.t, route.name, obj["metadata"]["uid"]))

    def _deletecollection(self, route: Route) -> None:
        policy, grace, _ = self._delete_options()
        store = self.server.emulator.store
        items, rv = store.list(route.t, route.namespace, self._matcher(route))
        for item in items:
            try:
                store.delete(route.t, item["metadata"].get("namespace", ""),
                             item["metadata"]["name"], policy, grace)
            except ApiError:
                pass
        self._send_json(200, {"kind": route.t.kind + "List", "apiVersion": route.t.api_version,
                              "metadata": {"resourceVersion": str(rv)}, "items": items})

    def _access_review(self) -> None:
        emu = self.server.emulator
        body = self._json_body()
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        allowed = emu.faults.allowed(attrs.get("verb", ""), attrs.get("resource", ""),
                                     attrs.get("group", ""), attrs.get("namespace", ""),
                                     attrs.get("subresource", ""))
        body["status"] = {"allowed": allowed}
        if allowed:
            body["status"]["reason"] = 'RBAC: allowed by RoleBinding "emulator"'
        else:
            body["status"]["reason"] = ""
        body.setdefault("metadata", {})["creationTimestamp"] = None
        body["apiVersion"], body["kind"] = rs.SSAR.api_version, rs.SSAR.kind
        self._send_json(201, body)

    def _pod_log(self, route: Route) -> None:
        emu = self.server.emulator
        pod = emu.store.get(route.t, route.namespace, route.name)
        q = self.query
        log = _pick_log(emu, pod, q.get("container"), _query_bool(q.get("previous")))
        since = None
        if q.get("sinceTime"):
            since = parse_timestamp(q["sinceTime"])
        elif q.get("sinceSeconds"):
            since = time.time_ns() - int(q["sinceSeconds"]) * 1_000_000_000
        stream = emu.open_log_stream()
        chunks = render_log(
            log, stream, follow=_query_bool(q.get("follow")),
            timestamps=_query_bool(q.get("timestamps")), since_ns=since,
            tail=int(q["tailLines"]) if q.get("tailLines") else None,
            limit_bytes=int(q["limitBytes"]) if q.get("limitBytes") else None,
            stopping=emu.stopping)
        try:
            self._start_stream("text/plain")
            for data in chunks:
                self._chunk(data)
            self._end_stream()
        except Dropped:
            self._abort()
        except OSError:
            self.close_connection = True
        finally:
            emu.close_log_stream(stream)


def _sort_key(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _pick_log(emu: KubeEmulator, pod: dict, container: str | None, previous: bool):
    """Find the log a request asks for, or raise the 400 a real kubelet would answer."""
    name = pod["metadata"]["name"]
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    init = [c["name"] for c in pod["spec"].get("initContainers") or []]
    if not container:
        if len(names) != 1:
            raise bad_request(f"a container name must be specified for pod {name}, choose one "
                              f"of: [{' '.join(names)}]" + (f" or one of the init containers: "
                                                            f"[{' '.join(init)}]" if init else ""))
        container = names[0]
    elif container not in names + init:
        raise bad_request(f"container {container} is not valid for pod {name}")
    attempts = emu.logbook.attempts(pod["metadata"]["namespace"], name, container,
                                    pod["metadata"]["uid"])
    if previous:
        if len(attempts) < 2:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" '
                              "not found")
        return attempts[-2]
    if not attempts:
        reason = "ContainerCreating"
        for s in (pod.get("status") or {}).get("containerStatuses") or []:
            if s.get("name") == container and "waiting" in (s.get("state") or {}):
                reason = s["state"]["waiting"].get("reason") or reason
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                              "trying and failing to pull image")
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    return attempts[-1]
