"""DockerBuilder through podman's Docker API: build with a requirement installed by pip in the
image, push to the real registry, run the pushed image; push and build errors are raised with
what the registry or pip said."""

from __future__ import annotations

import os
import subprocess
import sys

import cloudpickle
import pytest

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle, write_bundle
from fairing_magics.docker_engine import docker_client
from fairing_magics.errors import BuildError, RegistryError
from fairing_magics.image.base import BaseResolver
from fairing_magics.image.builder import BuildRequest
from fairing_magics.image.docker_builder import DockerBuilder, EnginePublisher, default_tag
from fairing_magics.image.layout import DIGEST_LABEL
from fairing_magics.oci import Reference, parse_reference
from tests.docker.wheels import make_wheel, wheel_from_installed

pytestmark = pytest.mark.e2e

SOURCE = """\
import json, os, sys
import helper
import fairing_e2e_shapes
total = sum(values)
print("values", values, "total", total)
print("area", fairing_e2e_shapes.area(total, 2), "from", fairing_e2e_shapes.__file__)
result = {"total": total, "scaled": helper.scale(total), "version": fairing_e2e_shapes.VERSION}
print(json.dumps(result, sort_keys=True))
"""


def make_bundle(source: str = SOURCE) -> Bundle:
    return Bundle(source=source, values={"values": cloudpickle.dumps([3, 5, 8])},
                  files={"helper.py": b"def scale(x):\n    return x * 10\n"}, outputs=("result",),
                  requirements=("fairing-e2e-shapes==1.0",),
                  python=".".join(map(str, sys.version_info[:3])))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheels")
    make_wheel(folder)
    wheel_from_installed(folder, "cloudpickle")
    return folder


@pytest.fixture
def engine(docker_api, tmp_path, monkeypatch):
    # no credentials of this machine
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    client = docker_client(docker_api)
    yield client
    client.close()


def build_and_push(builder: DockerBuilder, bundle: Bundle, base: str, repository: str, *,
                   keychain=None, emit=lambda event: None) -> Reference:
    """What the image service does with the docker builder and its publisher, minus the stages."""
    image = builder.build(bundle, BuildRequest(parse_reference(base)), emit)
    return EnginePublisher(keychain).publish(image, parse_reference(repository))


