"""Reference parsing and normalisation (docker.io defaults, library/, ports, tags, digests)."""

from __future__ import annotations

import pytest

from fairing_magics.errors import ConfigError
from fairing_magics.oci.reference import Reference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    ("python", "docker.io", "library/python", "", ""),
    ("python:3.11-slim", "docker.io", "library/python", "3.11-slim", ""),
    ("kubeflow/notebook", "docker.io", "kubeflow/notebook", "", ""),
    ("docker.io/python", "docker.io", "library/python", "", ""),
    ("index.docker.io/library/python:3", "docker.io", "library/python", "3", ""),
    ("localhost/app", "localhost", "app", "", ""),
    ("localhost:5000/app:v1", "localhost:5000", "app", "v1", ""),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "", ""),
    (f"127.0.0.1:5000/team/app@{DIGEST}", "127.0.0.1:5000", "team/app", "", DIGEST),
    (f"ghcr.io/org/app:1.0@{DIGEST}", "ghcr.io", "org/app", "1.0", DIGEST),
    ("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job",
     "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn", "fairing-job", "", ""),
    ("https://quay.io/a/b__c/d-e.f:t_1", "quay.io", "a/b__c/d-e.f", "t_1", ""),
])
def test_parse(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag,
            ref.digest) == (registry, repository, tag, digest)


def test_str_round_trips_and_identifier():
    ref = parse_reference("python:3.11")
    assert str(ref) == "docker.io/library/python:3.11"
    assert parse_reference(str(ref)) == ref
    assert ref.api_host == "registry-1.docker.io"
    assert ref.identifier == "3.11"
    assert parse_reference("python").identifier == "latest"
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/python@{DIGEST}" and pinned.identifier == DIGEST
    assert parse_reference("127.0.0.1:5000/a").api_host == "127.0.0.1:5000"
    assert Reference("r:1", "a").with_tag("x").name == "r:1/a"


@pytest.mark.parametrize("text",
                         ["", "Team/App", "a/b:", "a:bad tag", "a@sha256:xyz", "a//b", "-a",
                          "a/b:-x"])
def test_invalid(text):
    with pytest.raises(ConfigError):
        parse_reference(text)
