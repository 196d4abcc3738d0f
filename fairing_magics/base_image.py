"""Can the base image be reached from here, and where to copy it when it cannot.

The default base (``python:3.X-slim``) lives on Docker Hub. From the AWS China regions
(``cn-north-1``, ``cn-northwest-1``) Docker Hub is often unreachable or very slow, and ECR
Public is not offered there, so a build there would hang on its first request. The way out is
one copy of the base into the user's own registry (``fairing-magics copy-image``, from any
machine that reaches both), then ``%fairing_config --base-image`` naming the copy.

- :func:`mirror_reference`: where that copy goes, next to the repository images are pushed to.
- :func:`copy_advice`: the two commands, with the user's registry filled in.
- :func:`check_base_reachable`: before a build, does the base image's registry answer at all
  (one ``GET /v2/``, a short timeout, no retry)? If not, a :class:`RegistryError` carrying the
  advice, instead of a build that waits and retries.
- :func:`china_notice`: the dry run's and the build's warning when the images go to a registry
  in the China partition while the base still comes from Docker Hub.
- :func:`base_image_findings`: both, as ``%fairing_doctor`` lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from fairing_magics.errors import ConfigError, RegistryError, connection_failure, redact

#: How long the registry of the base image has to answer ``GET /v2/`` before a build.
CHECK_SECONDS = 5.0
#: A registry that answered is not asked again for this long (a kernel builds many times).
ANSWERED_TTL_SECONDS = 600.0
#: The package index the China notice offers as an example (any PyPI mirror will do).
CHINA_INDEX_EXAMPLE = "https://pypi.tuna.tsinghua.edu.cn/simple"

_answered: dict[str, float] = {}
_lock = threading.Lock()


def mirror_reference(base_image: str, registry: str) -> str:
    """The reference a copy of ``base_image`` gets in the registry of ``registry``.

    The copy sits next to the repository images are pushed to, under the base's own name and
    tag (or digest); Docker Hub's ``library/`` prefix is dropped::

        >>> mirror_reference("python:3.11-slim",
        ...                  "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job")
        '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/python:3.11-slim'
        >>> mirror_reference("python:3.11-slim", "harbor.example.com/team/fairing-job")
        'harbor.example.com/team/python:3.11-slim'
    """
    from fairing_magics.oci.reference import DOCKER_HUB, parse_reference

    base = parse_reference(base_image)
    path = base.repository
    if base.registry == DOCKER_HUB and path.startswith("library/"):
        path = path[len("library/"):]
    if not registry:
        host, parent = "<your-registry>", ""
    else:
        host, _, repository = registry.strip().rstrip("/").partition("/")
        parent = repository.rsplit("/", 1)[0] if "/" in repository else ""
    text = "/".join(part for part in (host, parent, path) if part)
    if base.digest:
        return f"{text}@{base.digest}"
    return f"{text}:{base.tag or 'latest'}"


def copy_advice(base_image: str, registry: str) -> str:
    """The two commands that put ``base_image`` next to ``registry`` and build on the copy."""
    from fairing_magics.aws import is_ecr_shorthand

    target = mirror_reference(base_image, registry)
    copy_target = target.split("@", 1)[0]  # a digest is kept by the copy itself
    if is_ecr_shorthand(registry):  # copy-image completes ecr/NAME; the setting needs the host
        target = "<the reference copy-image prints>"
    return (f"Copy it once into your registry, from a machine that reaches both:\n"
            f"    fairing-magics copy-image {base_image} {copy_target}\n"
            f"then build on the copy:\n"
            f"    %fairing_config --base-image {target}")


def check_base_reachable(base_image: str, registry: str, *, insecure_registries: Iterable[str] = (),
                         timeout: float = CHECK_SECONDS) -> None:
    """Raise :class:`RegistryError` (with :func:`copy_advice`) when the registry of
    ``base_image`` does not answer ``GET /v2/`` within ``timeout`` seconds.

    Any HTTP answer counts (Docker Hub answers 401 to anonymous clients); a TLS failure counts
    too, because the build then says what to do about the certificate. Registries that answered
    are remembered for :data:`ANSWERED_TTL_SECONDS`.
    """
    import requests

    from fairing_magics.oci.reference import parse_reference
    from fairing_magics.registry import Keychain, RetryPolicy, Transport

    try:
        base = parse_reference(base_image)
    except ConfigError as exc:
        raise ConfigError(f"--base-image {base_image!r} is not an image reference: {exc}") from exc
    host = base.api_host
    with _lock:
        if time.monotonic() - _answered.get(host, -ANSWERED_TTL_SECONDS) < ANSWERED_TTL_SECONDS:
            return
    # The transport holds the TLS policy (insecure registries, CA bundle); one attempt only:
    # a registry that does not answer now will not answer in the next few seconds either.
    transport = Transport(Keychain(docker_config={}), insecure_registries=insecure_registries,
                          retry=RetryPolicy(attempts=1, unreachable_attempts=1),
                          timeout=(timeout, timeout))
    try:
        url = transport.url(host, "/v2/")
        transport.session.get(url, verify=transport.verify_for(host), timeout=(timeout, timeout),
                              allow_redirects=False).close()
    except requests.exceptions.SSLError:
        pass
    except (requests.ConnectionError, requests.Timeout) as exc:
        why = connection_failure(exc) or type(exc).__name__
        if isinstance(exc, requests.Timeout):
            why = f"no answer within {timeout:g} s"
        same_registry = registry and parse_reference(registry).registry == base.registry
        advice = ("Is it running, and is --base-image right?" if same_registry
                  else copy_advice(base_image, registry))
        raise RegistryError(f"the base image {base_image} cannot be reached: its registry {host} "
                            f"did not answer ({redact(why)}). {advice}", temporary=True) from None
    finally:
        transport.session.close()
    with _lock:
        _answered[host] = time.monotonic()


def china_notice(base_image: str, registry: str) -> str:
    """The warning for images pushed to the China partition on a base from Docker Hub, or ``""``.

    Needs no network; for an Amazon ECR registry it needs botocore's partition data, as the push
    itself does.
    """
    from fairing_magics.oci.reference import DOCKER_HUB, parse_reference

    region = _china_region(registry)
    if not region or parse_reference(base_image).registry != DOCKER_HUB:
        return ""
    return (f"the base image {base_image} comes from Docker Hub, which is often unreachable or "
            f"very slow from {region} (and ECR Public is not offered in the China regions). "
            + copy_advice(base_image, registry))


def china_index_notice(registry: str, index) -> str:
    """The hint for images pushed to the China partition whose dependency layer would come from
    the installer's default index (PyPI), or ``""``. ``index``: the
    :class:`~fairing_magics.image.package_index.PackageIndex` the build would use."""
    region = _china_region(registry)
    if not region or index.url:
        return ""
    return (f"the dependency layer would come from PyPI, which is often slow from {region}: name a "
            f"mirror, e.g. %fairing_config --index-url {CHINA_INDEX_EXAMPLE}")


def _china_region(registry: str) -> str:
    """The region of an Amazon ECR ``registry`` in the China partition, else ``""``."""
    from fairing_magics.aws import (
        is_ecr_host,
        is_ecr_shorthand,
        parse_ecr_host,
        partition_for_region,
    )
    from fairing_magics.aws.boto import default_region

    if is_ecr_shorthand(registry or ""):  # ecr/NAME: the region the push will complete it with
        region = default_region() or ""
        return region if region and partition_for_region(region).name == "aws-cn" else ""
    host = registry.split("/", 1)[0] if registry else ""
    if not is_ecr_host(host):
        return ""
    ecr = parse_ecr_host(host)
    return ecr.region if ecr is not None and ecr.partition == "aws-cn" else ""


def image_notices(base_image: str, registry: str, index_url: str = "",
                  extra_index_urls: Iterable[str] = ()) -> list[str]:
    """The warnings to give before an image is built for ``registry`` (dry runs and builds, of
    runs and of endpoints): :func:`china_notice` and :func:`china_index_notice`."""
    from fairing_magics.image.package_index import choose_index

    notices = [china_notice(base_image, registry),
               china_index_notice(registry, choose_index(index_url, tuple(extra_index_urls)))]
    return [notice for notice in notices if notice]


def base_image_findings(base_image: str, registry: str, *, insecure_registries: Iterable[str] = (),
                        timeout: float = CHECK_SECONDS) -> list:
    """``%fairing_doctor``'s lines about the base image: its registry answers (or what to do),
    and the China warning when it applies."""
    from fairing_magics.errors import FairingError
    from fairing_magics.kube.preflight import Finding

    try:
        check_base_reachable(base_image, registry, insecure_registries=insecure_registries,
                             timeout=timeout)
    except FairingError as exc:
        return [Finding("base image", False, str(exc))]
    host = _registry_host(base_image)
    findings = [Finding("base image", True, f"{base_image}: its registry {host} answers")]
    try:
        notice = china_notice(base_image, registry)
    except FairingError as exc:  # an ECR registry setting botocore cannot place
        notice = str(exc)
    if notice:
        findings.append(Finding("base image", False, notice, required=False))
    return findings


def _registry_host(base_image: str) -> str:
    from fairing_magics.oci.reference import parse_reference

    return parse_reference(base_image).api_host
