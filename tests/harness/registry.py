"""A real OCI registry (Debian's ``docker-registry``, distribution 2.8) and a fault proxy for it.

:func:`start_registry` runs ``docker-registry serve`` on a free port of 127.0.0.1 as a background
process: plain HTTP, with htpasswd (bcrypt) basic auth, and/or with TLS (a self-signed
certificate for 127.0.0.1). It waits until ``GET /v2/`` answers; :meth:`RegistryServer.stop`
ends it by PID.

:class:`FaultProxy` sits in front of a registry and answers 503, or resets the connection, on a
fraction of the requests (chosen by a seeded random generator) before forwarding them: the
registry never sees a faulted request, as with a load balancer in trouble.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

USER = "fairing"
PASSWORD = "s3cret-pass"


def registry_available() -> bool:
    return shutil.which("docker-registry") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RegistryServer:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; stop it with :meth:`stop`."""

    host: str
    folder: Path
    process: subprocess.Popen
    tls: bool = False
    auth: bool = False
    cert: Path | None = None
    user: str = USER
    password: str = PASSWORD
    log: Path | None = None
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def stop(self) -> None:
        if self.token_server is not None:
            self.token_server.stop()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def manifest_status(self, repository: str, reference: str) -> int:
        """HTTP status of ``HEAD /v2/REPO/manifests/REF`` straight to the registry (no client of
        ours)."""
        import requests

        headers = {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                             "application/vnd.docker.distribution.manifest.v2+json"}
        if self.token_server is not None:
            headers["Authorization"] = "Bearer " + self.token_server.issue(
                self.user, [("repository", repository, ["pull"])])
        response = requests.head(
            f"{self.url}/v2/{repository}/manifests/{reference}", headers=headers,
            auth=(self.user, self.password) if self.auth and self.token_server is None else None,
            verify=str(self.cert) if self.tls else True, timeout=10)
        return response.status_code


def _q(path: Path) -> str:
    return json.dumps(str(path))  # a JSON string is a YAML string


def _write_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


def start_registry(folder: str | os.PathLike, *, auth: bool = False, tls: bool = False,
                   token: bool = False, timeout: float = 20.0) -> RegistryServer:
    """Start ``docker-registry serve`` with its storage in ``folder``; return once it answers.

    ``auth``: htpasswd basic auth. ``token``: bearer tokens from a :class:`TokenServer` started
    here (the registry trusts its certificate).
    """
    root = Path(folder)
    (root / "data").mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        "version: 0.1",
        "log: {level: error, accesslog: {disabled: true}}",
        f"storage: {{filesystem: {{rootdirectory: {_q(root / 'data')}}}, "
        f"delete: {{enabled: true}}}}",
    ]
    http_line = f"http: {{addr: 127.0.0.1:{port}, secret: fixed"
    cert = None
    if tls:
        cert, key = _write_cert(root)
        http_line += f", tls: {{certificate: {_q(cert)}, key: {_q(key)}}}"
    lines.append(http_line + "}")
    if auth:
        entry = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                               capture_output=True, text=True, timeout=30).stdout
        (root / "htpasswd").write_text(entry.strip() + "\n")
        lines.append(f"auth: {{htpasswd: {{realm: fairing-test, path: {_q(root / 'htpasswd')}}}}}")
    token_server = None
    if token:
        token_server = TokenServer(root / "token")
        lines.append(f"auth: {{token: {{realm: {_q(token_server.realm)}, "
                     f"service: {TokenServer.SERVICE}, "
                     f"issuer: {TokenServer.ISSUER}, rootcertbundle: {_q(token_server.cert)}}}}}")
    config = root / "registry.yml"
    config.write_text("\n".join(lines) + "\n")
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT)
    server = RegistryServer(host=f"127.0.0.1:{port}", folder=root, process=process, tls=tls,
                            auth=auth or token, cert=cert, log=log, token_server=token_server)
    deadline = time.monotonic() + timeout
    context = ssl.create_default_context(cafile=str(cert)) if tls else None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
                    if tls else http.client.HTTPConnection("127.0.0.1", port, timeout=2))
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            conn.close()
            if status in (200, 401):
                return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"docker-registry did not answer on {server.host} within {timeout} s")


