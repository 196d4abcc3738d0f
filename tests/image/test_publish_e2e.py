"""The one build-and-publish path (``ImageService.publish``) against the real registry, a real
private package index behind basic auth, and podman.

A model's serving image and a training image go through the same path, so they get the same
package index, the same wheel target (the base's own C library) and therefore the very same
dependency layer. The first test fails on any path that builds the serving image apart from
the training image's: such a copy drifted once, installing from the default index for the
default glibc 2.28 whatever the user had configured (a user behind a mirror got a serving image
from PyPI). ECR repositories are created in one place, before the push, whichever builder built.
"""

from __future__ import annotations

import dataclasses
import json

import boto3
import cloudpickle
import pytest

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.config import Settings
from fairing_magics.deploy.model import package_model
from fairing_magics.image.publish import SERVING, ImageService, ensure_ecr_repository
from fairing_magics.oci import parse_reference
from fairing_magics.secrets_scan import find_credentials
from tests.docker.wheels import wheel_from_installed
from tests.harness import need
from tests.harness.fixtures_aws import MOTO_ACCOUNT
from tests.harness.package_index import PackageIndexServer, make_wheel
from tests.harness.podman import Podman, podman_available

pytestmark = pytest.mark.e2e

PASSWORD = "srvIdxT0ken42"
PROBE = "fairing-probe==1.0"  # on the private index only


def _model():
    class Answer:  # defined in a function: cloudpickle ships it by value
        def predict(self, x):
            import fairing_probe  # from the dependency layer

            return [fairing_probe.ANSWER for _ in x]

    return Answer()


@pytest.fixture(scope="module")
def private_index(tmp_path_factory):
    wheels = tmp_path_factory.mktemp("serving-wheels")
    make_wheel(wheels, "fairing-probe", "1.0", "ANSWER = 42\n")
    wheel_from_installed(wheels, "cloudpickle")
    server = PackageIndexServer(wheels, "robot", PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def podman(tmp_path_factory, registry):
    need(podman_available(), "podman and runc are not installed (apt-get install podman runc)")
    return Podman(tmp_path_factory.mktemp("podman"), insecure=(registry.host,))


def _config(images: ImageService, ref) -> tuple[dict, list[str]]:
    """The pushed image's config and its layer digests, read back from the registry."""
    manifest = json.loads(images.client.get_manifest(ref)[0])
    config = images.client.get_blob(ref, manifest["config"]["digest"])
    assert find_credentials(config, [PASSWORD]) == []
    return json.loads(config), [layer["digest"] for layer in manifest["layers"]]


def test_serving_image_installs_from_the_users_index_for_the_bases_c_library(
        registry, base_image, private_index, podman, tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRING_CACHE_DIR", str(tmp_path / "cache"))  # cold: really installed
    settings = Settings(index_url=private_index.auth_url, insecure_registries=(registry.host,))
    images = ImageService(settings)
    package = package_model(_model())
    package = dataclasses.replace(package, requirements=(PROBE, *package.requirements))
    events: list = []
    before = len(private_index.served_files())
    served = images.publish(package, builder=SERVING, tag="probe", emit=events.append,
                            repository=parse_reference(f"{registry.host}/serving/probe"),
                            base_image=base_image.tag_ref)

    # The user's index, with the user's credentials, and the base's own glibc (Debian 12: 2.36).
    assert len(private_index.served_files()) > before, "the wheels came from the user's index"
    assert all(ok for _, _, ok in private_index.requests[before:])
    notices = [e.text for e in events if isinstance(e, ev.Notice)]
    print(f"[serving image] {served}; notices: {notices}")
    assert f"packages from {private_index.url}" in notices and PASSWORD not in " ".join(notices)
    assert any(text.startswith("base C library: glibc 2.36") for text in notices), notices
    config, layers = _config(images, served)
    deps = config["history"][-2]["created_by"]
    assert "dependency layer" in deps and "manylinux 2.36" in deps and PROBE in deps
    assert [(e.stage, e.state) for e in events if isinstance(e, ev.StageChanged)] == [
        ("build", "running"), ("build", "done"), ("push", "running"), ("push", "done")]

    # A training image with the same packages, through the same path: the same dependency layer.
    bundle = Bundle(source="import fairing_probe\nanswer = fairing_probe.ANSWER\n",
                    requirements=(PROBE,), outputs=("answer",))
    trained = images.publish(bundle, repository=parse_reference(f"{registry.host}/serving/train"),
                             base_image=base_image.tag_ref, tag="probe", emit=lambda event: None)
    assert sorted(bundle.requirements + (f"cloudpickle=={cloudpickle.__version__}",)) == sorted(
        package.requirements)
    assert _config(images, trained)[1][-2] == layers[-2]

    # The serving image imports the package the way serve.py runs in it (its config's PYTHONPATH).
    podman.run("pull", "--quiet", str(served), timeout=300)
    out = podman.run("run", "--rm", "--network", "host", str(served), "python3", "-c",
                     "import fairing_probe; print(fairing_probe.ANSWER, fairing_probe.__file__)",
                     timeout=300)
    assert out.stdout.split() == ["42", "/fairing/deps/fairing_probe.py"]


def test_a_missing_ecr_repository_is_created_once_before_the_push(aws):
    host = f"{MOTO_ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn"
    events: list = []
    ensure_ecr_repository(parse_reference(f"{host}/team/serving"), events.append)
    ensure_ecr_repository(parse_reference(f"{host}/team/serving"), events.append)
    assert events == [ev.Notice("created ECR repository team/serving in cn-northwest-1")]
    found = boto3.client("ecr").describe_repositories(repositoryNames=["team/serving"])
    assert [r["repositoryName"] for r in found["repositories"]] == ["team/serving"]
    ensure_ecr_repository(parse_reference("127.0.0.1:5000/team/serving"), events.append)
    assert len(events) == 1  # not ECR: nothing to create
