"""The package index of the dependency layer: one decision (settings, else pip's index-url),
handed to uv and pip, credentials never shown; against a real PEP 503 index on 127.0.0.1 behind
basic auth."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.config import Settings
from fairing_magics.errors import BuildError
from fairing_magics.image.builder import AppendBuilder, BuildRequest
from fairing_magics.image.deps import (
    Target,
    cache_key,
    dependency_layer,
    install_command,
    install_environment,
)
from fairing_magics.image.docker_builder import DockerBuilder, render_dockerfile
from fairing_magics.image.layout import bundle_payload
from fairing_magics.image.package_index import (
    PackageIndex,
    choose_index,
    pip_index_url,
    without_userinfo,
)
from fairing_magics.oci import parse_reference
from fairing_magics.secrets_scan import find_credentials, find_credentials_in_blob
from tests.harness import need
from tests.harness.package_index import PackageIndexServer, make_wheel
from tests.harness.registry import free_port

PASSWORD = "idxS3cretToken42"
MIRROR = "https://pypi.tuna.tsinghua.edu.cn/simple"


def isolated_env(tmp_path, **extra) -> dict[str, str]:
    """An environment in which pip would read only the files the test writes."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
            "XDG_CONFIG_HOME": str(home / ".config"), **extra}


# -- the decision (pure) --------------------------------------------------------------------

def test_setting_wins_then_pip_env_then_pip_config_then_default(tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://global.example/simple\nextra-index-url = "
                    f"https://evil.example/simple\n[install]\nindex-url = {MIRROR}\nfind-links = "
                    "/tmp/wheels\n")
    env = isolated_env(tmp_path, PIP_CONFIG_FILE=str(conf))
    assert choose_index("https://corp.example/simple", ["https://x.example/simple"], env) == \
        PackageIndex("https://corp.example/simple", ("https://x.example/simple",), "setting")
    # pip's index-url ([install] over [global]); its extra-index-url and find-links are NOT adopted.
    assert choose_index("", (), env) == PackageIndex(MIRROR, (), str(conf))
    assert choose_index("", (),
                        {**env,
                         "PIP_INDEX_URL": "https://env.example/simple"}).url \
        == "https://env.example/simple"
    assert choose_index("", (), {**env, "PIP_CONFIG_FILE": os.devnull}) == PackageIndex()
    assert choose_index("", (), isolated_env(tmp_path)) == PackageIndex()


def test_pip_config_files_in_pips_order(tmp_path):
    env = isolated_env(tmp_path)
    (tmp_path / "xdg" / "pip").mkdir(parents=True)
    (tmp_path / "xdg" / "pip" / "pip.conf").write_text("[global]\nindex-url = "
                                                       "https://site.example/simple\n")
    assert pip_index_url(env)[0] == "https://site.example/simple"
    user = tmp_path / "home" / ".config" / "pip"
    user.mkdir(parents=True)
    (user / "pip.conf").write_text("[global]\nindex_url = https://user.example/simple\n")
    assert pip_index_url(env) == ("https://user.example/simple", str(user / "pip.conf"))
    # An existing PIP_CONFIG_FILE replaces the user's files (as in pip) and wins over the global
    # ones.
    other = tmp_path / "other.conf"
    other.write_text("[global]\ntimeout = 5\n")
    assert pip_index_url({**env, "PIP_CONFIG_FILE": str(other)})[0] == "https://site.example/simple"


def test_credentials_are_redacted_and_kept_out_of_the_cache_key_and_command_line(tmp_path):
    url = f"https://robot:{PASSWORD}@pkgs.corp.example/simple/"
    index = choose_index(url)
    assert index.has_credentials and PASSWORD not in index.shown
    assert index.shown == "https://pkgs.corp.example/simple/"
    assert without_userinfo("http://u:p@[::1]:8080/simple") == "http://[::1]:8080/simple"
    target = Target("3.11")
    rotated = choose_index("https://robot:other@pkgs.corp.example/simple")
    assert cache_key(["a==1"], target, index) == cache_key(["a==1"], target, rotated)
    assert cache_key(["a==1"], target, index) != cache_key(["a==1"], target, choose_index(MIRROR))
    assert cache_key(["a==1"], target) == cache_key(["a==1"], target, PackageIndex())
    for installer in ("uv", "pip"):
        assert PASSWORD not in " ".join(install_command(installer, ["a==1"], target, tmp_path))
    uv_env = install_environment("uv", index,
                                 {"UV_DEFAULT_INDEX": "https://other/simple", "PATH": "/bin"})
    assert uv_env["UV_INDEX_URL"] == url and "UV_DEFAULT_INDEX" not in uv_env
    pip_env = install_environment("pip",
                                  PackageIndex("http://10.0.0.1:8080/simple",
                                               ("https://x/simple",)),
                                  {"PIP_EXTRA_INDEX_URL": "https://evil/simple",
                                   "PIP_FIND_LINKS": "/w", "PATH": "/bin"})
    assert pip_env["PIP_CONFIG_FILE"] == os.devnull
    assert pip_env["PIP_EXTRA_INDEX_URL"] == "https://x/simple"
    assert pip_env["PIP_TRUSTED_HOST"] == "10.0.0.1" and "PIP_FIND_LINKS" not in pip_env
    settings = Settings(index_url=url, extra_index_urls=(f"https://a:{PASSWORD}@b.example/simple",))
    assert PASSWORD not in settings.describe() and "index_url" in settings.describe()
    with pytest.raises(BuildError, match="not an http"):
        choose_index("pypi.tuna.tsinghua.edu.cn/simple")


