"""The credential scanner finds each kind of credential, and not ordinary text."""

import base64
import gzip
import io
import json
import tarfile

import pytest

from fairing_magics.secrets_scan import find_credentials, find_credentials_in_blob

JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0."
       "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl")


@pytest.mark.parametrize(
    "text, kind",
    [
        ("key=AKIAFAIRINGTESTKEY01\n", "AWS access key id"),
        ("ASIAFAIRINGTESTKEY02", "AWS access key id"),
        ("aws_secret_access_key = " + "Ab1/" * 10, "AWS secret access key"),
        ('{"SecretAccessKey": "' + "Zz9+" * 10 + '"}', "AWS secret access key"),
        ("AWS_SESSION_TOKEN=" + "F" * 120, "AWS session token"),
        (base64.b64encode(b"AWS:eyJwYXlsb2FkIjoiZm9vIn0=").decode(), "ECR authorization token"),
        (json.dumps({"auths": {"r.example": {"auth": "dXNlcjpwYXNzd29yZA=="}}}),
         "docker config auth"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization header"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz'", "bearer token"),
        ("https://user:hunter2@registry.example/v2/", "password in URL"),
        (f"token: {JWT}", "JWT (Kubernetes service-account token)"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private key"),
    ],
)
def test_finds_each_kind(text, kind):
    findings = find_credentials(text)
    assert any(finding.startswith(kind + " at offset") for finding in findings), findings
    secret_part = text[-12:]
    assert all(secret_part not in finding for finding in findings)


@pytest.mark.parametrize(
    "text",
    [
        "import boto3\nclient = boto3.client('ecr')\n",
        "sha1 0123456789abcdef0123456789abcdef01234567 and AKIA in prose",
        "the docs example AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']",
        "Bearer token authentication is described in RFC 6750",
        "https://registry.example/v2/_catalog",
    ],
)
def test_ordinary_text_is_clean(text):
    assert find_credentials(text) == []


def test_known_secrets_plain_and_base64():
    secret = "fairingTestSecretKey0123456789abcdefGHIJ"
    assert find_credentials(b"nothing", known=[secret]) == []
    assert find_credentials("x " + secret, known=[secret]) == ["a known secret at offset 2"]
    encoded = base64.b64encode(secret.encode()).decode()
    assert find_credentials(encoded, known=[secret]) == ["a known secret (base64) at offset 0"]


def _layer(files: dict) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def test_scans_layer_members():
    clean = _layer({"app/main.py": b"print('hi')\n", "app/values/x.pkl": b"\x80\x04K\x01."})
    assert find_credentials_in_blob(clean) == []
    dirty = _layer({"app/main.py": b"print('hi')\n",
                    "root/.docker/config.json": b'{"auths": {"h": {"auth": "dXNlcjpwYXNz"}}}'})
    assert find_credentials_in_blob(dirty) == [
        "root/.docker/config.json: docker config auth at offset 17"]


def test_scans_config_json():
    config = json.dumps({"config": {"Env": ["AWS_ACCESS_KEY_ID=AKIAFAIRINGTESTKEY01"]}}).encode()
    assert find_credentials_in_blob(config)[0].startswith("AWS access key id")
