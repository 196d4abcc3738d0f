"""Amazon ECR: recognise registries, complete ``--registry ecr``, create repositories, get tokens.

An ECR registry is a host ``<account>.dkr.ecr.<region>.<dns suffix>`` — ``amazonaws.com`` in
the global partition, ``amazonaws.com.cn`` in the China regions (``cn-north-1``,
``cn-northwest-1``). FIPS (``dkr.ecr-fips``) and dual-stack (``dkr-ecr.<region>.on.aws``) hosts
are recognised too. The suffix is checked against botocore's partition data, so a China host
written with the global suffix gets a clear correction instead of a DNS error at push time.

Before every push (of a build, or of ``copy-image``) :func:`create_missing_repository` makes sure
the ECR repository exists (describe, else create: ECR does not create repositories on push); the
kernel's keychain has
:func:`ecr_credentials` as a credential hook: it answers ``("AWS", <token>)`` for ECR hosts and
``None`` for any other host.
Tokens come from ``ecr:GetAuthorizationToken`` in the registry's region, last 12 hours, and are
cached until shortly before they expire.
"""

from __future__ import annotations

import base64
import email.utils
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, RegistryError
from .boto import aws_session, default_region, require_boto3
from .errors import CREDENTIALS_HINT, aws_error, aws_error_code
from .partitions import partition_for_region

# <account>.dkr.ecr[-fips].<region>.<suffix>
# or dual-stack <account>.dkr-ecr[-fips].<region>.<suffix>
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr(?P<sep>[.-])ecr(?P<fips>-fips)?\."
    r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.(?P<suffix>[a-z0-9.-]+?)(?::(?P<port>\d+))?$"
)
# ECR repository names (CreateRepository's pattern).
_REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")

#: The lifetime AWS documents for ECR authorization tokens.
TOKEN_LIFETIME_SECONDS = 12 * 3600
#: Fetch a new token this long before the old one expires (a push of a big image takes a while).
TOKEN_REFRESH_MARGIN_SECONDS = 15 * 60

ECR_USER = "AWS"
_BOTO_PURPOSE = "use Amazon ECR"


@dataclass(frozen=True)
class EcrRegistry:
    """An Amazon ECR registry: one account in one region, reachable at ``host``."""

    account: str
    region: str
    partition: str
    dns_suffix: str
    host: str
    fips: bool = False
    dual_stack: bool = False

    def repository_arn(self, repository: str) -> str:
        """``arn:<partition>:ecr:<region>:<account>:repository/<repository>``."""
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{repository}"

    def reference(self, repository: str) -> str:
        """``<host>/<repository>``: the repository as a registry reference (no tag)."""
        return f"{self.host}/{repository}"


def is_ecr_host(host: str) -> bool:
    """True when ``host`` has the shape of an ECR registry host (pure; needs no boto3)."""
    return bool(_ECR_HOST.match(host.lower()))


def parse_ecr_host(host: str) -> EcrRegistry | None:
    """The :class:`EcrRegistry` at ``host``, or None when ``host`` is not an ECR registry.

    Raises :class:`RegistryError` when the host looks like ECR but its DNS suffix does not
    belong to its region's partition (e.g. ``...cn-northwest-1.amazonaws.com``), naming the
    right host.
    """
    match = _ECR_HOST.match(host.lower())
    if not match:
        return None
    region = match["region"]
    fips = bool(match["fips"])
    dual_stack = match["sep"] == "-"
    registry = ecr_registry(match["account"], region, fips=fips, dual_stack=dual_stack)
    if match["suffix"] != registry.dns_suffix:
        raise RegistryError(
            f"{host} is not a valid Amazon ECR host: registries in {region} (partition "
            f"{registry.partition}) are at {registry.host}. Use --registry {registry.host}/<name>."
        )
    return registry


