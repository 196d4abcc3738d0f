"""Pushing to a real registry (Debian's docker-registry): plain, basic auth, TLS, faults."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import BuildError, RegistryError
from fairing_magics.image.layout import code_layer
from fairing_magics.oci import TarEntry, append_layers, layer_from_entries, parse_reference
from fairing_magics.oci.manifest import IMAGE_MANIFEST_TYPES, OCI_MANIFEST
from fairing_magics.registry import (
    Keychain,
    RegistryClient,
    RegistryPublisher,
    RetryPolicy,
    Transport,
    push_image,
)

pytestmark = pytest.mark.e2e
FAST_RETRY = RetryPolicy(attempts=12, backoff=0.005, max_backoff=0.05)


def make_image(text: str = "hello", extra: int = 0):
    bundle = Bundle(source=f"print({text!r})\n", values={"x": b"\x80\x04K\x01."}, outputs=("y",),
                    python="3.11.2")
    layers = [code_layer(bundle)]
    for i in range(extra):  # incompressible layers, so bytes on the wire are visible
        payload = b"".join(hashlib.sha256(f"{text}{i}-{j}".encode()).digest()
                           for j in range(2048 * (i + 1)))
        layers.append(layer_from_entries([TarEntry(f"data/{text}-{i}.bin", data=payload)],
                                         f"data layer {i}"))
    return append_layers(None, layers, cmd=["python3"], labels={"test": text})


def client_for(host: str, *, keychain: Keychain | None = None, retry: RetryPolicy | None = None,
               **kwargs):
    return RegistryClient(Transport(keychain or Keychain(docker_config={}),
                                    insecure_registries=[host],
                                    retry=retry or FAST_RETRY, **kwargs))


def fetch_direct(server, path: str, **headers) -> requests.Response:
    """Read from the registry without any code of ours (to check what it really holds)."""
    return requests.get(f"{server.url}{path}", headers=headers, timeout=30,
                        auth=(server.user, server.password) if server.auth else None,
                        verify=str(server.cert) if server.tls else True)


def assert_image_stored(server, repository: str, image) -> None:
    accept = ", ".join(IMAGE_MANIFEST_TYPES)
    response = fetch_direct(server, f"/v2/{repository}/manifests/{image.digest}", Accept=accept)
    assert response.status_code == 200
    assert response.content == image.manifest_bytes
    manifest = json.loads(response.content)
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = fetch_direct(server, f"/v2/{repository}/blobs/{desc['digest']}")
        assert blob.status_code == 200
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == desc["digest"]
        assert len(blob.content) == desc["size"]


def test_plain_push_returns_digest_ref_and_stores_the_image(registry):
    client = client_for(registry.host)
    image = make_image("plain", extra=2)
    seen = []
    ref = push_image(client, image, parse_reference(f"{registry.host}/plain/app"), tag="v1",
                     progress=lambda done, total, what: seen.append((done, total)))
    assert str(ref) == f"{registry.host}/plain/app@{image.digest}"
    assert_image_stored(registry, "plain/app", image)
    by_tag = fetch_direct(registry, "/v2/plain/app/manifests/v1", Accept=OCI_MANIFEST)
    assert by_tag.content == image.manifest_bytes
    total = sum(layer.size for layer in image.layers) + len(image.config_bytes)
    assert seen[-1] == (total, total)
    assert all(b[0] >= 0 and b[1] == total for b in seen)


def test_pushing_twice_pushes_no_blob(registry):
    image = make_image("twice", extra=1)
    push_image(client_for(registry.host), image, parse_reference(f"{registry.host}/twice/app"))
    fresh = client_for(registry.host)  # a new process: nothing remembered
    fresh.transport.url(registry.host, "")  # scheme probe done beforehand
    before = fresh.transport.stats.snapshot()
    ref = RegistryPublisher(fresh).publish(image, parse_reference(f"{registry.host}/twice/app"))
    after = fresh.transport.stats.snapshot()
    assert ref.digest == image.digest
    assert after[0] - before[0] == 1  # one HEAD of the manifest
    assert after[1] - before[1] == 0  # no byte of any blob


def test_known_blobs_are_not_asked_for_again(registry):
    client = client_for(registry.host)
    publisher = RegistryPublisher(client)
    publisher.publish(make_image("known-1", extra=2), parse_reference(f"{registry.host}/known/app"))
    data_layers = list(make_image("known-1", extra=2).layers[1:])
    image = append_layers(None, [code_layer(Bundle(source="print(2)\n")), *data_layers])
    before = client.transport.stats.snapshot()
    publisher.publish(image, parse_reference(f"{registry.host}/known/app"))
    after = client.transport.stats.snapshot()
    # POST+PUT code layer, POST+PUT config, PUT manifest: the data layers are known, and the
    # manifest of an image whose config this session never saw cannot be there (no HEAD).
    assert after[0] - before[0] == 5
    # The same image again: one HEAD of the manifest, no blob.
    before = client.transport.stats.snapshot()
    publisher.publish(image, parse_reference(f"{registry.host}/known/app"))
    after = client.transport.stats.snapshot()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)
    assert_image_stored(registry, "known/app", image)


def test_auth_registry_needs_and_uses_credentials(auth_registry, tmp_path):
    image = make_image("auth")
    with pytest.raises(RegistryError) as info:
        push_image(client_for(auth_registry.host), image,
                   parse_reference(f"{auth_registry.host}/auth/app"))
    assert info.value.status == 401 and "credentials" in str(info.value)
    config = tmp_path / "config.json"
    import base64
    token = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    config.write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    client = client_for(auth_registry.host, keychain=Keychain(docker_config=config))
    ref = push_image(client, image, parse_reference(f"{auth_registry.host}/auth/app"))
    assert ref.digest == image.digest
    assert auth_registry.password not in str(info.value)
    assert_image_stored(auth_registry, "auth/app", image)
    # Once the challenge is known, credentials go with every request: no more 401 round trips.
    before = client.transport.stats.snapshot()[0]
    push_image(client, make_image("auth-2"), parse_reference(f"{auth_registry.host}/auth/app"))
    assert client.transport.stats.snapshot()[0] - before == 6


def test_credential_hook_is_used(auth_registry):
    asked = []

    def hook(host):
        asked.append(host)
        return (auth_registry.user, auth_registry.password) if host == auth_registry.host else None

    client = client_for(auth_registry.host, keychain=Keychain([hook], docker_config={}))
    push_image(client, make_image("hook"), parse_reference(f"{auth_registry.host}/hook/app"))
    assert auth_registry.host in asked


def test_tls_verified_unless_insecure(tls_registry, monkeypatch):
    image = make_image("tls")
    name = f"{tls_registry.host}/tls/app"
    strict = RegistryClient(Transport(Keychain(docker_config={}), retry=FAST_RETRY))
    with pytest.raises(RegistryError) as info:
        push_image(strict, image, parse_reference(name))
    assert "TLS verification" in str(info.value) and "--insecure-registry" in str(info.value)
    # Trusting its CA works; naming it insecure works even with REQUESTS_CA_BUNDLE set.
    trusted = RegistryClient(Transport(Keychain(docker_config={}),
                                       ca_bundle=str(tls_registry.cert)))
    assert push_image(trusted, image, parse_reference(name)).digest == image.digest
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    insecure = client_for(tls_registry.host)
    other = make_image("tls-2")
    assert push_image(insecure, other, parse_reference(name)).digest == other.digest
    assert insecure.transport.base_url(tls_registry.host).startswith("https://")
    assert_image_stored(tls_registry, "tls/app", other)


def test_faulty_registry_still_gets_a_correct_image(registry, fault_proxy):
    fault_proxy.plan.rate = 0.3
    client = client_for(fault_proxy.host)
    image = make_image("faults", extra=3)
    ref = push_image(client, image, parse_reference(f"{fault_proxy.host}/faults/app"), parallel=3)
    assert str(ref) == f"{fault_proxy.host}/faults/app@{image.digest}"
    assert fault_proxy.counts["503"] > 0 and fault_proxy.counts["reset"] > 0
    assert client.transport.stats.retries >= fault_proxy.counts["503"]
    assert_image_stored(registry, "faults/app", image)


def test_chunked_upload_through_faults(registry, fault_proxy):
    fault_proxy.plan.rate = 0.25
    client = client_for(fault_proxy.host)
    data = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(3000))  # 96000 bytes
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    ref = parse_reference(f"{fault_proxy.host}/chunked/app")
    import io
    progress = []
    client.upload_blob(ref, digest, len(data), lambda: io.BytesIO(data), progress.append,
                       chunk_size=10000, chunk_threshold=1000)
    assert progress[-1] == len(data)
    assert fetch_direct(registry, f"/v2/chunked/app/blobs/{digest}").content == data


def test_persistent_failure_raises_and_leaves_no_manifest(registry, fault_proxy):
    fault_proxy.plan.rate = 1.0
    fault_proxy.plan.methods = ("PUT",)
    fault_proxy.plan.kinds = ("503",)
    client = client_for(fault_proxy.host,
                        retry=RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01))
    image = make_image("doomed")
    with pytest.raises(RegistryError) as info:
        push_image(client, image, parse_reference(f"{fault_proxy.host}/doomed/app"), tag="latest")
    error = info.value
    assert error.status == 503 and error.codes == ("UNAVAILABLE",) and error.temporary
    assert "try again later" in str(error)
    assert registry.manifest_status("doomed/app", image.digest) == 404
    assert registry.manifest_status("doomed/app", "latest") == 404
    # Connection resets every time: a temporary error with no status.
    fault_proxy.plan.kinds = ("reset",)
    fault_proxy.plan.methods = ()
    with pytest.raises(RegistryError) as info:
        push_image(client_for(fault_proxy.host, retry=RetryPolicy(attempts=2, backoff=0.001)),
                   image, parse_reference(f"{fault_proxy.host}/doomed/app"))
    assert info.value.status is None and info.value.temporary
    assert "could not be reached" in str(info.value)
    assert registry.manifest_status("doomed/app", image.digest) == 404


def test_base_resolution_index_and_platforms(registry, registry_client, base_image):
    by_tag = registry_client.resolve_base(parse_reference(base_image.tag_ref))
    from_index = registry_client.resolve_base(parse_reference(base_image.index_ref))
    assert str(by_tag.ref) == str(from_index.ref) == base_image.ref
    assert from_index.layers[0].digest == base_image.layer_digest
    assert from_index.platform == "linux/amd64"
    arm = registry_client.resolve_base(parse_reference(base_image.index_ref), "linux/arm64/v8")
    assert str(arm.ref) != base_image.ref and arm.config["architecture"] == "arm64"
    with pytest.raises(BuildError) as info:
        registry_client.resolve_base(parse_reference(base_image.index_ref), "linux/s390x")
    assert "linux/amd64" in str(info.value) and "linux/arm64/v8" in str(info.value)


def test_base_layers_are_mounted_on_the_same_registry(registry, base_image):
    client = client_for(registry.host)
    base = client.resolve_base(parse_reference(base_image.ref))
    image = append_layers(base, [code_layer(Bundle(source="print('mounted')\n"))],
                          cmd=["python3", "-V"])
    before = client.transport.stats.snapshot()
    push_image(client, image, parse_reference(f"{registry.host}/mount/app"))
    sent = client.transport.stats.snapshot()[1] - before[1]
    assert sent < 100_000 < base.layers[0].size  # the 40 MB base layer did not travel
    assert_image_stored(registry, "mount/app", image)


def test_base_layers_are_copied_from_another_registry(registry, auth_registry, base_image):
    keychain = Keychain(explicit={auth_registry.host: (auth_registry.user, auth_registry.password)},
                        docker_config={})
    client = RegistryClient(Transport(keychain,
                                      insecure_registries=[registry.host, auth_registry.host],
                                      retry=FAST_RETRY))
    base = client.resolve_base(parse_reference(base_image.ref))
    image = append_layers(base, [code_layer(Bundle(source="print('copied')\n"))])
    ref = push_image(client, image, parse_reference(f"{auth_registry.host}/copied/app"))
    assert ref.digest == image.digest
    assert auth_registry.manifest_status("copied/app", image.digest) == 200


def test_bearer_tokens_scoped_per_repository(token_registry):
    server = token_registry.token_server
    image = make_image("bearer")
    anonymous = client_for(token_registry.host)
    with pytest.raises(RegistryError) as info:
        push_image(anonymous, image, parse_reference(f"{token_registry.host}/bearer/app"))
    assert info.value.status == 401
    keychain = Keychain(explicit={token_registry.host: (token_registry.user,
                                                        token_registry.password)},
                        docker_config={})
    client = client_for(token_registry.host, keychain=keychain)
    base = make_image("bearer-base", extra=2)
    push_image(client, base, parse_reference(f"{token_registry.host}/bearer/base"))
    assert ("fairing", ("repository:bearer/base:pull,push",)) in server.requests
    # An image on top of that base, in another repository: the mount asks for both scopes.
    from fairing_magics.oci.image import BaseImage

    base_value = BaseImage(ref=parse_reference(f"{token_registry.host}/bearer/base@{base.digest}"),
                           media_type=base.media_type, config_bytes=base.config_bytes,
                           layers=tuple(base.layer_descriptor(layer) for layer in base.layers))
    on_top = append_layers(base_value, [code_layer(Bundle(source="print('on top')\n"))])
    before = client.transport.stats.snapshot()
    push_image(client, on_top, parse_reference(f"{token_registry.host}/bearer/app"))
    # mounted: what went on the wire is the code layer (and the manifest), not the base's layer
    sent = client.transport.stats.snapshot()[1] - before[1]
    assert sent < on_top.layers[-1].size + 10_000 < base.layers[1].size
    assert ("fairing",
            ("repository:bearer/app:pull,push", "repository:bearer/base:pull")) in server.requests
    assert token_registry.manifest_status("bearer/app", on_top.digest) == 200
    # Tokens are kept per scope: another push to the same repository asks for none.
    asked = len(server.requests)
    push_image(client, make_image("bearer-2"), parse_reference(f"{token_registry.host}/bearer/app"))
    assert len(server.requests) == asked


def test_docker_v2_base_gives_a_docker_v2_image_the_registry_accepts(registry):
    from fairing_magics.oci.image import BaseImage
    from fairing_magics.oci.manifest import (
        DOCKER_CONFIG,
        DOCKER_LAYER_GZIP,
        DOCKER_MANIFEST,
        Descriptor,
    )

    client = client_for(registry.host)
    base = make_image("docker-base", extra=1)
    push_image(client, base, parse_reference(f"{registry.host}/docker/base"))
    as_docker = BaseImage(ref=parse_reference(f"{registry.host}/docker/base@{base.digest}"),
                          media_type=DOCKER_MANIFEST, config_bytes=base.config_bytes,
                          layers=tuple(Descriptor(DOCKER_LAYER_GZIP, layer.digest,
                                                  layer.size) for layer in base.layers))
    image = append_layers(as_docker, [code_layer(Bundle(source="print('docker')\n"))],
                          cmd=["python3"])
    assert image.media_type == DOCKER_MANIFEST
    push_image(client, image, parse_reference(f"{registry.host}/docker/app"))
    response = fetch_direct(registry, f"/v2/docker/app/manifests/{image.digest}",
                            Accept=DOCKER_MANIFEST)
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    manifest = json.loads(response.content)
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert {layer["mediaType"] for layer in manifest["layers"]} == {DOCKER_LAYER_GZIP}
    assert_image_stored(registry, "docker/app", image)
    pushed = parse_reference(f"{registry.host}/docker/app@{image.digest}")
    assert client.resolve_base(pushed).format == "docker"


def test_refused_mount_falls_back_to_upload(token_registry):
    keychain = Keychain(explicit={token_registry.host: (token_registry.user,
                                                        token_registry.password)},
                        docker_config={})
    client = client_for(token_registry.host, keychain=keychain)
    base = make_image("refused-base", extra=1)
    push_image(client, base, parse_reference(f"{token_registry.host}/refused/base"))
    from fairing_magics.oci.image import BaseImage

    base_value = BaseImage(ref=parse_reference(f"{token_registry.host}/refused/base@{base.digest}"),
                           media_type=base.media_type, config_bytes=base.config_bytes,
                           layers=tuple(base.layer_descriptor(layer) for layer in base.layers))
    image = append_layers(base_value, [code_layer(Bundle(source="print('refused')\n"))])
    token_registry.token_server.single_scope = True
    try:
        before = client.transport.stats.snapshot()
        push_image(client, image, parse_reference(f"{token_registry.host}/refused/app"))
        sent = client.transport.stats.snapshot()[1] - before[1]
    finally:
        token_registry.token_server.single_scope = False
    assert sent > base.layers[1].size  # the base layers were copied, not mounted
    assert token_registry.manifest_status("refused/app", image.digest) == 200
