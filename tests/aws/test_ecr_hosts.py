"""ECR hosts, references and the --dry-run plan: pure functions, no network."""

import pytest

from fairing_magics.aws.ecr import (
    check_repository_name,
    describe_ecr_plan,
    ecr_registry,
    is_ecr_host,
    is_ecr_shorthand,
    parse_ecr_host,
    split_reference,
)
from fairing_magics.errors import RegistryError

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    "host, region, partition, suffix, fips, dual",
    [
        (f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1", "aws-cn",
         "amazonaws.com.cn", False, False),
        (f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1", "aws-cn",
         "amazonaws.com.cn", False, False),
        (f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com", "us-west-2", "aws", "amazonaws.com",
         False, False),
        (f"{ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1", "aws-us-gov",
         "amazonaws.com", True, False),
        (f"{ACCOUNT}.dkr-ecr.us-east-1.on.aws", "us-east-1", "aws", "on.aws", False, True),
        (f"{ACCOUNT}.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "cn-northwest-1",
         "aws-cn", "on.amazonwebservices.com.cn", False, True),
    ],
)
def test_parse_ecr_host(host, region, partition, suffix, fips, dual):
    registry = parse_ecr_host(host)
    assert (registry.account, registry.region, registry.partition, registry.dns_suffix) == (
        ACCOUNT, region, partition, suffix)
    assert (registry.fips, registry.dual_stack, registry.host) == (fips, dual, host)
    assert is_ecr_host(host)
    # Building the registry from account and region gives the same host back.
    assert ecr_registry(ACCOUNT, region, fips=fips, dual_stack=dual) == registry


def test_registry_is_frozen():
    registry = parse_ecr_host(f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn")
    with pytest.raises(AttributeError):
        registry.region = "us-east-1"


def test_china_arn():
    registry = ecr_registry(ACCOUNT, "cn-northwest-1")
    assert registry.repository_arn("team/fairing-job") == (
        f"arn:aws-cn:ecr:cn-northwest-1:{ACCOUNT}:repository/team/fairing-job")
    assert registry.reference("fairing-job") == f"{registry.host}/fairing-job"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:5000", "docker.io", "quay.io", "ghcr.io", "localhost:5000",
     "12345.dkr.ecr.us-east-1.amazonaws.com",  # account too short
     f"{ACCOUNT}.dkr.ecr.amazonaws.com", f"registry.{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"],
)
def test_not_ecr(host):
    assert not is_ecr_host(host)
    assert parse_ecr_host(host) is None


def test_china_host_with_global_suffix_is_corrected():
    # What moto answers, and what users type when they follow the global docs.
    with pytest.raises(RegistryError) as info:
        parse_ecr_host(f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com")
    assert f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn" in str(info.value)
    assert "aws-cn" in str(info.value)


def test_global_host_with_china_suffix_is_corrected():
    with pytest.raises(RegistryError, match=r"us-east-1\.amazonaws\.com/"):
        parse_ecr_host(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.cn")


@pytest.mark.parametrize(
    "reference, host, path",
    [
        ("h.example/a/b:v1", "h.example", "a/b"),
        ("h.example:5000/a/b", "h.example:5000", "a/b"),
        ("h.example/a/b@sha256:" + "0" * 64, "h.example", "a/b"),
        ("h.example/a", "h.example", "a"),
        ("h.example", "h.example", ""),
    ],
)
def test_split_reference(reference, host, path):
    assert split_reference(reference) == (host, path)


def test_shorthand():
    assert is_ecr_shorthand("ecr") and is_ecr_shorthand("ecr/fairing-job")
    assert not is_ecr_shorthand("ecr.example.com/x") and not is_ecr_shorthand("ecrx/y")


@pytest.mark.parametrize("name", ["fairing-job", "team/fairing-job", "a.b_c-d/e", "ab"])
def test_valid_repository_names(name):
    check_repository_name(name)


@pytest.mark.parametrize("name", ["Fairing", "a", "-x", "x/", "x//y", "x..y/", "a b"])
def test_invalid_repository_names(name):
    with pytest.raises(RegistryError, match="not a valid ECR repository name"):
        check_repository_name(name)


def test_dry_run_plan_for_china_registry():
    plan = describe_ecr_plan(
        f"{ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job:latest")
    text = "\n".join(plan)
    assert plan[0] == f"registry: {ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn (Amazon ECR)"
    assert "region: cn-northwest-1" in plan
    assert "partition: aws-cn (DNS suffix amazonaws.com.cn, ARNs arn:aws-cn:)" in plan
    assert (f"repository: fairing-job (arn:aws-cn:ecr:cn-northwest-1:{ACCOUNT}:"
            "repository/fairing-job)") in plan
    assert "ensure repository exists" in text and "ecr:CreateRepository" in text
    assert "get authorization token: ecr:GetAuthorizationToken in cn-northwest-1" in text


def test_dry_run_plan_for_shorthand(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    plan = describe_ecr_plan("ecr/team/job")
    assert "registry: <account>.dkr.ecr.cn-north-1.amazonaws.com.cn" in plan[0]
    assert "sts:GetCallerIdentity" in plan[0]
    assert "partition: aws-cn (DNS suffix amazonaws.com.cn, ARNs arn:aws-cn:)" in plan


def test_dry_run_plan_for_shorthand_without_region(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    plan = describe_ecr_plan("ecr")
    assert any(line.startswith("region: not set: set AWS_REGION") for line in plan)


def test_no_plan_for_other_registries():
    assert describe_ecr_plan("127.0.0.1:5000/fairing-job") == []
    assert describe_ecr_plan("ghcr.io/me/job:v1") == []
