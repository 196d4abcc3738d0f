"""Cluster access and the one request path: kubeconfig and in-cluster loading, the one retry
policy, and what refusals mean.

:class:`ClusterClient` talks real HTTP(S) to a small scripted API server on 127.0.0.1 (answers
are set per test) through the official client's connection pool, so loading, TLS, auth headers,
retries and the translation of refusals are all exercised through the real ``kubernetes``
package.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube.access import ClusterAccess, client_retries, load_cluster_access
from fairing_magics.kube.api_resources import TFJOB
from fairing_magics.kube.client import ClusterClient
from tests.harness import need

VERSION = {"major": "1", "minor": "29", "gitVersion": "v1.29.4", "gitCommit": "", "gitTreeState":
           "", "buildDate": "", "goVersion": "", "compiler": "", "platform": "linux/amd64"}


class ScriptedApi:
    """An HTTP(S) server answering scripted responses per (method, path); records requests."""

    def __init__(self, tls: tuple[Path, Path] | None = None):
        self.requests: list[tuple[str, str, dict]] = []
        #: (method, path with its query, body) of each request, as sent
        self.sent: list[tuple[str, str, bytes]] = []
        self.script: dict[tuple[str, str], list[tuple[int, dict, dict]]] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                api.sent.append((self.command, self.path,
                                 self.rfile.read(length) if length else b""))
                path = self.path.split("?")[0].rstrip("/") or "/"
                api.requests.append((self.command, path,
                                     {k.lower(): v for k, v in self.headers.items()}))
                answers = api.script.get((self.command, path))
                if answers:
                    status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
                else:
                    status, body, headers = 404, status_body(
                        404, "NotFound", "the server could not find the requested resource"), {}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def answer(self, method: str, path: str, *answers: tuple[int, dict] | tuple[int, dict, dict]):
        self.script[(method, path)] = [a if len(a) == 3 else (*a, {}) for a in answers]

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if (m, p) == (method, path))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


@pytest.fixture
def api():
    server = ScriptedApi()
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory) -> tuple[Path, Path]:
    need(shutil.which("openssl") is not None, "openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def write_kubeconfig(path: Path, contexts: dict[str, dict], current: str | None) -> Path:
    """contexts: name -> {"server": url, "token": t, "namespace": ns (optional)}."""
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for name, c in contexts.items():
        config["clusters"].append({"name": f"{name}-cluster", "cluster": {"server": c["server"]}})
        config["users"].append({"name": f"{name}-user", "user": {"token": c["token"]}})
        context = {"cluster": f"{name}-cluster", "user": f"{name}-user"}
        if c.get("namespace"):
            context["namespace"] = c["namespace"]
        config["contexts"].append({"name": name, "context": context})
    if current:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config))
    return path


def fake_token(namespace: str, name: str) -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    claims = {"iss": "kubernetes/serviceaccount",
              "sub": f"system:serviceaccount:{namespace}:{name}"}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJlc2lnbmF0dXJl"


def fake_serviceaccount(folder: Path, ca: Path, namespace: str = "kubeflow-user",
                        name: str = "default-editor") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(fake_token(namespace, name))
    (folder / "ca.crt").write_bytes(ca.read_bytes())
    (folder / "namespace").write_text(namespace + "\n")
    return folder


def version_of(access: ClusterAccess) -> str:
    return ClusterClient(access).read_json("/version", resource="/version")["gitVersion"]


# -- kubeconfig ----------------------------------------------------------------------------------


def test_kubeconfig_current_context_and_its_namespace(api, tmp_path):
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": api.url, "token": "dev-token-1234567890", "namespace": "team-a"},
        "prod": {"server": "http://127.0.0.1:1", "token": "prod-token"},
    }, current="dev")
    api.answer("GET", "/version", (200, VERSION))
    access = load_cluster_access(environ={"KUBECONFIG": str(path)})
    try:
        assert (access.source, access.context, access.namespace) == ("kubeconfig", "dev",
                                                                      "team-a")
        assert access.host == api.url and access.kubeconfig == str(path)
        assert version_of(access) == "v1.29.4"
        _, _, headers = api.requests[-1]
        assert headers["authorization"] == "Bearer dev-token-1234567890"
        assert headers["user-agent"] == "fairing-magics"
        assert "dev-token" not in repr(access)
    finally:
        access.close()


def test_kubeconfig_context_option_and_explicit_namespace(api, tmp_path):
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": "http://127.0.0.1:1", "token": "a", "namespace": "team-a"},
        "prod": {"server": api.url, "token": "b"},
    }, current="dev")
    access = load_cluster_access(kubeconfig=path, context="prod")
    assert (access.context, access.namespace, access.host) == ("prod", "default", api.url)
    access = load_cluster_access(kubeconfig=path, context="prod", namespace="mine")
    assert access.namespace == "mine"


def test_bad_namespace_is_refused_before_anything_else(tmp_path):
    with pytest.raises(ConfigError, match="namespace 'Team_A' is not a valid Kubernetes namespace"):
        load_cluster_access(namespace="Team_A", environ={})


def test_unknown_context_lists_the_known_ones(tmp_path):
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": "http://127.0.0.1:1", "token": "a"},
        "prod": {"server": "http://127.0.0.1:1", "token": "b"}}, current="dev")
    with pytest.raises(ClusterError, match=r"context 'staging' is not in the kubeconfig .*"
                                           r"\(its contexts: dev, prod\)"):
        load_cluster_access(kubeconfig=path, context="staging")


def test_kubeconfig_files_joined_with_a_colon_are_merged(api, tmp_path):
    first = write_kubeconfig(tmp_path / "a", {
        "a": {"server": "http://127.0.0.1:1", "token": "a"}}, current="b")
    second = write_kubeconfig(tmp_path / "b", {
        "b": {"server": api.url, "token": "b", "namespace": "nb"}}, current=None)
    access = load_cluster_access(environ={"KUBECONFIG": f"{first}:{second}"})
    assert (access.context, access.namespace, access.host) == ("b", "nb", api.url)


def test_no_current_context(tmp_path):
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": "http://127.0.0.1:1", "token": "a"}}, current=None)
    with pytest.raises(ClusterError, match="has no current context: pass --context"):
        load_cluster_access(kubeconfig=path)


def test_unreadable_kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [this is: not: yaml")
    with pytest.raises(ClusterError, match="cannot be read"):
        load_cluster_access(kubeconfig=path)


def test_no_access_at_all_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterError) as info:
        load_cluster_access(environ={}, serviceaccount_dir=tmp_path / "none")
    message = str(info.value)
    assert "no Kubernetes cluster access" in message
    assert "KUBERNETES_SERVICE_HOST is not set" in message
    assert str(tmp_path / ".kube" / "config") in message
    assert "KUBECONFIG" in message and "aws eks update-kubeconfig" in message
    assert "--backend local" in message


def test_missing_kubeconfig_named_by_env(tmp_path):
    with pytest.raises(ClusterError, match=r"no kubeconfig file at .*nothing-here \(KUBECONFIG\)"):
        load_cluster_access(environ={"KUBECONFIG": str(tmp_path / "nothing-here")})


def test_pod_without_token_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterError, match="no service-account token is mounted"):
        load_cluster_access(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1",
                                     "KUBERNETES_SERVICE_PORT": "443"},
                            serviceaccount_dir=tmp_path / "sa")


# -- in-cluster ------------------------------------------------------------------------------


@pytest.fixture
def tls_api(tls_pair):
    server = ScriptedApi(tls=tls_pair)
    yield server
    server.close()


def pod_environ(api: ScriptedApi) -> dict[str, str]:
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}


def test_in_cluster_uses_the_service_account_and_its_namespace(tls_api, tls_pair, tmp_path):
    sa = fake_serviceaccount(tmp_path / "sa", ca=tls_pair[0])
    tls_api.answer("GET", "/version", (200, VERSION))
    access = load_cluster_access(environ=pod_environ(tls_api), serviceaccount_dir=sa)
    try:
        assert access.source == "in-cluster" and access.context == ""
        assert access.namespace == "kubeflow-user"
        assert access.identity == "the service account default-editor"
        assert access.serviceaccount == "kubeflow-user:default-editor"
        assert access.host == f"https://127.0.0.1:{tls_api.port}"
        # Real TLS, verified against the mounted CA, with the mounted token.
        assert version_of(access) == "v1.29.4"
        _, _, headers = tls_api.requests[-1]
        scheme, token = headers["authorization"].split(" ", 1)
        assert scheme.lower() == "bearer" and token == (sa / "token").read_text()
    finally:
        access.close()
    access = load_cluster_access(environ=pod_environ(tls_api), serviceaccount_dir=sa,
                                 namespace="other")
    assert access.namespace == "other"


def test_in_cluster_but_kubeconfig_asked_for(api, tls_pair, tmp_path):
    sa = fake_serviceaccount(tmp_path / "sa", ca=tls_pair[0])
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": api.url, "token": "t"}}, current="dev")
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1",
               "KUBECONFIG": str(path)}
    access = load_cluster_access(environ=environ, serviceaccount_dir=sa)
    assert access.source == "kubeconfig" and access.host == api.url


def test_in_cluster_with_empty_ca_is_a_clear_error(tmp_path, tls_pair):
    sa = fake_serviceaccount(tmp_path / "sa", ca=tls_pair[0])
    (sa / "ca.crt").write_text("")
    with pytest.raises(ClusterError, match="its service account cannot be used"):
        load_cluster_access(environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                     "KUBERNETES_SERVICE_PORT": "6443"},
                            serviceaccount_dir=sa)


# -- retries: one policy, in the client ------------------------------------------------------


def quick_access(api: ScriptedApi, tmp_path: Path, *, total: int = 3) -> ClusterAccess:
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": api.url, "token": "t", "namespace": "kubeflow-user"}}, current="dev")
    return load_cluster_access(kubeconfig=path,
                               retries=client_retries(total=total, backoff_factor=0))


TOO_MANY = (429, status_body(429, "TooManyRequests", "Too many requests"), {"Retry-After": "0"})
UNAVAILABLE = (503, status_body(503, "ServiceUnavailable", "the server is unavailable"))
TFJOBS = "/apis/kubeflow.org/v1/namespaces/kubeflow-user/tfjobs"


def create_tfjob(access: ClusterAccess):
    return ClusterClient(access).create(
        TFJOB, {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "x"}},
        namespace="kubeflow-user")


def test_get_is_retried_on_429_and_5xx(api, tmp_path):
    api.answer("GET", "/version", TOO_MANY, UNAVAILABLE, (200, VERSION))
    access = quick_access(api, tmp_path)
    assert version_of(access) == "v1.29.4"
    assert api.count("GET", "/version") == 3


def test_create_is_retried_on_429_but_not_on_503(api, tmp_path):
    access = quick_access(api, tmp_path)
    api.answer("POST", TFJOBS, TOO_MANY, (201, {"metadata": {"name": "x", "uid": "1"}}))
    assert create_tfjob(access)["metadata"]["uid"] == "1"
    assert api.count("POST", TFJOBS) == 2
    api.requests.clear()
    # A 503 on create may have created it: not repeated, the caller hears about it.
    api.answer("POST", TFJOBS, UNAVAILABLE, (201, {}))
    with pytest.raises(ClusterError, match="answered 503"):
        create_tfjob(access)
    assert api.count("POST", TFJOBS) == 1


def test_retries_end_and_the_last_answer_is_reported(api, tmp_path):
    api.answer("GET", "/version", UNAVAILABLE)
    access = quick_access(api, tmp_path, total=2)
    with pytest.raises(ClusterError, match=r"answered 503 .* also after retries"):
        version_of(access)
    assert api.count("GET", "/version") == 3  # the first try and two retries


def test_unreachable_cluster(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_kubeconfig(tmp_path / "config", {
        "dev": {"server": f"http://127.0.0.1:{port}", "token": "secret-token-abcdef"}},
        current="dev")
    access = load_cluster_access(kubeconfig=path, retries=client_retries(backoff_factor=0))
    with pytest.raises(ClusterError) as info:
        version_of(access)
    message = str(info.value)
    assert info.value.status is None  # no answer came
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{port}" in message
    assert "context dev" in message and "secret-token" not in message


# -- what refusals mean ----------------------------------------------------------------------


def test_forbidden_names_verb_resource_namespace_and_the_rule(tls_api, tls_pair, tmp_path):
    sa = fake_serviceaccount(tmp_path / "sa", ca=tls_pair[0])
    access = load_cluster_access(environ=pod_environ(tls_api), serviceaccount_dir=sa)
    tls_api.answer("POST", TFJOBS, (403, status_body(
        403, "Forbidden", 'tfjobs.kubeflow.org is forbidden: User "system:serviceaccount:'
        'kubeflow-user:default-editor" cannot create resource "tfjobs" in API group '
        '"kubeflow.org" in the namespace "kubeflow-user"',
        {"group": "kubeflow.org", "kind": "tfjobs"})))
    with pytest.raises(ClusterError) as info:
        create_tfjob(access)
    message = str(info.value)
    assert message.startswith("the service account default-editor may not create "
                              "tfjobs.kubeflow.org in namespace kubeflow-user: ")
    assert 'apiGroups: ["kubeflow.org"], resources: ["tfjobs"], verbs: ["create"]' in message
    assert ("kubectl -n kubeflow-user create role fairing-tfjobs --verb=create "
            "--resource=tfjobs.kubeflow.org") in message
    assert "--serviceaccount=kubeflow-user:default-editor" in message


def test_missing_crd(api, tmp_path):
    access = quick_access(api, tmp_path)  # the scripted server answers 404 for unknown routes
    with pytest.raises(ClusterError) as info:
        create_tfjob(access)
    message = str(info.value)
    assert "this cluster has no tfjobs.kubeflow.org (TFJob, kubeflow.org/v1)" in message
    assert "Install the Kubeflow training operator, or train with --kind job" in message


@pytest.mark.parametrize("status, body, expected", [
    (401, status_body(401, "Unauthorized", "Unauthorized"),
     "did not accept our credentials (401 Unauthorized) to create tfjobs.kubeflow.org"),
    (404, status_body(404, "NotFound", 'namespaces "kubeflow-user" not found',
                      {"name": "kubeflow-user", "kind": "namespaces"}),
     "namespace kubeflow-user does not exist"),
    (409, status_body(409, "AlreadyExists", 'tfjobs.kubeflow.org "x" already exists',
                      {"name": "x", "group": "kubeflow.org", "kind": "tfjobs"}),
     "tfjobs.kubeflow.org x already exists in namespace kubeflow-user: choose another --name"),
    (422, status_body(422, "Invalid", 'TFJob "x" is invalid: spec: Required value',
                      {"name": "x", "kind": "TFJob"}),
     'refused the tfjobs.kubeflow.org x in namespace kubeflow-user as invalid: TFJob "x" is '
     "invalid: spec: Required value"),
])
def test_other_refusals(api, tmp_path, status, body, expected):
    api.answer("POST", TFJOBS, (status, body))
    access = quick_access(api, tmp_path)
    with pytest.raises(ClusterError) as info:
        create_tfjob(access)
    assert expected in str(info.value)


def test_named_object_not_found(api, tmp_path):
    api.answer("GET", TFJOBS + "/gone", (404, status_body(
        404, "NotFound", 'tfjobs.kubeflow.org "gone" not found',
        {"name": "gone", "group": "kubeflow.org", "kind": "tfjobs"})))
    access = quick_access(api, tmp_path)
    with pytest.raises(ClusterError, match="tfjobs.kubeflow.org gone not found in namespace "
                                           "kubeflow-user"):
        ClusterClient(access).get(TFJOB, "gone", namespace="kubeflow-user")


# -- the one request path: what a caller gets back --------------------------------------------


def test_a_refusal_keeps_its_status_and_reason(api, tmp_path):
    api.answer("GET", TFJOBS + "/x", (403, status_body(403, "Forbidden", "tfjobs is forbidden")))
    client = ClusterClient(quick_access(api, tmp_path))
    with pytest.raises(ClusterError) as info:
        client.get(TFJOB, "x", namespace="kubeflow-user")
    assert (info.value.status, info.value.reason) == (403, "Forbidden")
    assert 'resources: ["tfjobs"], verbs: ["get"]' in str(info.value)


def test_missing_ok_reads_a_404_as_absent_and_nothing_else(api, tmp_path):
    client = ClusterClient(quick_access(api, tmp_path))
    # The scripted server has no route for tfjobs: a cluster without the CRD.
    assert client.list(TFJOB, namespace="kubeflow-user", missing_ok=True) is None
    assert client.get(TFJOB, "gone", namespace="kubeflow-user", missing_ok=True) is None
    api.answer("GET", TFJOBS, (403, status_body(403, "Forbidden", "tfjobs is forbidden")))
    with pytest.raises(ClusterError, match="may not list tfjobs.kubeflow.org"):
        client.list(TFJOB, namespace="kubeflow-user", missing_ok=True)


def test_delete_asks_for_its_propagation_and_says_when_it_was_gone(api, tmp_path):
    gone = status_body(404, "NotFound", 'tfjobs.kubeflow.org "x" not found',
                       {"name": "x", "group": "kubeflow.org", "kind": "tfjobs"})
    api.answer("DELETE", TFJOBS + "/x", (200, {"kind": "Status", "status": "Success"}),
               (404, gone))
    client = ClusterClient(quick_access(api, tmp_path))
    assert client.delete(TFJOB, "x", namespace="kubeflow-user", propagation="Foreground")
    assert json.loads(api.sent[-1][2]) == {"propagationPolicy": "Foreground"}
    assert client.delete(TFJOB, "x", namespace="kubeflow-user") is False


def test_patch_is_a_merge_patch_and_a_selector_is_encoded(api, tmp_path):
    api.answer("PATCH", TFJOBS + "/x", (200, {"metadata": {"name": "x", "generation": 2}}))
    api.answer("GET", TFJOBS, (200, {"kind": "TFJobList", "items": []}))
    client = ClusterClient(quick_access(api, tmp_path))
    patched = client.patch(TFJOB, "x", {"spec": {"runPolicy": None}}, namespace="kubeflow-user")
    assert patched["metadata"]["generation"] == 2
    method, path, headers = api.requests[-1]
    assert (method, headers["content-type"]) == ("PATCH", "application/merge-patch+json")
    assert json.loads(api.sent[-1][2]) == {"spec": {"runPolicy": None}}
    listed = client.list(TFJOB, namespace="kubeflow-user",
                         label_selector="fairing.dev/run=a,fairing.dev/name=b")
    assert listed == {"kind": "TFJobList", "items": []}
    assert api.sent[-1][1] == (TFJOBS + "?labelSelector=fairing.dev%2Frun%3Da%2C"
                               "fairing.dev%2Fname%3Db")