# -- token server ----------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """A bearer-token service (distribution's token auth spec) on 127.0.0.1.

    ``GET /token?service=S&scope=repository:NAME:ACTIONS...`` with Basic credentials answers a
    JWT (RS256, signed with a key whose self-signed certificate the registry trusts, sent in
    ``x5c``) granting the asked actions; anonymous callers get ``pull`` only, wrong credentials
    a 401. Every request's scopes are recorded in ``requests``. With ``single_scope`` set, only
    the first scope is granted, which makes the registry refuse cross-repository mounts.
    """

    SERVICE = "fairing-test-registry"
    ISSUER = "fairing-test-issuer"

    def __init__(self, folder: Path, user: str = USER, password: str = PASSWORD):
        folder.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = folder / "token-cert.pem", folder / "token-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=fairing-token",
                        "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True, timeout=60)
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        self._private = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        der = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_bytes(
            serialization.Encoding.DER)
        self._x5c = base64.b64encode(der).decode("ascii")
        self.user, self.password = user, password
        self.requests: list[tuple[str, tuple[str, ...]]] = []
        # True: grant the first scope only (refuses cross-repository mounts)
        self.single_scope = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                from urllib.parse import parse_qs, urlsplit

                query = parse_qs(urlsplit(self.path).query)
                scopes = tuple(query.get("scope", []))
                header = self.headers.get("Authorization", "")
                who = ""
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if (user, password) != (owner.user, owner.password):
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    who = user
                owner.requests.append((who, scopes))
                access = []
                for scope in scopes[:1] if owner.single_scope else scopes:
                    kind, name, actions = scope.split(":")
                    granted = (actions.split(",") if who
                               else [a for a in actions.split(",") if a == "pull"])
                    access.append((kind, name, granted))
                body = json.dumps({"token": owner.issue(who, access), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, name="token-server",
                                       daemon=True)
        self.thread.start()

    def issue(self, subject: str, access: list[tuple[str, str, list[str]]]) -> str:
        """A signed JWT for ``subject`` granting ``access`` [(type, name, actions)]."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.ISSUER, "sub": subject, "aud": self.SERVICE, "exp": now + 300,
                  "nbf": now - 30, "iat": now, "jti": os.urandom(8).hex(),
                  "access": [{"type": t, "name": n, "actions": a} for t, n, a in access]}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode())).encode()
        signature = self._private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + _b64url(signature)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# -- fault proxy ------------------------------------------------------------------------------

@dataclass
class FaultPlan:
    """Which requests fail: ``rate`` of those whose method is in ``methods`` (all when empty)."""

    rate: float = 0.3
    kinds: tuple[str, ...] = ("503", "reset")
    methods: tuple[str, ...] = ()
    seed: int = 7
    counts: dict = field(default_factory=lambda: {"forwarded": 0, "503": 0, "reset": 0})


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        fault = self.server.pick_fault(self.command)
        if fault == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault == "503":
            payload = b'{"errors":[{"code":"UNAVAILABLE","message":"fault proxy says no"}]}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection")}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream: tuple[str, int], plan: FaultPlan):
        super().__init__(address, _ProxyHandler)
        self.upstream = upstream
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.lock = threading.Lock()

    def pick_fault(self, method: str) -> str | None:
        plan = self.plan
        with self.lock:
            if (not plan.methods or method in plan.methods) and self.random.random() < plan.rate:
                kind = self.random.choice(plan.kinds)
            else:
                kind = None
            plan.counts["forwarded" if kind is None else kind] += 1
        return kind


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of a plain-HTTP registry that injects faults.

    ``proxy.host`` is what clients use; the ``Host`` header is forwarded unchanged, so the
    registry's upload ``Location`` URLs point back at the proxy.
    """

    def __init__(self, upstream_host: str, plan: FaultPlan | None = None):
        name, port = upstream_host.rsplit(":", 1)
        self.plan = plan or FaultPlan()
        self.server = _ProxyServer(("127.0.0.1", 0), (name, int(port)), self.plan)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy",
                                       daemon=True)
        self.thread.start()

    @property
    def counts(self) -> dict:
        return self.plan.counts

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
