"""pytest fixtures for AWS: moto's server on 127.0.0.1 (loaded as a plugin by tests/conftest.py).

``moto_server`` (session) runs ``moto.server.ThreadedMotoServer`` on a free loopback port and
stops it at the end. ``aws`` (per test) resets moto's state and points boto3 at it through
``AWS_ENDPOINT_URL`` with fake credentials (never the machine's own: profiles, config files and
the instance metadata service are switched off), region ``cn-northwest-1`` unless the test sets
another. Tests that use them are e2e tests.

IAM is not enforced by default; ``aws.enforce_iam()`` makes moto check every later request
against the IAM policies of the caller (``/moto-api/reset-auth``), so that AccessDenied answers
are moto's own. The ``aws`` fixture switches enforcement off again afterwards.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from dataclasses import dataclass

import pytest

from tests.harness import need

#: Fake credentials (well-formed, so that the credential scanner would notice them).
FAKE_ACCESS_KEY_ID = "AKIAFAIRINGTESTKEY01"
FAKE_SECRET_ACCESS_KEY = "fairingTestSecretKey0123456789abcdefGHIJ"
MOTO_ACCOUNT = "123456789012"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: ``url`` is what AWS_ENDPOINT_URL gets."""

    url: str

    def _post(self, path: str, body: bytes = b"") -> None:
        request = urllib.request.Request(self.url + path, data=body, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def reset(self) -> None:
        """Forget every resource (buckets, repositories, IAM users)."""
        self._post("/moto-api/reset")

    def enforce_iam(self, free_requests: int = 0) -> None:
        """Check IAM policies on every request after the next ``free_requests`` ones."""
        self._post("/moto-api/reset-auth", str(free_requests).encode())

    def relax_iam(self) -> None:
        """Stop checking IAM policies (moto's default)."""
        self._post("/moto-api/reset-auth", b"inf")


@pytest.fixture(scope="session")
def moto_server():
    """moto's server in this process on 127.0.0.1:<free port>, stopped at the end of the session."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        need(False, f"moto[server] is not installed ({exc}): pip install 'moto[server]'")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start means: no moto here
        need(False, f"moto server cannot start on 127.0.0.1:{port}: {exc}")
    moto = MotoServer(url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 10
    while True:
        try:
            moto.reset()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                server.stop()
                need(False, f"moto server on 127.0.0.1:{port} does not answer: {exc}")
            time.sleep(0.05)
    yield moto
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch, tmp_path):
    """boto3 pointed at a freshly reset moto, fake credentials, region cn-northwest-1."""
    moto_server.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", "cn-northwest-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-northwest-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield moto_server
    moto_server.relax_iam()
