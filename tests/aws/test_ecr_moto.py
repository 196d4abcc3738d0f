"""ECR against moto's server: account completion, repository creation, tokens and their cache,
IAM AccessDenied enforced by moto, and the token used as basic auth on a real registry."""

import base64
import json
import shutil

import boto3
import pytest

from fairing_magics.aws import (
    EcrTokenCache,
    complete_ecr_reference,
    ecr_credentials,
    ecr_registry,
    ensure_repository,
    forget_ecr_tokens,
    parse_ecr_host,
)
from fairing_magics.aws.ecr import TOKEN_LIFETIME_SECONDS, TOKEN_REFRESH_MARGIN_SECONDS
from fairing_magics.errors import RegistryError
from tests.harness import need
from tests.harness.fixtures_aws import MOTO_ACCOUNT

pytestmark = pytest.mark.e2e

CHINA_HOST = f"{MOTO_ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn"


def _moto_token(region: str) -> str:
    data = boto3.client("ecr", region_name=region).get_authorization_token()["authorizationData"][0]
    return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]


def test_complete_ecr_reference_from_sts(aws):
    assert complete_ecr_reference("ecr/fairing-job") == f"{CHINA_HOST}/fairing-job"
    assert complete_ecr_reference("ecr") == CHINA_HOST
    assert complete_ecr_reference("ecr/team/job", "us-west-2") == (
        f"{MOTO_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/team/job")
    # Full references are left alone (no STS call needed).
    assert complete_ecr_reference("127.0.0.1:5000/job") == "127.0.0.1:5000/job"


def test_ensure_repository_creates_then_finds(aws):
    registry = parse_ecr_host(CHINA_HOST)
    assert ensure_repository(registry, "team/fairing-job") is True
    assert ensure_repository(registry, "team/fairing-job") is False
    found = boto3.client("ecr", region_name="cn-northwest-1").describe_repositories(
        repositoryNames=["team/fairing-job"])["repositories"]
    assert [r["repositoryArn"] for r in found] == [
        f"arn:aws-cn:ecr:cn-northwest-1:{MOTO_ACCOUNT}:repository/team/fairing-job"]
    # The repository was made in the registry's region, not in another one.
    other = boto3.client("ecr", region_name="us-east-1").describe_repositories()["repositories"]
    assert other == []


def test_token_fetch_and_cache(aws):
    now = [1000.0]
    cache = EcrTokenCache(clock=lambda: now[0])
    assert cache("127.0.0.1:5000") is None and cache("ghcr.io") is None
    assert cache.fetches == 0
    user, password = cache(CHINA_HOST)
    assert (user, password) == ("AWS", _moto_token("cn-northwest-1"))
    assert cache.fetches == 1
    assert cache(CHINA_HOST) == (user, password)
    assert cache(f"{MOTO_ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn:443") == (user, password)
    assert cache.fetches == 1  # cache hit
    now[0] += TOKEN_LIFETIME_SECONDS - TOKEN_REFRESH_MARGIN_SECONDS - 1
    cache(CHINA_HOST)
    assert cache.fetches == 1  # still valid
    now[0] += 2
    cache(CHINA_HOST)
    assert cache.fetches == 2  # refreshed shortly before expiry
    cache(f"{MOTO_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com")
    assert cache.fetches == 3  # another region, another token


def test_default_hook(aws):
    forget_ecr_tokens()  # the kernel-wide cache may hold a session of an earlier test
    assert ecr_credentials("127.0.0.1:5000") is None
    assert ecr_credentials(CHINA_HOST)[0] == "AWS"


def _user_with(actions: list[str]) -> dict:
    iam = boto3.client("iam", region_name="cn-northwest-1")
    iam.create_user(UserName="notebook")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName="notebook", PolicyName="fairing",
                        PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName="notebook")["AccessKey"]


def _use(monkeypatch, key: dict) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])