def ecr_registry(account: str, region: str, *, fips: bool = False,
                 dual_stack: bool = False) -> EcrRegistry:
    """The ECR registry of ``account`` in ``region``, its host built from the partition data."""
    if not re.fullmatch(r"\d{12}", account):
        raise RegistryError(f"{account!r} is not an AWS account id (12 digits).")
    partition = partition_for_region(region)
    if dual_stack:
        # Dual-stack ECR endpoints live under "on.<partition dual-stack suffix>" minus its
        # "api." label: on.aws, on.amazonwebservices.com.cn (AWS ECR dual-stack docs).
        suffix = "on." + partition.dual_stack_dns_suffix.removeprefix("api.")
    else:
        suffix = partition.dns_suffix
    label = ("dkr-ecr" if dual_stack else "dkr.ecr") + ("-fips" if fips else "")
    host = f"{account}.{label}.{region}.{suffix}"
    return EcrRegistry(account=account, region=region, partition=partition.name,
                       dns_suffix=suffix, host=host, fips=fips, dual_stack=dual_stack)


def split_reference(reference: str) -> tuple[str, str]:
    """``host/path[:tag|@digest]`` -> (host, path); the path without tag or digest."""
    host, _, rest = reference.partition("/")
    rest = rest.split("@", 1)[0]
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest = rest[: len(rest) - len(last)] + last.split(":", 1)[0]
    return host, rest


def is_ecr_shorthand(reference: str) -> bool:
    """True for ``ecr`` and ``ecr/<repository>``: an ECR registry whose account is not written."""
    return reference == "ecr" or reference.startswith("ecr/")


def caller_account(region: str) -> str:
    """The AWS account of the current credentials (STS GetCallerIdentity, needs no permission)."""
    session = aws_session(_BOTO_PURPOSE, RegistryError, region)
    try:
        return session.client("sts", region_name=region).get_caller_identity()["Account"]
    except Exception as exc:
        if not _is_botocore_error(exc):
            raise
        raise aws_error(exc, service="sts",
                        doing="finding your AWS account (sts:GetCallerIdentity)",
                        region=region) from exc


def complete_ecr_reference(reference: str, region: str | None = None) -> str:
    """Complete ``ecr`` / ``ecr/<repository>`` into
    ``<account>.dkr.ecr.<region>.<suffix>[/<repository>]``.

    The account comes from STS ``get_caller_identity`` in ``region`` (default: AWS_REGION /
    AWS_DEFAULT_REGION / the profile's region). Any other reference is returned unchanged.

    Example: ``complete_ecr_reference("ecr/fairing-job", "cn-northwest-1")`` ->
    ``"123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job"``.
    """
    if not is_ecr_shorthand(reference):
        return reference
    region = _region_or_fail(region, reference)
    registry = ecr_registry(caller_account(region), region)
    return registry.host + reference[len("ecr"):]


def check_ecr_shorthand(reference: str, region: str | None = None) -> None:
    """Refuse what :func:`complete_ecr_reference` would refuse before asking STS: no region to
    complete ``ecr/NAME`` in, an invalid repository name. Touches nothing (for ``--dry-run``)."""
    _region_or_fail(region, reference)
    if reference.startswith("ecr/"):
        check_repository_name(reference[len("ecr/"):])


def describe_ecr_plan(reference: str, region: str | None = None) -> list[str]:
    """What pushing to ``reference`` will do on ECR, one line each (for ``--dry-run``; no network).

    Empty for a registry that is not ECR. ``ecr/<repository>`` shorthands describe the account
    lookup instead of an account.
    """
    if is_ecr_shorthand(reference):
        region = region or default_region()
        repository = reference[len("ecr/"):] if reference.startswith("ecr/") else "<image name>"
        if not region:
            return [
                "registry: Amazon ECR (account from sts:GetCallerIdentity at push time)",
                "region: not set: set AWS_REGION (e.g. cn-northwest-1) or write the full "
                "registry host",
                f"repository: {repository}",
            ]
        partition = partition_for_region(region)
        host = f"<account>.dkr.ecr.{region}.{partition.dns_suffix}"
        lines = [f"registry: {host} (Amazon ECR; account from sts:GetCallerIdentity at push time)",
                 "account: <from sts:GetCallerIdentity>"]
        arn = f"arn:{partition.name}:ecr:{region}:<account>:repository/{repository}"
        return lines + _plan_tail(region, partition.name, partition.dns_suffix, repository, arn)
    host, repository = split_reference(reference)
    if not is_ecr_host(host):
        return []
    registry = parse_ecr_host(host)
    repository = repository or "<image name>"
    lines = [f"registry: {registry.host} (Amazon ECR)", f"account: {registry.account}"]
    return lines + _plan_tail(registry.region, registry.partition, registry.dns_suffix,
                              repository, registry.repository_arn(repository))


