"""AWS partitions: which DNS suffix and which ARN prefix a region uses.

The table comes from botocore's own partition data (``botocore/data/partitions.json``, the
file the SDK's endpoint rules use), never from a list of our own: ``cn-north-1`` and
``cn-northwest-1`` are in partition ``aws-cn`` with DNS suffix ``amazonaws.com.cn`` and ARNs
``arn:aws-cn:...``; GovCloud, the ISO partitions and any partition AWS adds later come with
botocore upgrades.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import ConfigError
from .boto import INSTALL_HINT


@dataclass(frozen=True)
class Partition:
    """One AWS partition: ``name`` ("aws", "aws-cn", ...) is also the ARN partition."""

    name: str
    dns_suffix: str
    dual_stack_dns_suffix: str
    regions: tuple[str, ...]

    @property
    def arn_prefix(self) -> str:
        """``arn:<partition>:`` — the start of every ARN in this partition."""
        return f"arn:{self.name}:"


@dataclass(frozen=True)
class _PartitionRule:
    partition: Partition
    region_regex: re.Pattern


@functools.lru_cache(maxsize=1)
def _partition_rules() -> tuple[_PartitionRule, ...]:
    try:
        from botocore.loaders import create_loader
    except ImportError as exc:
        raise ConfigError(
            "botocore (part of boto3) is needed to know the AWS partitions and is not installed. "
            f"Install it with: {INSTALL_HINT}"
        ) from exc
    data = create_loader().load_data("partitions")
    rules = []
    for entry in data["partitions"]:
        outputs = entry["outputs"]
        partition = Partition(
            name=outputs.get("name", entry["id"]),
            dns_suffix=outputs["dnsSuffix"],
            dual_stack_dns_suffix=outputs.get("dualStackDnsSuffix", ""),
            regions=tuple(sorted(entry.get("regions", {}))),
        )
        rules.append(_PartitionRule(partition, re.compile(entry["regionRegex"])))
    return tuple(rules)


def all_partitions() -> tuple[Partition, ...]:
    """Every partition botocore knows, in botocore's order ("aws" first)."""
    return tuple(rule.partition for rule in _partition_rules())


def partition_for_region(region: str) -> Partition:
    """The partition of ``region``: listed regions first, then each partition's region pattern.

    Raises :class:`ConfigError` for a string that is no AWS region (a typo, an empty value).
    """
    rules = _partition_rules()
    for rule in rules:
        if region in rule.partition.regions:
            return rule.partition
    for rule in rules:
        if rule.region_regex.match(region or ""):
            return rule.partition
    raise ConfigError(
        f"{region!r} is not an AWS region botocore knows (e.g. us-east-1, cn-northwest-1). "
        "Check AWS_REGION / --registry, or upgrade boto3 if the region is new."
    )

