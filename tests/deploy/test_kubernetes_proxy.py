"""A ClusterIP endpoint reached from outside the cluster goes through the API server's service
proxy with the kubeconfig's credentials. The emulator has no service proxy, so a small HTTP server
plays that one part of an API server (the proxy path and bearer-token check) here."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml

from fairing_magics.deploy.endpoint import Endpoint, PredictionError
from fairing_magics.deploy.kubernetes_objects import EndpointObjects, KubernetesServer
from fairing_magics.kube.access import load_cluster_access
from fairing_magics.kube.client import ClusterClient

TOKEN = "proxy-test-token"
PREFIX = "/api/v1/namespaces/team/services/linreg:http/proxy"


class _ProxyHandler(BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"kind": "Status", "message": "Unauthorized"})
        if not self.path.startswith(PREFIX):
            return self._reply(404, {"kind": "Status", "message": "not found"})
        path = self.path[len(PREFIX):]
        if self.command == "GET" and path == "/v1/models/linreg":
            return self._reply(200, {"name": "linreg", "ready": True})
        instances = json.loads(body)["instances"]
        if len({len(row) for row in instances}) > 1:
            return self._reply(400, {"error": "instances must all have the same shape"})
        return self._reply(200, {"predictions": [sum(row) for row in instances]})

    do_GET = do_POST = _handle


@pytest.fixture
def proxy_access(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": host}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c",
                      "context": {"cluster": "k", "user": "u", "namespace": "team"}}]}))
    access = load_cluster_access(kubeconfig=str(kubeconfig), environ={})
    _ProxyHandler.seen = []
    yield access, server
    access.close()
    server.shutdown()
    server.server_close()


def test_predictions_go_through_the_service_proxy_with_the_token(proxy_access):
    proxy_access, _stub = proxy_access
    server = KubernetesServer(ClusterClient(proxy_access), EndpointObjects("linreg", "team", False),
                              "ignored", proxied=True)
    status, body = server.request("GET", "/v1/models/linreg")
    assert status == 200 and json.loads(body)["ready"] is True
    endpoint = Endpoint("linreg", server)
    assert np.array_equal(endpoint.predict(np.array([[1, 2], [3, 4]])), [3, 7])
    method, path, auth, sent = _ProxyHandler.seen[-1]
    assert (method, path, auth) == ("POST", f"{PREFIX}/v1/models/linreg:predict", f"Bearer {TOKEN}")
    assert json.loads(sent) == {"instances": [[1, 2], [3, 4]]}
    with pytest.raises(PredictionError) as caught:
        endpoint.predict([[1, 2], [3]])
    assert caught.value.status == 400 and "same shape" in str(caught.value)


def test_an_unreachable_api_server_is_a_connection_error(proxy_access):
    proxy_access, stub = proxy_access
    stub.shutdown()
    stub.server_close()  # nothing listens on the API server's port any more
    server = KubernetesServer(ClusterClient(proxy_access), EndpointObjects("linreg", "team", False),
                              "ignored", proxied=True)
    with pytest.raises(ConnectionError, match="service proxy"):
        server.request("GET", "/v1/models/linreg", timeout=2)
    with pytest.raises(PredictionError, match="cannot be reached"):
        Endpoint("linreg", server).predict([[1]])