def _plan_tail(region: str, partition: str, suffix: str, repository: str, arn: str) -> list[str]:
    return [
        f"region: {region}",
        f"partition: {partition} (DNS suffix {suffix}, ARNs arn:{partition}:)",
        f"repository: {repository} ({arn})",
        "ensure repository exists: ecr:DescribeRepositories, then ecr:CreateRepository if missing",
        f"get authorization token: ecr:GetAuthorizationToken in {region} "
        "(valid 12 h, cached; used as basic auth for user AWS)",
        "push: ecr:InitiateLayerUpload/UploadLayerPart/CompleteLayerUpload/PutImage "
        "(layers already in ECR are skipped)",
    ]


def check_repository_name(repository: str) -> None:
    """Raise :class:`RegistryError` unless ``repository`` is a valid ECR repository name."""
    if not (2 <= len(repository) <= 256 and _REPOSITORY_NAME.match(repository)):
        raise RegistryError(
            f"{repository!r} is not a valid ECR repository name: use lowercase letters, digits, "
            "and '.', '_', '-' between them, with '/' between path parts (2 to 256 characters)."
        )


def ensure_repository(registry: EcrRegistry, repository: str) -> bool:
    """Make sure ``repository`` exists in ``registry``: describe it, else create it.

    Returns True when it was created. New repositories get ECR's defaults (AES256 encryption,
    mutable tags). Raises :class:`RegistryError` naming the missing IAM permission, or the
    account mismatch when the registry belongs to another account than the credentials.
    """
    check_repository_name(repository)
    session = aws_session(_BOTO_PURPOSE, RegistryError, registry.region)
    client = _ecr_client(session, registry)
    try:
        client.describe_repositories(registryId=registry.account, repositoryNames=[repository])
        return False
    except Exception as exc:
        if not _is_botocore_error(exc):
            raise
        if aws_error_code(exc) != "RepositoryNotFoundException":
            raise _explain(exc, registry, f"looking up ECR repository {repository}") from exc
    try:
        client.create_repository(registryId=registry.account, repositoryName=repository)
        return True
    except Exception as exc:
        if not _is_botocore_error(exc):
            raise
        if aws_error_code(exc) == "RepositoryAlreadyExistsException":
            return False  # created meanwhile by someone else: what we wanted
        raise _explain(exc, registry, f"creating ECR repository {repository}") from exc


def create_missing_repository(host: str, repository: str) -> EcrRegistry | None:
    """Before a push to ``host/repository``: when ``host`` is an ECR registry, make sure the
    repository exists (:func:`ensure_repository`). The registry when it was created, else None
    (not ECR, or there already)."""
    registry = parse_ecr_host(host)
    if registry is not None and ensure_repository(registry, repository):
        return registry
    return None


def _explain(exc: Exception, registry: EcrRegistry, doing: str) -> RegistryError:
    """aws_error, plus the account check when ECR says no: the commonest cause is a wrong
    account."""
    error = aws_error(exc, service="ecr", doing=doing, region=registry.region)
    if aws_error_code(exc) in ("AccessDeniedException", "AccessDenied",
                               "InvalidParameterException"):
        try:
            mine = caller_account(registry.region)
        except RegistryError:
            mine = ""
        if mine and mine != registry.account:
            return RegistryError(
                f"{error.message} Note: the registry {registry.host} belongs to account "
                f"{registry.account}, but your credentials are for account {mine}. Use "
                "--registry ecr/<name> to push to your own account, or have account "
                f"{registry.account} grant yours access in a repository policy.",
                status=error.status, codes=error.codes,
            )
    return error


def _ecr_client(session, registry: EcrRegistry):
    from botocore.config import Config  # boto3 is an extra: a session exists, so botocore does


    config = Config(use_fips_endpoint=registry.fips, use_dualstack_endpoint=registry.dual_stack,
                    retries={"mode": "standard"})
    return session.client("ecr", region_name=registry.region, config=config)


def _is_botocore_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("botocore")


