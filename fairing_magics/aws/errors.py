"""Turn botocore exceptions into one clear :class:`FairingError` that says what to do.

The boundary rule: every call into boto3 is wrapped with :func:`aws_error`, which knows the
AWS error shapes (``ClientError`` codes, ``NoCredentialsError``, ...) and names the IAM action
that was refused (``ecr:CreateRepository``, ``s3:PutObject``, ...), so that the user can ask for
exactly that permission. Messages never quote credentials (``FairingError`` redacts them too).
"""

from __future__ import annotations

import re

from ..errors import FairingError, RegistryError, connection_failure

# IAM actions whose names differ from the API operation (everything else is service:Operation).
_IAM_ACTIONS = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
}

_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                  "UnauthorizedException", "Forbidden", "403"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_CREDENTIALS = {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
                    "SignatureDoesNotMatch", "AuthFailure", "InvalidToken"}
_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed",
                 "IllegalLocationConstraintException", "InvalidLocationConstraint"}
_TEMPORARY = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown",
              "ServiceUnavailable", "InternalError", "InternalFailure", "RequestTimeout",
              "ServerException", "500", "503"}

# "User: arn:aws:iam::1:user/x is not authorized to perform: ecr:CreateRepository on resource: ..."
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_DENIED_ACTION = re.compile(r"perform:\s*([a-z0-9-]+:[A-Za-z0-9*]+)")

CREDENTIALS_HINT = (
    "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE, "
    "or run `aws configure` / `aws sso login`; in a Kubeflow notebook pod give its service "
    "account an IAM role (IRSA or EKS Pod Identity)."
)


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises ``operation`` of ``service``: ("s3", "HeadBucket") ->
    "s3:ListBucket"."""
    return _IAM_ACTIONS.get((service, operation), f"{service}:{operation}")


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else).

    Some endpoints (and moto for JSON services) send a query-style XML error body that botocore
    does not parse: the code is then "403" and the real code sits in the message's XML.
    """
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    code = str(error.get("Code", "") or "")
    inner = _XML_CODE.search(str(error.get("Message", "") or ""))
    return inner.group(1) if inner and code.isdigit() else code


def _plain_message(message: str) -> str:
    inner = _XML_MESSAGE.search(message)
    return inner.group(1).strip() if inner else message


def aws_error(exc: BaseException, *, service: str, doing: str, region: str | None = None,
              error_class: type[FairingError] = RegistryError) -> FairingError:
    """Return the ``error_class`` that explains ``exc``, raised while ``doing`` (a verb phrase).

    Use as ``raise aws_error(e, service="ecr", doing="creating repository x") from e``.
    ``service`` is the boto3 service name ("ecr", "s3", "sts"); ``region`` is named in the
    message where it helps (wrong partition, wrong bucket region).
    """
    where = f" in {region}" if region else ""
    name = type(exc).__name__
    response = getattr(exc, "response", None) or {}
    code = aws_error_code(exc)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    aws_message = _plain_message(str(response.get("Error", {}).get("Message", "") or ""))
    operation = getattr(exc, "operation_name", "") or ""
    temporary = False

    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                "UnauthorizedSSOTokenError", "SSOTokenLoadError"):
        message = f"No usable AWS credentials were found while {doing}. {CREDENTIALS_HINT}"
    elif name == "TokenRetrievalError" or code in _EXPIRED:
        message = (f"Your AWS credentials have expired ({code or name}) while {doing}. Refresh "
                   "them (`aws sso login`, a new session token, or restart the kernel to pick "
                   "up a rotated IRSA token) and run again.")
    elif name == "NoRegionError":
        message = (f"No AWS region is set while {doing}. Set AWS_REGION (e.g. "
                   "AWS_REGION=cn-northwest-1) or give the region in the registry / storage URI.")
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                  "ConnectionClosedError"):
        temporary = True
        failure = connection_failure(exc)
        message = (f"Cannot reach the AWS {service} endpoint{where} while {doing} "
                   f"({exc}{'; ' + failure if failure else ''}). Check the network, the region, "
                   "and AWS_ENDPOINT_URL if you set one.")
    elif code in _ACCESS_DENIED:
        action = _denied_action(aws_message) or iam_action(service, operation)
        message = (f"Access denied while {doing}{where}: your AWS identity lacks the IAM "
                   f"permission `{action}`. Ask your administrator to allow `{action}` for this "
                   "role or user (or attach a policy that includes it). AWS said: "
                   f"{aws_message or code}")
    elif code in _BAD_CREDENTIALS:
        message = (f"AWS did not recognise your credentials while {doing}{where} ({code}). "
                   "Credentials only work in their own partition: the China regions (cn-north-1, "
                   "cn-northwest-1) need keys of an AWS China account, other regions keys of a "
                   f"global account. Check AWS_REGION and the profile in use. {CREDENTIALS_HINT}")
    elif code in _WRONG_REGION:
        message = (f"Wrong AWS region while {doing}{where} ({code}): the resource lives in another "
                   "region. Set AWS_REGION to the region of the bucket or registry, or name it in "
                   f"the URI. AWS said: {aws_message or code}")
    elif code in _TEMPORARY or (isinstance(status, int) and status >= 500):
        temporary = True
        message = (f"AWS {service} is busy or failing while {doing}{where} ({code or status}); "
                   "try again in a moment.")
    else:
        detail = f"{code}: {aws_message}" if code else f"{name}: {exc}"
        message = f"AWS {service} refused {doing}{where} ({detail})."

    if issubclass(error_class, RegistryError):
        return error_class(message, status=status, codes=(code,) if code else (),
                           temporary=temporary)
    return error_class(message)


def _denied_action(aws_message: str) -> str:
    match = _DENIED_ACTION.search(aws_message)
    return match.group(1) if match else ""