def test_access_denied_names_create_repository(aws, monkeypatch):
    key = _user_with(["ecr:DescribeRepositories", "ecr:GetAuthorizationToken",
                      "sts:GetCallerIdentity"])
    _use(monkeypatch, key)
    aws.enforce_iam()
    registry = parse_ecr_host(CHINA_HOST)
    with pytest.raises(RegistryError) as info:
        ensure_repository(registry, "fairing-job")
    message = info.value.message
    assert "`ecr:CreateRepository`" in message and "creating ECR repository fairing-job" in message
    assert key["SecretAccessKey"] not in message and key["AccessKeyId"] not in message
    assert "belongs to account" not in message  # same account: no account hint
    # The token is still allowed.
    assert EcrTokenCache()(CHINA_HOST)[0] == "AWS"


def test_access_denied_names_get_authorization_token(aws, monkeypatch):
    _use(monkeypatch, _user_with(["ecr:DescribeRepositories", "sts:GetCallerIdentity"]))
    aws.enforce_iam()
    with pytest.raises(RegistryError, match=r"`ecr:GetAuthorizationToken`"):
        EcrTokenCache()(CHINA_HOST)


def test_wrong_account_is_named(aws, monkeypatch):
    _use(monkeypatch, _user_with(["ecr:DescribeRepositories", "sts:GetCallerIdentity"]))
    aws.enforce_iam()
    registry = ecr_registry("210987654321", "cn-northwest-1")
    with pytest.raises(RegistryError) as info:
        ensure_repository(registry, "fairing-job")
    message = info.value.message
    assert "belongs to account 210987654321" in message
    assert f"your credentials are for account {MOTO_ACCOUNT}" in message
    assert "--registry ecr/<name>" in message


def test_unknown_keys_are_reported(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUSER00001")
    aws.enforce_iam()
    with pytest.raises(RegistryError) as info:
        EcrTokenCache()(CHINA_HOST)
    assert "did not recognise your credentials" in info.value.message
    assert "AKIAUNKNOWNUSER00001" not in info.value.message


def test_no_credentials(aws, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(RegistryError, match="No AWS credentials were found"):
        EcrTokenCache()(CHINA_HOST)


def test_ecr_token_is_basic_auth_on_a_real_registry(aws, tmp_path, monkeypatch):
    """Moto has no registry API: a real registry whose htpasswd holds the ECR token stands in
    for the ECR host, and our registry client gets the token through the credential hook."""
    need(shutil.which("docker-registry") is not None and shutil.which("htpasswd") is not None,
         "docker-registry and htpasswd (apt-get install docker-registry apache2-utils) are needed")
    from fairing_magics.oci import parse_reference
    from fairing_magics.registry import Keychain, RegistryClient, Transport
    from tests.harness import registry as test_registry

    user, password = "AWS", _moto_token("cn-northwest-1")
    monkeypatch.setattr(test_registry, "USER", user)
    monkeypatch.setattr(test_registry, "PASSWORD", password)
    server = test_registry.start_registry(tmp_path / "registry", auth=True)
    try:
        tokens = EcrTokenCache()
        ecr = parse_ecr_host(CHINA_HOST)

        def stand_in(host):  # the local registry plays the ECR registry's part
            return tokens.credentials_for(ecr) if host == server.host else tokens(host)

        ref = parse_reference(f"{server.host}/fairing-job")
        digest = "sha256:" + "0" * 64
        with_token = RegistryClient(Transport(Keychain([stand_in], docker_config={}),
                                              insecure_registries=[server.host]))
        assert with_token.head_blob(ref, digest) is False  # authorised, blob absent
        assert tokens.fetches == 1
        anonymous = RegistryClient(Transport(Keychain([], docker_config={}),
                                             insecure_registries=[server.host]))
        with pytest.raises(RegistryError) as info:
            anonymous.head_blob(ref, digest)
        assert info.value.status == 401
    finally:
        server.stop()