def run_locally(bundle: Bundle, folder, wheels) -> str:
    """The bundle under this Python, with the wheels' packages on PYTHONPATH; its stdout."""
    write_bundle(bundle, folder / "bundle")
    site = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
                    str(wheels),
                    "--target", str(site), "fairing-e2e-shapes==1.0"], check=True,
                   capture_output=True)
    work = folder / "work"
    work.mkdir()
    env = dict(os.environ, FAIRING_OUTPUT_DIR=str(folder / "out"), PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, str(folder / "bundle" / "fairing_bootstrap.py"),
                           str(folder / "bundle")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.replace(str(site), "/fairing/deps")


def test_builds_with_a_requirement_pushes_by_digest_and_runs(tmp_path, engine, registry,
                                                             registry_client, base_image, wheels):
    events: list = []
    builder = DockerBuilder(engine, bases=BaseResolver(registry_client), wheels=wheels)
    bundle = make_bundle()
    pushed = build_and_push(builder, bundle, base_image.tag_ref, f"{registry.host}/docker/job",
                            emit=events.append)
    ref = str(pushed)
    assert ref.startswith(f"{registry.host}/docker/job@sha256:")
    assert [e.text for e in events if isinstance(e, ev.Notice)] == [
        f"base image {parse_reference(base_image.tag_ref)} -> {base_image.ref}"]
    lines = [line for e in events if isinstance(e, ev.LogLines) and e.source == "build"
             for line in e.lines]
    assert any("Successfully installed" in line and "fairing-e2e-shapes-1.0" in line
               for line in lines)
    # The registry holds the manifest the push reported (ask it directly, not the engine).
    assert registry.manifest_status("docker/job", pushed.digest) == 200

    engine.images.remove(f"{pushed.name}:{default_tag(bundle)}", force=True)
    out = tmp_path / "out"
    out.mkdir()
    output = engine.containers.run(ref, network_mode="host", init=True, remove=True,
                                   volumes={str(out): {"bind": "/fairing/output", "mode": "rw"}})
    assert output.decode() == run_locally(bundle, tmp_path / "local", wheels)
    assert "from /fairing/deps/fairing_e2e_shapes/__init__.py" in output.decode()
    assert cloudpickle.loads((out / "outputs.pkl").read_bytes()) == {
        "result": {"total": 16, "scaled": 160, "version": "1.0"}}
    config = engine.api.inspect_image(ref)["Config"]
    assert config["WorkingDir"] == "/fairing/work"
    assert config["Labels"][DIGEST_LABEL] == bundle.digest
    assert "PYTHONPATH=/fairing/deps" in config["Env"]
    assert "FAIRING_OUTPUT_DIR=/fairing/output" in config["Env"]


def test_code_only_change_reuses_the_cached_requirements_layer(engine, registry, registry_client,
                                                               base_image, wheels):
    builder = DockerBuilder(engine, bases=BaseResolver(registry_client), wheels=wheels)
    build_and_push(builder, make_bundle(SOURCE + "print('one')\n"), base_image.ref,
                   f"{registry.host}/docker/job")
    events: list = []
    ref = build_and_push(builder, make_bundle(SOURCE + "print('two')\n"), base_image.ref,
                         f"{registry.host}/docker/job", emit=events.append)
    second = [line for e in events if isinstance(e, ev.LogLines) for line in e.lines]
    assert not any("Successfully installed" in line for line in second), second
    assert sum("Using cache" in line for line in second) >= 3
    assert str(ref).startswith(f"{registry.host}/docker/job@sha256:")


def test_push_refused_by_the_registry_raises_its_message(engine, registry, auth_registry,
                                                        registry_client, base_image):
    builder = DockerBuilder(engine, bases=BaseResolver(registry_client))
    bundle = Bundle(source="print('never pushed')\n")
    with pytest.raises(RegistryError) as info:
        build_and_push(builder, bundle, base_image.ref, f"{auth_registry.host}/locked/job")
    error = info.value
    assert error.status == 401 and error.codes == ("UNAUTHORIZED",)
    assert "authentication required" in str(error)
    assert f"{auth_registry.host}/locked/job" in str(error)
    assert "Log in to the registry" in str(error)
    assert auth_registry.password not in str(error)


def test_push_with_credentials_from_our_keychain_succeeds(engine, auth_registry, registry_client,
                                                          base_image):
    from fairing_magics.registry import Keychain

    keychain = Keychain(explicit={auth_registry.host: (auth_registry.user, auth_registry.password)})
    builder = DockerBuilder(engine, bases=BaseResolver(registry_client), keychain=keychain)
    ref = build_and_push(builder, Bundle(source="print('pushed with a login')\n"), base_image.ref,
                         f"{auth_registry.host}/open/job", keychain=keychain)
    assert str(ref).startswith(f"{auth_registry.host}/open/job@sha256:")


def test_a_requirement_pip_cannot_install_fails_the_build_naming_it(engine, registry,
                                                                   registry_client, base_image,
                                                                   wheels):
    builder = DockerBuilder(engine, bases=BaseResolver(registry_client), wheels=wheels)
    bundle = Bundle(source="print(1)\n", requirements=("fairing-no-such-package==9.9",))
    with pytest.raises(BuildError) as info:
        build_and_push(builder, bundle, base_image.ref, f"{registry.host}/docker/job")
    assert "fairing-no-such-package==9.9" in str(info.value)
    assert "Last lines of the build" in str(info.value)


def test_no_engine_is_a_clear_build_error(tmp_path):
    with pytest.raises(BuildError,
                       match="No Docker Engine answers at unix://.*nothing.sock.*--builder append"):
        docker_client(f"unix://{tmp_path}/nothing.sock")
