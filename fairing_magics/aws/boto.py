"""boto3 is an extra: import it here, once, and say how to install it when it is missing.

Everything in :mod:`fairing_magics.aws` that talks to AWS gets its session and clients from
here, so that ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_PROFILE`` and ``AWS_ENDPOINT_URL``
(and the per-service ``AWS_ENDPOINT_URL_<SERVICE>``, which boto3 >= 1.28 honours) work the same
way everywhere.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, FairingError

INSTALL_HINT = "pip install 'fairing-magics[aws]'"


def require_boto3(purpose: str, error_class: type[FairingError] = ConfigError):
    """Return the ``boto3`` module, or raise ``error_class`` saying how to install it.

    ``purpose`` completes the sentence "boto3 is needed to ...", e.g. "push to Amazon ECR".
    """
    try:
        import boto3
    except ImportError as exc:
        raise error_class(
            f"boto3 is needed to {purpose} but is not installed in this kernel. "
            f"Install it with: {INSTALL_HINT} (then restart the kernel)."
        ) from exc
    return boto3


def aws_session(purpose: str, error_class: type[FairingError] = ConfigError,
                region: str | None = None):
    """A fresh ``boto3.session.Session`` in ``region`` (or the configured default region)."""
    boto3 = require_boto3(purpose, error_class)
    return boto3.session.Session(region_name=region) if region else boto3.session.Session()


def default_region() -> str | None:
    """The region to use: AWS_REGION, else what boto3 would use (AWS_DEFAULT_REGION, the
    profile's region), or None. AWS_REGION is read here because older botocore releases only
    honour AWS_DEFAULT_REGION, while the AWS CLI v2 and the other SDKs use AWS_REGION."""
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    try:
        import boto3
    except ImportError:
        return None
    return boto3.session.Session().region_name
