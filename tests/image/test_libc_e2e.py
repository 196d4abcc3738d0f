"""The base image's C library, read from its layers in a real registry (top layer down, stop at
the first answer, cached per digest), and the wheels chosen for it: glibc 2.NN of the debootstrap
Debian base, musl of a synthetic Alpine-like base, the default when there is no libc."""

from __future__ import annotations

import io
import shutil
import tarfile

import pytest

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.image.builder import AppendBuilder, BuildRequest
from fairing_magics.image.deps import Target
from fairing_magics.image.libc import Libc, libc_of_entry, read_base_libc
from fairing_magics.image.package_index import choose_index
from fairing_magics.oci import TarEntry, append_layers, layer_from_entries, parse_reference
from fairing_magics.registry import push_image
from tests.harness.package_index import PackageIndexServer, make_wheel

GLIBC_236 = (b"\x7fELF...GNU C Library (Debian GLIBC 2.36-9+deb12u7) stable release version "
             b"2.36.\n...GLIBC_2.34\x00")


def test_entries_that_name_the_libc():
    assert libc_of_entry("usr/lib/x86_64-linux-gnu/libc.so.6", "file", "", lambda: GLIBC_236) == \
        Libc("glibc", "2.36", "usr/lib/x86_64-linux-gnu/libc.so.6")
    assert libc_of_entry("lib/x86_64-linux-gnu/libc-2.31.so", "file", "",
                         lambda: b"").version == "2.31"
    assert libc_of_entry("lib/x86_64-linux-gnu/libc.so.6", "symlink", "libc-2.28.so",
                         lambda: b"").version == "2.28"
    assert libc_of_entry("lib64/libc.so.6", "file", "",
                         lambda: b"..GLIBC_2.17\x00GLIBC_2.34\x00").version == "2.34"
    assert libc_of_entry("lib/ld-musl-x86_64.so.1", "file", "",
                         lambda: b"\x00musl\x001.2.4\x00").version == "1.2"
    assert libc_of_entry("lib/ld-musl-aarch64.so.1", "file", "",
                         lambda: b"no version").family == "musl"
    assert libc_of_entry("usr/lib/python3.11/libc.so.6", "file", "", lambda: GLIBC_236) is None
    assert libc_of_entry("etc/os-release", "file", "", lambda: b"") is None


def test_targets_for_each_libc():
    debian = Target("3.11", glibc="2.36")
    assert debian.uv_platform == "x86_64-manylinux_2_36"
    assert debian.pip_platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_37_x86_64" not in debian.pip_platforms
    assert "manylinux2014_x86_64" in debian.pip_platforms
    # uv knows no 2_29/2_30
    assert Target("3.11", glibc="2.30").uv_platform == "x86_64-manylinux_2_28"
    alpine = Target("3.11", "linux/arm64", musl="1.2")
    assert alpine.uv_platform == "aarch64-unknown-linux-musl"
    assert alpine.pip_platforms == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]
    assert "musllinux 1.2" in alpine.describe()


def _gz(names: dict[str, bytes], description: str):
    return layer_from_entries([TarEntry(name, data=data) for name, data in names.items()],
                              description)


@pytest.fixture(scope="module")
def local_index(tmp_path_factory):
    wheels = tmp_path_factory.mktemp("libc-wheels")
    make_wheel(wheels, "fairing-probe", "1.0", "ANSWER = 42\n")
    server = PackageIndexServer(wheels)
    yield server
    server.stop()


