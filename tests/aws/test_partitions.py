"""Partitions come from botocore's data: DNS suffix and ARN prefix per region."""

import pytest

from fairing_magics.aws.partitions import all_partitions, partition_for_region
from fairing_magics.errors import ConfigError


@pytest.mark.parametrize(
    "region, partition, suffix",
    [
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
        ("us-east-1", "aws", "amazonaws.com"),
        ("eu-central-1", "aws", "amazonaws.com"),
        ("ap-southeast-7", "aws", "amazonaws.com"),  # matched by the region pattern if unlisted
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
        ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
    ],
)
def test_partition_table(region, partition, suffix):
    found = partition_for_region(region)
    assert (found.name, found.dns_suffix) == (partition, suffix)
    assert found.arn_prefix == f"arn:{partition}:"


def test_china_partition_comes_from_botocore_data():
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("partitions")
    china = next(p for p in data["partitions"] if p["id"] == "aws-cn")
    assert partition_for_region("cn-northwest-1").dns_suffix == china["outputs"]["dnsSuffix"]
    assert "cn-northwest-1" in partition_for_region("cn-northwest-1").regions
    assert [p.name for p in all_partitions()][:2] == ["aws", "aws-cn"]


@pytest.mark.parametrize("region", ["", "cn-nortwest", "amazonaws.com", "CN-NORTH-1"])
def test_not_a_region(region):
    with pytest.raises(ConfigError, match="not an AWS region"):
        partition_for_region(region)