def test_docker_builder_keeps_the_index_out_of_the_image_and_refuses_credentials():
    bundle = Bundle(source="print(1)\n", requirements=("x==1",))
    payload = bundle_payload(bundle)
    text = render_dockerfile(payload, "reg/base@sha256:" + "a" * 64, index=choose_index(MIRROR))
    lines = text.splitlines()
    assert lines[1].endswith(" AS fairing-deps") and f"--index-url {MIRROR}" in text
    final = lines[lines.index("FROM reg/base@sha256:" + "a" * 64):]
    assert "COPY --from=fairing-deps /fairing/deps/ /fairing/deps/" in final
    assert not any("tuna" in line for line in final), "the index is in no step of the image"
    assert "AS fairing-deps" not in render_dockerfile(payload, "b", index=PackageIndex())
    secret = choose_index(f"https://robot:{PASSWORD}@pkgs.corp.example/simple")
    with pytest.raises(BuildError) as info:
        render_dockerfile(payload, "b", index=secret)
    with pytest.raises(BuildError) as info2:  # refused before any engine is asked for
        DockerBuilder(engine=object()).build(bundle,
                                             BuildRequest(parse_reference("b"), index=secret))
    for error in (info.value, info2.value):
        message = str(error)
        assert PASSWORD not in message and "\n" not in message and "--builder append" in message


# -- a real index on 127.0.0.1 --------------------------------------------------------------

@pytest.fixture(scope="module")
def private_index(tmp_path_factory):
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels, "fairing-probe", "1.0", "ANSWER = 42\n")
    server = PackageIndexServer(wheels, "robot", PASSWORD)
    yield server
    server.stop()


def installers() -> list:
    return ["pip", "uv"]


def need_installer(installer: str) -> None:
    """uv is a dev dependency: a laptop without it skips, CI fails."""
    if installer == "uv":
        need(shutil.which("uv") is not None, "uv is not installed")


def layer_files(layer) -> dict[str, bytes]:
    with layer.open() as fh, tarfile.open(fileobj=io.BytesIO(fh.read()), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.mark.e2e
@pytest.mark.parametrize("installer", installers())
def test_layer_installs_from_a_private_index_with_credentials(private_index, tmp_path, installer):
    need_installer(installer)
    index = choose_index(private_index.auth_url)
    before = len(private_index.served_files())
    layer = dependency_layer(["fairing-probe==1.0"], Target("3.11", glibc="2.36"),
                             cache_dir=tmp_path, installer=installer, index=index)
    files = layer_files(layer)
    assert files["fairing/deps/fairing_probe.py"] == b"ANSWER = 42\n"
    assert len(private_index.served_files()) > before, "the wheel came from our index"
    assert all(ok for _, _, ok in private_index.requests[-2:])
    with layer.open() as fh:
        assert find_credentials_in_blob(fh.read(), [PASSWORD]) == []
    assert PASSWORD not in layer.description
    assert PASSWORD not in (layer.path.parent / "meta.json").read_text()


@pytest.mark.e2e
@pytest.mark.parametrize("installer", installers())
def test_refused_credentials_and_an_index_that_is_down_are_one_redacted_line(
        private_index, tmp_path, installer, monkeypatch):
    need_installer(installer)
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # a refused connection to 127.0.0.1 needs no retries
    wrong = choose_index(private_index.url_with("robot", "wrong" + PASSWORD))
    with pytest.raises(BuildError) as info:
        dependency_layer(["fairing-probe==1.0"], Target("3.11"), cache_dir=tmp_path,
                         installer=installer, index=wrong)
    message = str(info.value)
    print(f"[index] {installer}, wrong credentials: {message}")
    assert "refused the credentials (401)" in message
    assert f"127.0.0.1:{private_index.port}/simple" in message
    assert "\n" not in message and find_credentials(message, [PASSWORD, "wrong" + PASSWORD]) == []
    down = choose_index(f"http://robot:{PASSWORD}@127.0.0.1:{free_port()}/simple")
    started = time.monotonic()
    with pytest.raises(BuildError) as info:
        dependency_layer(["fairing-probe==1.0"], Target("3.11"), cache_dir=tmp_path,
                         installer=installer, index=down)
    message = str(info.value)
    print(f"[index] {installer}, index down ({time.monotonic() - started:.1f}s): {message}")
    assert "cannot be reached (connection refused)" in message and "--index-url" in message
    assert "\n" not in message and find_credentials(message, [PASSWORD]) == []


@pytest.mark.e2e
def test_pips_configured_index_url_is_adopted(private_index, tmp_path, monkeypatch):
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {private_index.auth_url}\n")
    chosen = ("PIP_", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_EXTRA")
    for name in [k for k in os.environ if k.startswith(chosen)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    events: list = []
    builder = AppendBuilder(None, cache_dir=tmp_path / "cache")
    before = len(private_index.served_files())
    request = BuildRequest(None, python="3.11", index=choose_index())  # the index of each build
    image = builder.build(Bundle(source="print(1)\n", requirements=("fairing-probe==1.0",)),
                          request, events.append)
    assert len(private_index.served_files()) > before
    assert ev.Notice(f"packages from {private_index.url} (from {conf})") in events, events
    assert "fairing/deps/fairing_probe.py" in layer_files(image.layers[0])
