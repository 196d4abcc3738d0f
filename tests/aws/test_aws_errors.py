"""botocore error shapes -> one clear FairingError. botocore's Stubber produces the real
ClientError objects (a third-party boundary; moto covers the IAM-enforced AccessDenied path)."""

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from fairing_magics.aws.errors import aws_error, iam_action
from fairing_magics.errors import RegistryError
from fairing_magics.storage import StorageError


def _client_error(service, operation, code, status=400, message="", **params):
    client = boto3.client(service, region_name="cn-northwest-1",
                          aws_access_key_id="AKIAFAIRINGTESTKEY01", aws_secret_access_key="x" * 40)
    method = {"GetAuthorizationToken": "get_authorization_token",
              "CreateRepository": "create_repository",
              "DescribeRepositories": "describe_repositories",
              "PutObject": "put_object", "HeadBucket": "head_bucket",
              "GetCallerIdentity": "get_caller_identity"}[operation]
    with Stubber(client) as stubber:
        stubber.add_client_error(method, service_error_code=code, service_message=message,
                                 http_status_code=status)
        with pytest.raises(botocore.exceptions.ClientError) as info:
            getattr(client, method)(**params)
    return info.value


def test_access_denied_names_the_iam_action():
    exc = _client_error("ecr", "CreateRepository", "AccessDeniedException", 400,
                        repositoryName="fairing-job")
    error = aws_error(exc, service="ecr", doing="creating ECR repository fairing-job",
                      region="cn-northwest-1")
    assert isinstance(error, RegistryError)
    assert "`ecr:CreateRepository`" in error.message
    assert "creating ECR repository fairing-job in cn-northwest-1" in error.message
    assert error.codes == ("AccessDeniedException",) and not error.temporary


def test_access_denied_prefers_the_action_aws_names():
    message = ("User: arn:aws-cn:sts::123456789012:assumed-role/nb/x is not authorized to "
               "perform: ecr:GetAuthorizationToken on resource: *")
    exc = _client_error("ecr", "GetAuthorizationToken", "AccessDeniedException", 400, message)
    error = aws_error(exc, service="ecr", doing="getting a login token")
    assert "`ecr:GetAuthorizationToken`" in error.message
    assert "assumed-role/nb/x" in error.message  # the principal helps the admin; it is no secret


def test_s3_action_names_differ_from_operations():
    exc = _client_error("s3", "HeadBucket", "403", 403, Bucket="b-1")
    error = aws_error(exc, service="s3", doing="checking bucket b-1", error_class=StorageError)
    assert isinstance(error, StorageError)
    assert "`s3:ListBucket`" in error.message
    assert iam_action("s3", "PutObject") == "s3:PutObject"
    assert iam_action("s3", "PutBucketEncryption") == "s3:PutEncryptionConfiguration"
    assert iam_action("ecr", "DescribeRepositories") == "ecr:DescribeRepositories"


@pytest.mark.parametrize("code", ["ExpiredTokenException", "ExpiredToken", "RequestExpired"])
def test_expired_credentials(code):
    exc = _client_error("ecr", "GetAuthorizationToken", code)
    error = aws_error(exc, service="ecr", doing="getting a login token")
    assert "expired" in error.message and "aws sso login" in error.message


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "InvalidClientTokenId"])
def test_credentials_of_the_other_partition(code):
    exc = _client_error("sts", "GetCallerIdentity", code, 403)
    error = aws_error(exc, service="sts", doing="finding your account", region="cn-northwest-1")
    assert "China regions" in error.message and "cn-northwest-1" in error.message


def test_wrong_bucket_region():
    exc = _client_error("s3", "PutObject", "PermanentRedirect", 301, Bucket="b-1", Key="k",
                        Body=b"")
    error = aws_error(exc, service="s3", doing="uploading", error_class=StorageError)
    assert "Wrong AWS region" in error.message and "AWS_REGION" in error.message


def test_throttling_is_temporary():
    exc = _client_error("ecr", "DescribeRepositories", "ThrottlingException")
    error = aws_error(exc, service="ecr", doing="looking up a repository")
    assert error.temporary and "try again" in error.message


def test_no_credentials():
    error = aws_error(botocore.exceptions.NoCredentialsError(), service="ecr", doing="logging in")
    assert "No usable AWS credentials" in error.message
    assert "IRSA" in error.message and "AWS_ACCESS_KEY_ID" in error.message


def test_no_region_and_unreachable_endpoint():
    error = aws_error(botocore.exceptions.NoRegionError(), service="s3", doing="uploading",
                      error_class=StorageError)
    assert "AWS_REGION" in error.message
    unreachable = botocore.exceptions.EndpointConnectionError(endpoint_url="https://x.invalid")
    error = aws_error(unreachable, service="ecr", doing="logging in")
    assert error.temporary and "AWS_ENDPOINT_URL" in error.message


def test_unknown_errors_keep_code_and_message():
    exc = _client_error("ecr", "CreateRepository", "LimitExceededException", 400,
                        "too many repositories", repositoryName="fairing-job")
    error = aws_error(exc, service="ecr", doing="creating ECR repository fairing-job")
    assert "LimitExceededException: too many repositories" in error.message


def test_messages_never_hold_keys():
    message = "bad key AKIAFAIRINGTESTKEY01 in aws_secret_access_key=" + "s" * 40
    exc = _client_error("ecr", "GetAuthorizationToken", "SomethingOdd", 400, message)
    error = aws_error(exc, service="ecr", doing="logging in")
    assert "AKIAFAIRINGTESTKEY01" not in error.message and "s" * 40 not in error.message
