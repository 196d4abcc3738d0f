"""AppendBuilder against a real registry: the base resolved once to a digest, tags that move,
bases that cannot be read."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import BuildError
from fairing_magics.image.builder import AppendBuilder, BuildRequest
from fairing_magics.oci import TarEntry, append_layers, layer_from_entries, parse_reference
from fairing_magics.registry import Keychain, RegistryClient, RetryPolicy, Transport, push_image
from tests.harness.registry import free_port

pytestmark = pytest.mark.e2e


def tiny_base(text: str):
    layer = layer_from_entries([TarEntry("etc/base-version", data=text.encode())], f"base {text}")
    return append_layers(None, [layer], env={"PATH": "/usr/bin:/bin"}, cmd=["sh"])


def on(text: str) -> BuildRequest:
    return BuildRequest(parse_reference(text))


def test_base_is_pinned_and_a_moved_tag_is_seen(registry, registry_client, tmp_path):
    name = f"{registry.host}/moving/base"
    first = tiny_base("one")
    push_image(registry_client, first, parse_reference(name), tag="1")
    events = []
    builder = AppendBuilder(registry_client, cache_dir=tmp_path)
    bundle = Bundle(source="print('no pickles, no deps')\n")
    image = builder.build(bundle, on(f"{name}:1"), events.append)
    assert str(image.base.ref) == f"{name}@{first.digest}"
    assert events == [ev.Notice(f"base image {name}:1 -> {name}@{first.digest}")]
    described = [layer.description.split(",")[0] for layer in image.layers]
    assert described == ["fairing-magics: code layer"]
    assert image.config["config"]["Env"][0] == "PATH=/usr/bin:/bin"
    # Unchanged tag: one HEAD, the same image.
    before = registry_client.transport.stats.snapshot()[0]
    assert builder.build(bundle, on(f"{name}:1")).digest == image.digest
    assert registry_client.transport.stats.snapshot()[0] - before == 1
    # The tag moves: the next build sees the new base.
    second = tiny_base("two")
    push_image(registry_client, second, parse_reference(name), tag="1")
    moved = builder.build(bundle, on(f"{name}:1"))
    assert str(moved.base.ref) == f"{name}@{second.digest}" and moved.digest != image.digest
    # A digest ref is read once, then never asked again.
    builder.build(bundle, on(f"{name}@{first.digest}"))
    before = registry_client.transport.stats.snapshot()[0]
    assert builder.build(bundle, on(f"{name}@{first.digest}")).digest == image.digest
    assert registry_client.transport.stats.snapshot()[0] == before


def test_unreadable_base_is_a_build_error(registry, registry_client, tmp_path):
    builder = AppendBuilder(registry_client, cache_dir=tmp_path)
    with pytest.raises(BuildError) as info:
        builder.build(Bundle(source="print(1)\n"), on(f"{registry.host}/no/such:image"))
    assert "Cannot read the base image" in str(info.value) and "--base-image" in str(info.value)
    dead = f"127.0.0.1:{free_port()}"
    client = RegistryClient(Transport(Keychain(docker_config={}), insecure_registries=[dead],
                                      retry=RetryPolicy(attempts=2, backoff=0.001)))
    builder = AppendBuilder(client, cache_dir=tmp_path)
    with pytest.raises(BuildError) as info:
        builder.build(Bundle(source="print(1)\n"), on(f"{dead}/base:1"))
    assert f"cannot reach registry {dead} (connection refused" in str(info.value)
