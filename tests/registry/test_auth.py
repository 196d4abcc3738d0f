"""Credentials: docker config (auths, credHelpers, credsStore), hooks, challenge parsing."""

from __future__ import annotations

import base64
import json
import os
import stat

from fairing_magics.registry.auth import (
    Keychain,
    basic_header,
    credentials_from_docker_config,
    normalise_host,
    parse_challenge,
    repository_scope,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auths_by_host_and_by_url():
    config = {"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")},
                        "registry.example.com:5000": {"auth": b64("me:p:with:colons")},
                        "https://other.example/v2/": {"username": "u", "password": "p"}}}
    assert credentials_from_docker_config("docker.io", config) == ("hub", "pw")
    assert credentials_from_docker_config("registry-1.docker.io", config) == ("hub", "pw")
    assert credentials_from_docker_config("registry.example.com:5000",
                                          config) == ("me", "p:with:colons")
    assert credentials_from_docker_config("other.example", config) == ("u", "p")
    assert credentials_from_docker_config("unknown.example", config) is None


def test_helpers_take_precedence_and_store_is_the_fallback():
    calls = []

    def helper(name, host):
        calls.append((name, host))
        return (f"{name}-user", "secret")

    config = {"credHelpers": {"ecr.example": "ecr-login"}, "credsStore": "desktop",
              "auths": {"ecr.example": {"auth": b64("ignored:x")},
                        "plain.example": {"auth": b64("a:b")}}}
    assert credentials_from_docker_config("ecr.example", config,
                                          helper) == ("ecr-login-user", "secret")
    assert credentials_from_docker_config("plain.example", config, helper) == ("a", "b")
    assert credentials_from_docker_config("else.example", config,
                                          helper) == ("desktop-user", "secret")
    assert calls == [("ecr-login", "ecr.example"), ("desktop", "else.example")]


def test_real_credential_helper_program(tmp_path, monkeypatch):
    script = tmp_path / "docker-credential-fake"
    script.write_text('#!/bin/sh\nread host\nif [ "$host" = "reg.example" ]; then\n'
                      '  echo \'{"ServerURL":"reg.example","Username":"robot","Secret":"t0k"}\'\n'
                      'else echo "credentials not found in native keychain"; exit 1; fi\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    keychain = Keychain()
    assert keychain.credentials("reg.example") == ("robot", "t0k")
    assert keychain.credentials("nothing.example") is None


def test_keychain_order_explicit_hooks_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"a.example": {"auth": b64("cfg:1")},
                                            "b.example": {"auth": b64("cfg:2")},
                                            "c.example": {"auth": b64("cfg:3")}}}))
    seen = []

    def ecr_hook(host):
        seen.append(host)
        return ("AWS", "token") if host.endswith("b.example") else None

    keychain = Keychain([ecr_hook], explicit={"a.example": ("given", "pw")}, docker_config=config)
    assert keychain.credentials("a.example") == ("given", "pw")
    assert keychain.credentials("b.example") == ("AWS", "token")
    assert keychain.credentials("c.example") == ("cfg", "3")
    assert seen == ["b.example", "c.example"]
    assert Keychain(docker_config=tmp_path / "missing.json").credentials("a.example") is None


def test_parse_challenges():
    bearer = parse_challenge('Bearer realm="https://auth.docker.io/token",'
                             'service="registry.docker.io",'
                             'scope="repository:library/python:pull"')
    assert bearer.scheme == "bearer"
    assert bearer.get("realm") == "https://auth.docker.io/token"
    assert bearer.get("service") == "registry.docker.io"
    assert bearer.get("scope") == "repository:library/python:pull"
    basic = parse_challenge('Basic realm="fairing-test"')
    assert basic.scheme == "basic" and basic.get("realm") == "fairing-test"
    odd = parse_challenge('Bearer realm="https://x/t?a=b,c", error="invalid_token"')
    assert odd.get("realm") == "https://x/t?a=b,c" and odd.get("error") == "invalid_token"


def test_small_pieces():
    assert repository_scope("team/app") == "repository:team/app:pull,push"
    assert basic_header(("u", "p")) == "Basic dTpw"
    assert normalise_host("https://Index.Docker.io/v1/") == "docker.io"
    assert normalise_host("http://127.0.0.1:5000/") == "127.0.0.1:5000"
