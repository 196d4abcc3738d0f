"""AWS keys never reach an image: capture a cell that uses AWS from a kernel whose environment
holds keys, a session token and a docker login, build the image, and scan every layer, the
config, the labels and the manifest with the credential scanner."""

import base64
import json
import os

from fairing_magics.capture.cell import capture_cell
from fairing_magics.image.builder import AppendBuilder, BuildRequest
from fairing_magics.secrets_scan import find_credentials, find_credentials_in_blob
from tests.harness.fixtures_aws import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFakeSessionTokenForFairingTests" + "x" * 80
ECR_PASSWORD = "eyJwYXlsb2FkIjoiZmFpcmluZy10ZXN0LWVjci10b2tlbiJ9"

HISTORY = [
    "import os\nimport boto3\n",
    "def bucket_region(name):\n"
    "    client = boto3.client('s3', region_name=os.environ.get('AWS_REGION'))\n"
    "    return client.get_bucket_location(Bucket=name)['LocationConstraint']\n",
]
CELL = "print(bucket_region('fairing-runs'))\n"


def test_image_holds_no_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", "cn-northwest-1")
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {
        "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    (tmp_path / "helpers.py").write_text("REGION = 'cn-northwest-1'\n")
    known = [FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, SESSION_TOKEN, ECR_PASSWORD, auth]

    namespace = {"os": os}
    for source in HISTORY:
        exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - the kernel's cells
    bundle = capture_cell(CELL, namespace, HISTORY + [CELL], cwd=tmp_path, requirements="none")
    image = AppendBuilder(cache_dir=tmp_path / "cache").build(bundle, BuildRequest(base=None))

    assert image.layers, "the image has our code layer"
    for layer in image.layers:
        blob = layer.data if layer.data is not None else layer.path.read_bytes()
        assert find_credentials_in_blob(blob, known) == [], layer.description
    assert find_credentials(image.config_bytes, known) == []
    assert find_credentials(image.manifest_bytes, known) == []
    assert find_credentials(json.dumps(image.labels), known) == []
    for name, data in bundle.members().items():
        assert find_credentials(data, known) == [], name
    # The scanner does see these secrets when they are there (it is not blind).
    leaked = image.config_bytes + FAKE_SECRET_ACCESS_KEY.encode() + auth.encode()
    assert len(find_credentials(leaked, known)) >= 2