def _region_or_fail(region: str | None, reference: str) -> str:
    region = region or default_region()
    if not region:
        raise ConfigError(
            f"--registry {reference} needs an AWS region: set AWS_REGION (e.g. "
            "AWS_REGION=cn-northwest-1) or write the full registry host "
            "<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>."
        )
    return region


@dataclass
class _Token:
    user: str
    password: str
    deadline: float


class EcrTokenCache:
    """A credential hook for the registry client: ``cache(host) -> (user, password) | None``.

    Answers None for hosts that are not ECR. For ECR hosts it returns ``("AWS", token)`` from
    ``ecr:GetAuthorizationToken`` in the registry's region, one token per (partition, region,
    access key), reused until ``margin`` seconds before it expires. ``fetches`` counts the
    tokens fetched; ``clock`` is a monotonic clock (a parameter so that expiry can be tested).
    """

    def __init__(self, margin: float = TOKEN_REFRESH_MARGIN_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.margin = margin
        self.clock = clock
        self.fetches = 0
        self._tokens: dict[tuple, _Token] = {}
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str) -> tuple[str, str] | None:
        if not is_ecr_host(host):
            return None
        require_boto3(_BOTO_PURPOSE, RegistryError)
        registry = parse_ecr_host(host)
        return self.credentials_for(registry)

    def credentials_for(self, registry: EcrRegistry) -> tuple[str, str]:
        """``("AWS", token)`` for ``registry``, fetched or cached."""
        session = self._session(registry.region)
        credentials = session.get_credentials()
        if credentials is None:
            raise RegistryError(
                f"No AWS credentials were found to log in to {registry.host}. {CREDENTIALS_HINT}")
        key = (registry.partition, registry.region, registry.fips, credentials.access_key)
        with self._lock:
            token = self._tokens.get(key)
            if token is None or self.clock() >= token.deadline:
                token = self._fetch(session, registry)
                self._tokens[key] = token
            return token.user, token.password

    def clear(self) -> None:
        """Forget every cached token and session (e.g. after the registry answered 401, or
        after the AWS profile or keys of the kernel changed)."""
        with self._lock:
            self._tokens.clear()
            self._sessions.clear()

    def _session(self, region: str):
        # A boto3 session costs ~0.5 s to make and resolves credentials once (refreshing
        # temporary ones itself): keep one per region, so that a cache hit costs microseconds.
        with self._lock:
            session = self._sessions.get(region)
            if session is None:
                session = aws_session(_BOTO_PURPOSE, RegistryError, region)
                self._sessions[region] = session
            return session

    def _fetch(self, session, registry: EcrRegistry) -> _Token:
        client = _ecr_client(session, registry)
        try:
            response = client.get_authorization_token()
        except Exception as exc:
            if not _is_botocore_error(exc):
                raise
            raise _explain(exc, registry, f"getting a login token for {registry.host}") from exc
        self.fetches += 1
        data = response["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        lifetime = _token_lifetime(response, data.get("expiresAt"))
        keep = lifetime - self.margin if lifetime > 2 * self.margin else lifetime / 2
        return _Token(user or ECR_USER, password, self.clock() + keep)


def _token_lifetime(response: dict, expires_at) -> float:
    """Seconds the token is valid, measured against the server's clock (ours may be skewed).

    A missing or nonsensical expiry (already past, or beyond a day — moto answers 2015) falls
    back to the documented 12 hours.
    """
    date_header = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        issued = email.utils.parsedate_to_datetime(date_header)
        lifetime = (expires_at - issued).total_seconds()
    except (TypeError, ValueError, AttributeError):
        return float(TOKEN_LIFETIME_SECONDS)
    if 0 < lifetime <= 24 * 3600:
        return lifetime
    return float(TOKEN_LIFETIME_SECONDS)


_DEFAULT_TOKENS = EcrTokenCache()


def ecr_credentials(host: str) -> tuple[str, str] | None:
    """The credential hook for the registry client: ``("AWS", token)`` for ECR hosts, else None.

    Shares one token cache for the whole kernel. Raises :class:`RegistryError` (with the
    missing IAM permission, or how to install boto3) when an ECR token cannot be had.
    """
    return _DEFAULT_TOKENS(host)


def forget_ecr_tokens() -> None:
    """Drop the kernel-wide ECR tokens and sessions (after changing AWS profile or keys)."""
    _DEFAULT_TOKENS.clear()
