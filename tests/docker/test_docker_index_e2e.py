"""--builder docker with a named package index (podman's Docker API), through the kernel's image
service: pip runs in a first stage against the index on 127.0.0.1, and the pushed image's
history and config do not name it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.docker_engine import docker_client
from fairing_magics.image.publish import ImageService
from fairing_magics.oci import parse_reference
from fairing_magics.oci.manifest import IMAGE_MANIFEST_TYPES
from tests.docker.test_docker_builder_e2e import make_bundle, run_locally
from tests.docker.wheels import make_wheel, wheel_from_installed
from tests.harness.package_index import PackageIndexServer

pytestmark = pytest.mark.e2e


def _get(url: str, accept: str = "") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.read()


@pytest.fixture(scope="module")
def index_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index-wheels")
    make_wheel(folder)
    wheel_from_installed(folder, "cloudpickle")
    server = PackageIndexServer(folder)
    yield server, folder
    server.stop()


def test_docker_builder_installs_from_the_index_and_keeps_it_out_of_the_image(
        tmp_path, docker_api, registry, registry_client, base_image, index_server, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    server, wheels = index_server
    engine = docker_client(docker_api)
    try:
        images = ImageService(Settings(index_url=server.url, insecure_registries=(registry.host,)),
                              builder="docker")
        bundle = make_bundle()
        events: list = []
        repository = parse_reference(f"{registry.host}/docker/indexed")
        pushed = images.publish(bundle, repository=repository, base_image=base_image.ref,
                                tag="indexed", emit=events.append)
        ref = str(pushed)
        assert server.served_files(), "pip in the build stage fetched from our index"
        assert [(e.stage, e.state) for e in events if isinstance(e, ev.StageChanged)] == [
            ("build", "running"), ("build", "done"), ("push", "running"), ("push", "done")]
        local = f"{registry.host}/docker/indexed:indexed"
        history = json.dumps(engine.api.history(local))
        where = f"127.0.0.1:{server.port}"
        assert "COPY --from=fairing-deps" in history or "/fairing/deps" in history
        assert where not in history and where not in json.dumps(engine.api.inspect_image(local))
        # What the registry holds (the pushed config, history included) does not name it either.
        digest = pushed.digest
        api = f"http://{registry.host}/v2/docker/indexed"
        manifest = _get(f"{api}/manifests/{digest}", ", ".join(IMAGE_MANIFEST_TYPES))
        config = _get(f"{api}/blobs/{json.loads(manifest)['config']['digest']}")
        assert where.encode() not in config and b"index-url" not in config
        out = tmp_path / "out"
        out.mkdir()
        output = engine.containers.run(
            ref, network_mode="host", init=True, remove=True,
            volumes={str(out): {"bind": "/fairing/output", "mode": "rw"}})
        assert output.decode() == run_locally(bundle, tmp_path / "local", wheels)
    finally:
        engine.close()
