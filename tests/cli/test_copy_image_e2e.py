"""``fairing-magics copy-image`` between two real registries (Debian's docker-registry): the source
behind basic auth (credentials from a docker config, as after ``docker login``), the destination
plain. A two-platform image (an OCI index over linux/amd64 and linux/arm64/v8 images sharing a
layer) is made and pushed by our client; every check of what landed reads the destination
registry directly, with no code of ours."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fairing_magics.copy_image import copy_image
from fairing_magics.errors import ConfigError, RegistryError
from fairing_magics.oci import TarEntry, layer_from_entries, parse_reference
from fairing_magics.oci.image import Image, render_config
from fairing_magics.oci.manifest import OCI, OCI_INDEX, canonical_json
from fairing_magics.registry import Keychain, RegistryClient, Transport, push_image

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ACCEPT = ", ".join(("application/vnd.oci.image.index.v1+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"))


def _blob_layer(name: str, size: int):
    """A layer of incompressible bytes, so the bytes on the wire are visible."""
    payload = b"".join(hashlib.sha256(f"{name}-{i}".encode()).digest() for i in range(size // 32))
    return layer_from_entries([TarEntry(f"data/{name}.bin", data=payload)], f"{name} layer")


class SourceImage:
    """A two-platform image pushed to ``repository``: its index and per-platform manifests."""

    def __init__(self, client: RegistryClient, repository: str):
        shared = _blob_layer("shared", 64 << 10)
        self.images = {}
        for platform, (arch, variant) in {"linux/amd64": ("amd64", ""),
                                          "linux/arm64/v8": ("arm64", "v8")}.items():
            base_config = {"architecture": arch, "os": "linux",
                           **({"variant": variant} if variant else {})}
            layers = (shared, _blob_layer(f"only-{arch}", 96 << 10))
            image = Image(format=OCI,
                          config_bytes=render_config(base_config, layers, cmd=["python3"]),
                          layers=layers)
            push_image(client, image, parse_reference(repository))
            self.images[platform] = image
        self.index_bytes = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": image.media_type, "digest": image.digest,
                 "size": len(image.manifest_bytes),
                 "platform": {"os": "linux", "architecture": platform.split("/")[1],
                              **({"variant": platform.split("/")[2]}
                                 if platform.count("/") == 2 else {})}}
                for platform, image in self.images.items()]})
        self.index_digest = "sha256:" + hashlib.sha256(self.index_bytes).hexdigest()
        client.put_manifest(parse_reference(f"{repository}:3.11-slim"), self.index_bytes, OCI_INDEX)
        self.repository = repository


def direct(server, path: str, method: str = "GET") -> requests.Response:
    """Read the registry without any code of ours."""
    return requests.request(method, f"{server.url}{path}", headers={"Accept": ACCEPT}, timeout=30,
                            auth=(server.user, server.password) if server.auth else None)


@pytest.fixture(scope="module")
def source(auth_registry):
    client = RegistryClient(Transport(
        Keychain(explicit={auth_registry.host: (auth_registry.user, auth_registry.password)},
                 docker_config={}),
        insecure_registries=[auth_registry.host]))
    return SourceImage(client, f"{auth_registry.host}/library/python")


@pytest.fixture
def docker_login(tmp_path, auth_registry, monkeypatch):
    """A docker config holding the source registry's login, as `docker login` writes it."""
    folder = tmp_path / "docker"
    folder.mkdir()
    auth = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairing_magics.cli", "copy-image", *args],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=300)


def test_all_platforms_copies_the_index_and_every_image_with_their_digests(
        source, auth_registry, registry, docker_login):
    result = cli(f"{source.repository}:3.11-slim", f"{registry.host}/mirror/python",
                 "--all-platforms", "--insecure-registry", auth_registry.host,
                 "--insecure-registry", registry.host)
    assert result.returncode == 0, result.stderr
    # The tag (the source's) names the very same index, byte for byte.
    tagged = direct(registry, "/v2/mirror/python/manifests/3.11-slim")
    assert tagged.status_code == 200 and tagged.content == source.index_bytes
    for image in source.images.values():
        stored = direct(registry, f"/v2/mirror/python/manifests/{image.digest}")
        assert stored.content == image.manifest_bytes
        for descriptor in [json.loads(image.manifest_bytes)["config"],
                           *json.loads(image.manifest_bytes)["layers"]]:
            blob = direct(registry, f"/v2/mirror/python/blobs/{descriptor['digest']}")
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == descriptor["digest"]
    assert (f"to {registry.host}/mirror/python@{source.index_digest}, tagged 3.11-slim"
            in result.stdout)
    assert ("5 blobs: 5 copied" in result.stdout
            and "3 manifests with unchanged digests" in result.stdout)
    assert f"%fairing_config --base-image {registry.host}/mirror/python:3.11-slim" in result.stdout
    assert auth_registry.password not in result.stdout + result.stderr


