"""AWS support: Amazon ECR registries (any partition, China included), S3 run storage, and
credentials for pods. boto3 is an extra (``pip install 'fairing-magics[aws]'``); importing this
package works without it, and the functions that need it say how to install it.
"""

from .ecr import (
    EcrRegistry,
    EcrTokenCache,
    caller_account,
    check_ecr_shorthand,
    complete_ecr_reference,
    create_missing_repository,
    describe_ecr_plan,
    ecr_credentials,
    ecr_registry,
    ensure_repository,
    forget_ecr_tokens,
    is_ecr_host,
    is_ecr_shorthand,
    parse_ecr_host,
)
from .errors import aws_error, iam_action
from .partitions import Partition, partition_for_region
from .pods import aws_env_from_secret

__all__ = [
    "EcrRegistry",
    "EcrTokenCache",
    "Partition",
    "aws_env_from_secret",
    "aws_error",
    "caller_account",
    "check_ecr_shorthand",
    "complete_ecr_reference",
    "create_missing_repository",
    "describe_ecr_plan",
    "ecr_credentials",
    "ecr_registry",
    "ensure_repository",
    "forget_ecr_tokens",
    "iam_action",
    "is_ecr_host",
    "is_ecr_shorthand",
    "parse_ecr_host",
    "partition_for_region",
]
