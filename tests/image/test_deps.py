"""The dependency layer: wheels for the target, cached by (requirements, python, platform).

The install tests fetch wheels from the package index (PyPI), so they are e2e.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile

import pytest

from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import BuildError
from fairing_magics.image.deps import (
    Target,
    cache_key,
    choose_installer,
    dependency_layer,
    install_command,
)
from fairing_magics.image.layout import runtime_requirements
from tests.harness import need

CLOUDPICKLE = "cloudpickle==3.1.1"


def index_reachable() -> bool:
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d",
                           "/tmp/fairing-index-probe", "--only-binary=:all:", CLOUDPICKLE],
                          capture_output=True, timeout=120)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def index():
    need(index_reachable(), "the package index (PyPI) cannot be reached")


def layer_names(layer) -> set[str]:
    with layer.open() as fh, tarfile.open(fileobj=io.BytesIO(fh.read()), mode="r:gz") as tar:
        return set(tar.getnames())


def test_target_platform_names():
    target = Target("3.11", "linux/amd64")
    assert target.pip_platform == "manylinux_2_28_x86_64"
    assert target.uv_platform == "x86_64-manylinux_2_28"
    assert Target("3.12", "linux/arm64/v8").arch == "aarch64"
    with pytest.raises(BuildError):
        Target("3", "linux/amd64")
    with pytest.raises(BuildError):
        Target("3.11", "windows/amd64")


def test_cache_key_depends_on_requirements_python_platform_only():
    base = cache_key(["a==1", "b==2"], Target("3.11"))
    assert base == cache_key(["b==2", "a==1", "a==1"], Target("3.11"))
    assert base != cache_key(["a==1", "b==3"], Target("3.11"))
    assert base != cache_key(["a==1", "b==2"], Target("3.12"))
    assert base != cache_key(["a==1", "b==2"], Target("3.11", "linux/arm64"))


def test_commands_ask_for_wheels_of_the_target():
    target = Target("3.10", "linux/arm64")
    uv = install_command("uv", ["x==1"], target, "/tmp/d")
    assert uv[:3] == ["uv", "pip", "install"] and "aarch64-manylinux_2_28" in uv and ":all:" in uv
    pip = install_command("pip", ["x==1"], target, "/tmp/d")
    assert "manylinux_2_28_aarch64" in pip and "--only-binary=:all:" in pip and "3.10" in pip
    assert "--no-compile" in uv and "--no-compile" in pip


def test_runtime_requirements_add_cloudpickle_only_when_pickles_are_involved():
    import cloudpickle

    assert runtime_requirements(Bundle(source="print(1)\n",
                                       requirements=("numpy==2.0.0",))) == ("numpy==2.0.0",)
    with_values = Bundle(source="print(x)\n", values={"x": b"."}, requirements=("numpy==2.0.0",))
    assert runtime_requirements(with_values) == ("numpy==2.0.0",
                                                 f"cloudpickle=={cloudpickle.__version__}")
    pinned = Bundle(source="", outputs=("m",), requirements=("CloudPickle==3.0.0",))
    assert runtime_requirements(pinned) == ("CloudPickle==3.0.0",)


def test_no_requirements_no_layer(tmp_path):
    assert dependency_layer([], Target("3.11"), cache_dir=tmp_path) is None


@pytest.mark.e2e
def test_layer_is_built_once_then_cached(index, tmp_path):
    target = Target("3.11")
    layer = dependency_layer([CLOUDPICKLE], target, cache_dir=tmp_path)
    names = layer_names(layer)
    assert "fairing/deps/cloudpickle/__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("fairing/deps/bin") for n in names)
    assert "cloudpickle==3.1.1" in layer.description
    blob = layer.path
    stamp = blob.stat().st_mtime_ns
    again = dependency_layer([CLOUDPICKLE], target, cache_dir=tmp_path)
    assert (again.digest, again.diff_id, again.size) == (layer.digest, layer.diff_id, layer.size)
    assert again.path == blob and blob.stat().st_mtime_ns == stamp  # not rebuilt
    # A fresh process, the same answer (the cache is on disk).
    code = ("import sys; from fairing_magics.image.deps import Target, dependency_layer; "
            f"print(dependency_layer([{CLOUDPICKLE!r}], Target('3.11'), "
            "cache_dir=sys.argv[1]).digest)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == layer.digest


@pytest.mark.e2e
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_package_without_a_wheel_is_a_clear_build_error(index, tmp_path, installer):
    if installer == "uv":
        need(shutil.which("uv") is not None, "uv is not installed")
    with pytest.raises(BuildError) as info:
        dependency_layer(["docopt==0.6.2"], Target("3.11"), cache_dir=tmp_path, installer=installer)
    message = str(info.value)
    assert "No wheel of docopt" in message and "Python 3.11 on linux/amd64" in message
    assert "--builder docker" in message


@pytest.mark.e2e
def test_pip_and_uv_install_the_same_files(index, tmp_path):
    need(shutil.which("uv") is not None, "uv is not installed")
    assert choose_installer() == "uv"
    by_pip = dependency_layer([CLOUDPICKLE], Target("3.11"), cache_dir=tmp_path / "pip",
                              installer="pip")
    by_uv = dependency_layer([CLOUDPICKLE], Target("3.11"), cache_dir=tmp_path / "uv",
                             installer="uv")
    strip = {"fairing/deps/cloudpickle-3.1.1.dist-info/INSTALLER",
             "fairing/deps/cloudpickle-3.1.1.dist-info/RECORD",
             "fairing/deps/cloudpickle-3.1.1.dist-info/REQUESTED",
             "fairing/deps/cloudpickle-3.1.1.dist-info/direct_url.json"}
    assert layer_names(by_pip) - strip == layer_names(by_uv) - strip