def test_one_platform_is_that_platforms_manifest_and_only_its_blobs(
        source, auth_registry, registry, docker_login):
    result = cli(f"{source.repository}:3.11-slim", f"{registry.host}/arm/python:base",
                 "--platform", "linux/arm64",
                 "--insecure-registry", auth_registry.host, "--insecure-registry", registry.host)
    assert result.returncode == 0, result.stderr
    arm, amd = source.images["linux/arm64/v8"], source.images["linux/amd64"]
    assert direct(registry, "/v2/arm/python/manifests/base").content == arm.manifest_bytes
    only_amd = json.loads(amd.manifest_bytes)["layers"][1]["digest"]
    assert direct(registry, f"/v2/arm/python/blobs/{only_amd}", "HEAD").status_code == 404
    assert "(linux/arm64/v8)" in result.stdout and "4 blobs" not in result.stdout


def test_blobs_already_there_are_skipped_and_on_one_registry_mounted(
        source, auth_registry, registry):
    keychain = Keychain(explicit={auth_registry.host: (auth_registry.user, auth_registry.password)},
                        docker_config={})
    client = RegistryClient(Transport(keychain,
                                      insecure_registries=[auth_registry.host, registry.host]))
    seen = []
    first = copy_image(client, f"{source.repository}:3.11-slim", f"{registry.host}/twice/python",
                       on_blob=lambda what, digest, size, outcome: seen.append(outcome))
    again = copy_image(client, f"{source.repository}:3.11-slim", f"{registry.host}/twice/python")
    assert first.count("copied") == 3 and again.count("copied") == 0 and again.count("present") == 3
    assert (again.target == first.target
            == f"{registry.host}/twice/python@{source.images['linux/amd64'].digest}")
    assert sorted(seen) == ["copied"] * 3
    # Within one registry nothing is downloaded: each blob is mounted from the other repository.
    moved = copy_image(client, f"{registry.host}/twice/python:3.11-slim",
                       f"{registry.host}/moved/python")
    assert moved.count("mounted") == 3 and moved.bytes("copied") == 0
    assert direct(registry, "/v2/moved/python/manifests/3.11-slim").content == \
        source.images["linux/amd64"].manifest_bytes


def test_refusals_say_what_to_do(source, auth_registry, registry, docker_login, tmp_path):
    without_login = cli(f"{source.repository}:3.11-slim", f"{registry.host}/x/python",
                        "--insecure-registry", auth_registry.host,
                        "--insecure-registry", registry.host,
                        env={"DOCKER_CONFIG": str(tmp_path / "nowhere")})
    assert without_login.returncode == 1
    assert "answered 401" in without_login.stderr and "docker login" in without_login.stderr
    missing = cli(f"{source.repository}:3.11-slim", f"{registry.host}/x/python",
                  "--platform", "linux/s390x",
                  "--insecure-registry", auth_registry.host, "--insecure-registry", registry.host)
    assert missing.returncode == 1
    assert "no linux/s390x variant (it has: linux/amd64, linux/arm64/v8)" in missing.stderr
    both = cli("python:3.11-slim", f"{registry.host}/x/python",
               "--platform", "linux/amd64", "--all-platforms")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    client = RegistryClient(Transport(Keychain(docker_config={}),
                                      insecure_registries=[registry.host]))
    with pytest.raises(ConfigError, match="names a digest"):
        copy_image(client, "python:3.11-slim", f"{registry.host}/x/python@{source.index_digest}")
    with pytest.raises(RegistryError, match="cannot reach registry 127.0.0.1:9"):
        copy_image(client, "127.0.0.1:9/python:3.11-slim", f"{registry.host}/x/python")
    assert direct(registry, "/v2/x/python/tags/list").status_code == 404  # nothing half-made


def test_a_single_platform_image_refuses_another_platform(source, auth_registry, registry):
    keychain = Keychain(explicit={auth_registry.host: (auth_registry.user, auth_registry.password)},
                        docker_config={})
    client = RegistryClient(Transport(keychain,
                                      insecure_registries=[auth_registry.host, registry.host]))
    single = f"{source.repository}@{source.images['linux/amd64'].digest}"
    with pytest.raises(ConfigError, match="is a single linux/amd64 image, not linux/arm64"):
        copy_image(client, single, f"{registry.host}/single/python", platform="linux/arm64")
    done = copy_image(client, single, f"{registry.host}/single/python")
    assert done.tag == "" and done.platforms == ("linux/amd64",)
    manifest = f"/v2/single/python/manifests/{source.images['linux/amd64'].digest}"
    assert direct(registry, manifest).status_code == 200
