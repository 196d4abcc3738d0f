"""boto3 is an extra: without it, ECR and S3 say how to install it; nothing else breaks."""

import sys

import pytest

from fairing_magics.aws import ecr_credentials, is_ecr_host
from fairing_magics.aws.boto import require_boto3
from fairing_magics.errors import RegistryError
from fairing_magics.storage import S3Storage, StorageError


@pytest.fixture
def no_boto3(monkeypatch):
    # A None entry in sys.modules makes `import boto3` raise ImportError, as on a machine
    # without the package.
    monkeypatch.setitem(sys.modules, "boto3", None)


def test_ecr_host_without_boto3(no_boto3):
    with pytest.raises(RegistryError, match=r"pip install 'fairing-magics\[aws\]'"):
        ecr_credentials("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn")


def test_other_hosts_need_no_boto3(no_boto3):
    assert ecr_credentials("127.0.0.1:5000") is None
    assert is_ecr_host("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn")


def test_s3_storage_without_boto3(no_boto3):
    with pytest.raises(StorageError, match=r"pip install 'fairing-magics\[aws\]'"):
        S3Storage("my-bucket", region="cn-northwest-1").read_bytes("run-1", "outputs.pkl")


def test_require_boto3_message(no_boto3):
    with pytest.raises(Exception) as info:
        require_boto3("push to Amazon ECR")
    assert "boto3 is needed to push to Amazon ECR" in str(info.value)
