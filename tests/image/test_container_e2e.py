"""The pushed image runs: podman pulls it from the real registry and runs the bundle, and the
output equals that of the same bundle run locally with ``python fairing_bootstrap.py``."""

from __future__ import annotations

import os
import subprocess
import sys

import cloudpickle
import pytest

from fairing_magics.capture.bundle import Bundle, write_bundle
from fairing_magics.image.builder import AppendBuilder, BuildRequest
from fairing_magics.image.layout import DIGEST_LABEL
from fairing_magics.oci import parse_reference
from fairing_magics.registry import RegistryPublisher
from tests.harness import need
from tests.harness.podman import Podman, podman_available

pytestmark = pytest.mark.e2e

SOURCE = """\
import json, os, sys
import helper
total = sum(values)
print("values", values, "total", total)
print("scale", helper.scale(total))
result = {"total": total, "scaled": helper.scale(total), "cwd": os.path.basename(os.getcwd()) != ""}
print(json.dumps(result, sort_keys=True))
"""


def make_bundle() -> Bundle:
    return Bundle(
        source=SOURCE,
        values={"values": cloudpickle.dumps([3, 5, 8])},
        files={"helper.py": b"def scale(x):\n    return x * 10\n"},
        outputs=("result",),
        python=".".join(map(str, sys.version_info[:3])),
    )


def run_locally(bundle: Bundle, folder) -> tuple[str, dict]:
    write_bundle(bundle, folder / "bundle")
    work, out = folder / "work", folder / "out"
    work.mkdir()
    env = dict(os.environ, FAIRING_OUTPUT_DIR=str(out))
    proc = subprocess.run([sys.executable, str(folder / "bundle" / "fairing_bootstrap.py"),
                           str(folder / "bundle")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, cloudpickle.loads((out / "outputs.pkl").read_bytes())


@pytest.fixture(scope="module")
def podman(tmp_path_factory, registry):
    need(podman_available(), "podman and runc are not installed (apt-get install podman runc)")
    return Podman(tmp_path_factory.mktemp("podman"), insecure=(registry.host,))


def test_pushed_image_runs_the_bundle_like_the_local_run(tmp_path, registry, registry_client,
                                                         base_image, podman):
    bundle = make_bundle()
    expected_stdout, expected_outputs = run_locally(bundle, tmp_path / "local")

    builder = AppendBuilder(registry_client, cache_dir=tmp_path / "cache")
    image = builder.build(bundle, BuildRequest(parse_reference(base_image.tag_ref)))
    assert str(image.base.ref) == base_image.ref
    assert image.labels[DIGEST_LABEL] == bundle.digest
    repository = parse_reference(f"{registry.host}/e2e/job")
    ref = str(RegistryPublisher(registry_client).publish(image, repository))
    assert ref == f"{registry.host}/e2e/job@{image.digest}"

    podman.run("pull", "--quiet", ref, timeout=300)
    out = tmp_path / "container-out"
    out.mkdir()
    proc = podman.run("run", "--rm", "--network", "host", "--init", "-v", f"{out}:/fairing/output",
                      ref, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected_stdout
    assert cloudpickle.loads((out / "outputs.pkl").read_bytes()) == expected_outputs == {
        "result": {"total": 16, "scaled": 160, "cwd": True}}
    # The image carries our config: env, working folder, command.
    inspect = podman.run("image", "inspect", "--format", "{{.Config.WorkingDir}} {{.Config.Cmd}}",
                         ref)
    assert inspect.stdout.split()[0] == "/fairing/work"
    assert "fairing_bootstrap.py" in inspect.stdout