@pytest.mark.e2e
def test_debian_base_is_glibc_of_its_own_libc_and_read_once(base_image, registry_client, tmp_path):
    base = registry_client.resolve_base(parse_reference(base_image.ref))
    stats = registry_client.transport.stats
    before = stats.snapshot()[0]
    cold = read_base_libc(registry_client, base, tmp_path)
    assert (cold.family, cold.version) == ("glibc", "2.36") and cold.path.endswith("libc.so.6")
    assert cold.layers_read == 1 and not cold.cached and stats.snapshot()[0] - before == 1
    total = sum(layer.size for layer in base.layers)
    print(f"[libc] Debian base, cold: {cold.describe()} from /{cold.path}: "
          f"{cold.seconds * 1000:.0f} ms, {cold.bytes_read / 1e6:.1f} MB of {total / 1e6:.1f} MB "
          "fetched")
    before = stats.snapshot()[0]
    warm = read_base_libc(registry_client, base, tmp_path)
    assert warm == cold and warm.cached and stats.snapshot()[0] == before
    print(f"[libc] Debian base, cached: no request, {warm.describe()}")
    (entry,) = (tmp_path / "libc").glob("*.json")
    # an entry a broken build wrote
    entry.write_text(entry.read_text().replace('"2.36"', '"2.b\'36\'"'))
    again = read_base_libc(registry_client, base, tmp_path)
    assert (again.family, again.version, again.cached) == ("glibc", "2.36", False)
    assert '"2.36"' in entry.read_text()


@pytest.mark.e2e
def test_musl_base_gets_musllinux_wheels_and_a_pure_python_requirement_installs(
        registry, registry_client, local_index, tmp_path):
    # Bottom layer: a glibc file that a reader going bottom-up would find first; top: the musl
    # loader.
    bottom = _gz({"lib/x86_64-linux-gnu/libc-2.31.so": b"\x7fELF"}, "glibc decoy")
    top = _gz({"lib/ld-musl-x86_64.so.1": b"\x7fELF\x00musl libc\x001.2.4\x00",
               "etc/alpine-release": b"3.20.0\n"},
              "musl loader")
    image = append_layers(None, [bottom, top], env={"PATH": "/usr/bin:/bin"}, cmd=["sh"])
    ref = push_image(registry_client, image, parse_reference(f"{registry.host}/libc/alpine-like"),
                     tag="1")
    events: list = []
    builder = AppendBuilder(registry_client, cache_dir=tmp_path,
                            installer="uv" if shutil.which("uv") else "pip")
    request = BuildRequest(ref, python="3.11", index=choose_index(local_index.url))
    built = builder.build(Bundle(source="import fairing_probe\n",
                                 requirements=("fairing-probe==1.0",)), request,
                          events.append)
    messages = [e.text for e in events if isinstance(e, ev.Notice)]
    deps = built.layers[0]
    assert "musllinux 1.2" in deps.description
    with deps.open() as fh, tarfile.open(fileobj=io.BytesIO(fh.read()), mode="r:gz") as tar:
        assert "fairing/deps/fairing_probe.py" in tar.getnames()
    told = "base C library: musl 1.2 (/lib/ld-musl-x86_64.so.1, read in"
    assert any(m.startswith(told) for m in messages), messages
    libc = read_base_libc(registry_client, built.base, tmp_path)
    # the top layer answered; the decoy below was never fetched
    assert libc.cached and libc.layers_read == 1


@pytest.mark.e2e
def test_base_without_libc_falls_back_with_a_notice(registry, registry_client, local_index,
                                                    tmp_path):
    image = append_layers(None, [_gz({"etc/base-version": b"scratch\n"}, "no libc")], env={},
                          cmd=["x"])
    ref = push_image(registry_client, image, parse_reference(f"{registry.host}/libc/scratch"),
                     tag="1")
    events: list = []
    builder = AppendBuilder(registry_client, cache_dir=tmp_path)
    request = BuildRequest(ref, python="3.11", index=choose_index(local_index.url))
    built = builder.build(Bundle(source="print(1)\n", requirements=("fairing-probe==1.0",)),
                          request, events.append)
    messages = [e.text for e in events if isinstance(e, ev.Notice)]
    assert "manylinux 2.28" in built.layers[0].description
    assert any("could not tell the base image's C library" in m and "glibc 2.28" in m
               for m in messages), messages
