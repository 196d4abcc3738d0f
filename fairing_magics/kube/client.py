"""ClusterClient: the one path every Kubernetes API request takes.

Learned from kr8s's ``call_api``: one method, :meth:`ClusterClient.send`, builds the URL, adds
the credentials and sends the request through the official client's connection pool; one,
:meth:`ClusterClient.call`, turns a refusal or a cluster that cannot be reached into the
:class:`~fairing_magics.errors.ClusterError` of :func:`.errors.explain_api_error` (the RBAC rule
for a 403, the CRD for a 404, ...). Nothing above it builds a URL or catches a client exception.
The verbs on top (:meth:`~ClusterClient.get`, :meth:`~ClusterClient.list`,
:meth:`~ClusterClient.create`, :meth:`~ClusterClient.patch`, :meth:`~ClusterClient.delete`, a
watch and a log as streams) speak in :class:`~.api_resources.ApiResource` values and plain
dicts: the API's own JSON, which is what the specs render and the status functions read.

From the official ``kubernetes`` client it takes the connection pool (TLS, client certificates,
proxies, and the one retry policy that :mod:`.access` puts on it) and the credentials
(``auth_settings()``, which refreshes an expiring token such as EKS's). It does not use the
generated API classes: they turn every answer into model objects that our code turned back into
dicts, their generic ``call_api`` changed shape in client 35 (a path that works from client 29
on has to sit below them anyway, as the log stream always did), and requests made through them
would be a second path beside this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from urllib.parse import urlencode

import urllib3

from fairing_magics.errors import ClusterError
from fairing_magics.kube.access import ClusterAccess
from fairing_magics.kube.api_resources import POD, ApiResource
from fairing_magics.kube.errors import Refusal, explain_api_error
from fairing_magics.kube.fieldvalidation import (
    ServerVersion,
    fallback_notice,
    known_version,
    parse_version,
    remember_version,
    warnings_of,
)

#: Hears a notice (one line of text) for the user.
Notice = Callable[[str], None]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


class ClusterClient:
    """Requests to one cluster, as ``access`` (see the module docstring)."""

    def __init__(self, access: ClusterAccess):
        self.access = access
        self._strict: bool | None = None  # fieldValidation=Strict: decided at the first write

    @property
    def namespace(self) -> str:
        """The namespace of the access (the context's, the pod's, or the one asked for)."""
        return self.access.namespace

    # -- the one path -------------------------------------------------------------------------
    def send(self, method: str, path: str, *, query: Iterable[tuple[str, str]] = (),
             body: dict | bytes | None = None, content_type: str = JSON, accept: str = JSON,
             stream: bool = False, timeout: float | None = None,
             retries: object = None) -> urllib3.BaseHTTPResponse:
        """Send one request to ``path`` of the API server and return its answer as it is,
        whatever its status (the body read, unless ``stream``). Raises urllib3's (or the
        socket's) error when no answer came. ``retries`` replaces the pool's policy (``False``:
        none, for a request whose answer belongs to someone else, such as a service proxy)."""
        api_client = self.access.api_client
        configuration = api_client.configuration
        query = list(query)
        url = configuration.host.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        headers = {**api_client.default_headers, "Accept": accept}
        for setting in (configuration.auth_settings() or {}).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        extra = {} if retries is None else {"retries": retries}
        return api_client.rest_client.pool_manager.request(
            method, url, body=data, headers=headers, timeout=timeout, preload_content=not stream,
            **extra)

    def call(self, method: str, path: str, *, verb: str, resource: ApiResource | str,
             namespace: str = "", name: str = "", missing_ok: bool = False,
             **options) -> urllib3.BaseHTTPResponse | None:
        """:meth:`send`, with a 2xx answer required: a refusal, or no answer at all, raises the
        ClusterError that says what to do about it (``verb`` on ``resource``, ``namespace`` and
        ``name`` are for that message). With ``missing_ok``, a 404 returns None instead."""
        try:
            response = self.send(method, path, **options)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise explain_api_error(e, verb=verb, resource=resource, namespace=namespace,
                                    name=name, access=self.access) from e
        if 200 <= response.status < 300:
            return response
        refusal = Refusal(response.status, response.reason or "", _body_text(response))
        if missing_ok and refusal.status == 404:
            return None
        raise explain_api_error(refusal, verb=verb, resource=resource, namespace=namespace,
                                name=name, access=self.access)

    def read_json(self, path: str, *, verb: str = "get", resource: ApiResource | str,
                  missing_ok: bool = False) -> dict | None:
        """GET ``path`` (``/version``, an API group's discovery document) as JSON (None with
        ``missing_ok`` when the server has no such path)."""
        response = self.call("GET", path, verb=verb, resource=resource, missing_ok=missing_ok)
        return None if response is None else _json(response)

    # -- objects ----------------------------------------------------------------------------
    def get(self, resource: ApiResource, name: str, *, namespace: str = "",
            missing_ok: bool = False) -> dict | None:
        """The object ``name`` (None with ``missing_ok`` when it does not exist)."""
        response = self.call("GET", resource.path(namespace, name), verb="get",
                             resource=resource, namespace=namespace, name=name,
                             missing_ok=missing_ok)
        return None if response is None else _json(response)

    def list(self, resource: ApiResource, *, namespace: str = "", label_selector: str = "",
             missing_ok: bool = False) -> dict | None:
        """The list object (``items``, ``metadata.resourceVersion``) of ``resource`` in
        ``namespace`` matching ``label_selector``; None with ``missing_ok`` when the API does
        not serve the resource (its CRD is not installed)."""
        query = [("labelSelector", label_selector)] if label_selector else []
        response = self.call("GET", resource.path(namespace), verb="list", resource=resource,
                             namespace=namespace, missing_ok=missing_ok, query=query)
        return None if response is None else _json(response)

    def create(self, resource: ApiResource, body: dict, *, namespace: str = "",
               notice: Notice | None = None) -> dict:
        """Create ``body`` (an object of ``resource``) in ``namespace``; the object made.
        Unknown fields are refused where the server can (:mod:`.fieldvalidation`); ``notice``
        hears the server's warnings and, once, that it cannot refuse them."""
        name = (body.get("metadata") or {}).get("name", "")
        return self._write("POST", resource.path(namespace), resource, namespace, name, body,
                           JSON, notice)

    def patch(self, resource: ApiResource, name: str, body: dict, *,
              namespace: str = "", notice: Notice | None = None) -> dict:
        """Merge-patch (RFC 7386) the object ``name`` with ``body``; the object as patched
        (field validation and ``notice`` as for :meth:`create`)."""
        return self._write("PATCH", resource.path(namespace, name), resource, namespace, name,
                           body, MERGE_PATCH, notice)

    def server_version(self) -> ServerVersion | None:
        """The API server's version (read once per server and kernel; None when unreadable)."""
        version = known_version(self.access.host)
        if version is None:
            try:
                document = self.read_json("/version", resource="/version")
            except (ClusterError, ValueError):
                return None  # not kept: the next write asks again
            version = parse_version(document or {})
            if version is not None:
                remember_version(self.access.host, version)
        return version

    def _write(self, method: str, path: str, resource: ApiResource, namespace: str, name: str,
               body: dict, content_type: str, notice: Notice | None) -> dict:
        if self._strict is None:
            version = self.server_version()
            self._strict = version is not None and version.strict
            if not self._strict and notice is not None:
                notice(fallback_notice(version))  # once per client: per submit or deploy
        query = [("fieldValidation", "Strict")] if self._strict else []
        verb = "create" if method == "POST" else "patch"
        response = self.call(method, path, verb=verb, resource=resource, namespace=namespace,
                             name=name, body=body, content_type=content_type, query=query)
        for text in warnings_of(response.headers):
            if notice is not None:
                notice(f"the API server warns about {resource.kind} {name}: {text}")
        return _json(response)

    def delete(self, resource: ApiResource, name: str, *, namespace: str = "",
               propagation: str = "") -> bool:
        """Delete the object ``name`` (``propagation``: ``Foreground``, ``Background`` or
        ``Orphan`` for its dependents); False when it was already gone. The answer (the object,
        or a Status) is not read: we need neither."""
        body = {"propagationPolicy": propagation} if propagation else None
        response = self.call("DELETE", resource.path(namespace, name), verb="delete",
                             resource=resource, namespace=namespace, name=name, missing_ok=True,
                             body=body)
        return response is not None

    # -- streams ----------------------------------------------------------------------------
    def watch(self, resource: ApiResource, *, namespace: str, label_selector: str = "",
              resource_version: str = "", timeout_seconds: int = 30) -> urllib3.BaseHTTPResponse:
        """A watch of ``resource`` from ``resource_version`` on: a streaming answer of one JSON
        event per line (bookmarks asked for), which the server ends after ``timeout_seconds``."""
        query = [("labelSelector", label_selector)] if label_selector else []
        query += [("watch", "true"), ("resourceVersion", resource_version),
                  ("timeoutSeconds", str(timeout_seconds)), ("allowWatchBookmarks", "true")]
        return self.call("GET", resource.path(namespace), verb="watch", resource=resource,
                         namespace=namespace, query=query, stream=True)

    def open_log(self, pod: str, container: str, *, namespace: str, follow: bool = True,
                 since_time: str | None = None) -> urllib3.BaseHTTPResponse:
        """``GET .../pods/POD/log?timestamps=true[&follow][&sinceTime]`` as a streaming answer:
        each line starts with the RFC 3339 time the kubelet wrote it at."""
        query = [("container", container), ("timestamps", "true")]
        if follow:
            query.append(("follow", "true"))
        if since_time:
            query.append(("sinceTime", since_time))
        return self.call("GET", _log_path(namespace, pod), verb="get", resource="pods/log",
                         namespace=namespace, name=pod, query=query, accept="*/*", stream=True)

    def read_log(self, pod: str, *, namespace: str, container: str = "",
                 tail_lines: int | None = None, previous: bool = False) -> str:
        """A pod's log (its last ``tail_lines``; of the container's previous run with
        ``previous``), as text."""
        query = [("container", container)] if container else []
        if tail_lines:
            query.append(("tailLines", str(tail_lines)))
        if previous:
            query.append(("previous", "true"))
        response = self.call("GET", _log_path(namespace, pod), verb="get", resource="pods/log",
                             namespace=namespace, name=pod, query=query, accept="*/*")
        return response.data.decode("utf-8", "replace")


def close_response(response: urllib3.BaseHTTPResponse) -> None:
    """Close a streaming answer and give its connection back (a broken one is dropped)."""
    try:
        response.close()
    finally:
        try:
            response.release_conn()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
            pass


def _log_path(namespace: str, pod: str) -> str:
    return f"{POD.path(namespace, pod)}/log"


def _json(response: urllib3.BaseHTTPResponse) -> dict:
    return json.loads(response.data) if response.data else {}


def _body_text(response: urllib3.BaseHTTPResponse) -> str:
    """The body of a refusal, read whole (and the connection released, for a stream)."""
    try:
        data = response.data
    finally:
        close_response(response)
    return (data or b"").decode("utf-8", "replace")

