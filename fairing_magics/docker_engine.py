"""The Docker Engine as every docker path uses it: a client, our credentials, its JSON streams,
pulls, pushes and container removal.

Three parts of fairing_magics talk to the engine ``DOCKER_HOST`` names (Docker, or podman's
Docker API from ``podman system service``) through the ``docker`` SDK (``pip install
'fairing-magics[docker]'``): the docker builder (:mod:`fairing_magics.image.docker_builder`),
the docker backend (:mod:`fairing_magics.backends.docker`) and the docker deployer
(:mod:`fairing_magics.deploy.docker`). They share this module, so that each rule has one place:

- :func:`docker_client`: connected, the API version agreed, one clear error when no engine
  answers (the error class and the alternative offered are the caller's); :class:`LazyEngine`
  connects on first use, for the docker backend and deployer;
- :func:`engine_auth`: our keychain's credentials as the Engine API takes them (ECR tokens made
  from the kernel's AWS credentials, the docker config and its helpers), so the engine needs no
  ``docker login`` of its own;
- :func:`check_stream`: a JSON stream read to its end. The Docker API reports a failed pull or
  push as an ``error`` item of the stream, not as an HTTP error (``images.push`` never raises
  for it): every item is checked and an error raises :class:`EngineError`;
- :func:`pull_image` (skipped when the engine has the digest) and :func:`push_image` (an
  ``error`` item becomes a :class:`~fairing_magics.errors.RegistryError` carrying the registry's
  words; a stream that ends without a digest is an error too);
- :func:`stop_container` and :func:`remove_container`: whatever happened, nothing is left.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable

from fairing_magics.aws import ecr_credentials
from fairing_magics.errors import BuildError, ConfigError, FairingError, RegistryError, redact
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.auth import Keychain

NO_DOCKER_SDK = ("{needs} the docker SDK: pip install 'fairing-magics[docker]' (or pip install "
                 "docker), or {instead}.")
STOP_GRACE_SECONDS = 3
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64})")


class EngineError(Exception):
    """The engine refused or failed. ``message`` is what it said (redacted), ``items`` the
    stream read so far, ``code`` its HTTP status when known. Callers turn it into the error of
    their stage (a failed build, run or deployment)."""

    def __init__(self, message: str, items: tuple[dict, ...] = (), code: int | None = None):
        super().__init__(message)
        self.message = message
        self.items = items
        self.code = code


def docker_client(docker_host: str | None = None, *, timeout: float = 600,
                  error: type = BuildError, needs: str = "--builder docker needs",
                  instead: str = "use --builder append, which needs no Docker Engine"):
    """A ``docker.DockerClient`` for ``docker_host`` (default: ``DOCKER_HOST`` and the other
    ``DOCKER_*`` variables), with the API version agreed with the engine.

    Raises ``error`` when the SDK is missing or no engine answers there; ``instead`` is the
    alternative the message offers.
    """
    try:
        import docker  # an extra: only the docker paths need it, and they say how to install it
    except ImportError as exc:
        raise error(NO_DOCKER_SDK.format(needs=needs, instead=instead)) from exc
    where = (docker_host or os.environ.get("DOCKER_HOST")
             or "the default socket (/var/run/docker.sock)")
    try:
        if docker_host:
            client = docker.DockerClient(base_url=docker_host, version="auto", timeout=timeout)
        else:
            client = docker.from_env(version="auto", timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises DockerException, requests or OS errors
        raise error(f"No Docker Engine answers at {redact(where)} ({type(exc).__name__}: "
                    f"{redact(str(exc))[:300]}). Start one (or `podman system service`) and set "
                    f"DOCKER_HOST, or {instead}.") from exc
    return client


class LazyEngine:
    """Holds the engine a ``--backend docker`` run or endpoint uses: ``engine`` (a
    ``docker.DockerClient``, default: the one ``docker_host`` or ``DOCKER_HOST`` names) is
    connected on first use, so a dry run needs none; when none answers, a ConfigError says what
    to do instead."""

    def __init__(self, engine=None, *, docker_host: str | None = None):
        self._engine = engine
        self.docker_host = docker_host

    @property
    def engine(self):
        if self._engine is None:
            self._engine = docker_client(self.docker_host, error=ConfigError,
                                         needs="--backend docker needs",
                                         instead="use --backend local (no container) or kubernetes")
        return self._engine


def kernel_keychain() -> Keychain:
    """The keychain of a kernel: ECR tokens from its AWS credentials, then the docker config."""
    return Keychain(hooks=[ecr_credentials])


def engine_auth(reference: Reference, keychain: Keychain | None = None) -> dict | None:
    """Our keychain's credentials for ``reference``'s registry, as the Engine API takes them
    (``auth_config``); ``keychain`` defaults to :func:`kernel_keychain`. None: anonymous."""
    creds = (keychain or kernel_keychain()).credentials(reference.registry)
    return {"username": creds[0], "password": creds[1]} if creds else None


def check_stream(items: Iterable[dict],
                 on_item: Callable[[dict], None] = lambda item: None) -> list[dict]:
    """Read a Docker API JSON stream to its end; return its items, or raise
    :class:`EngineError` on an ``error`` item."""
    seen: list[dict] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        seen.append(item)
        if item.get("error") or item.get("errorDetail"):
            detail = item.get("errorDetail") or {}
            message = item.get("error") or detail.get("message") or "unknown error"
            raise EngineError(redact(str(message).strip()), tuple(seen), detail.get("code"))
        on_item(item)
    return seen


def has_image(engine, image: str) -> bool:
    """True when the engine holds ``image`` (by id, digest or tag)."""
    try:
        engine.api.inspect_image(image)
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound, or a name the engine refuses
        return False
    return True


def pull_image(engine, image: Reference, *, keychain: Keychain | None = None,
               platform: str | None = None, on_pull: Callable[[], None] = lambda: None) -> bool:
    """Pull ``image`` with our credentials for its registry; True when it pulled.

    An image by digest the engine already holds is not pulled again (a tag always is: it may
    have moved). ``on_pull`` is called when a pull starts. Raises :class:`EngineError` with the
    engine's words; a missing ECR token stays the :class:`~fairing_magics.errors.FairingError`
    naming the IAM permission.
    """
    if image.digest and has_image(engine, str(image)):
        return False
    on_pull()
    options = {"platform": platform} if platform else {}
    try:
        check_stream(engine.api.pull(str(image), stream=True, decode=True,
                                     auth_config=engine_auth(image, keychain), **options))
    except EngineError:
        raise
    except Exception as exc:
        if _ours(exc):
            raise
        raise EngineError(redact(str(exc))[:500], code=getattr(exc, "status_code", None)) from exc
    return True


def push_image(engine, repository: Reference, tag: str, *, keychain: Keychain | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> Reference:
    """Push ``repository:tag`` from the engine; return the image by digest.

    The digest is the one the registry stored (the engine compresses the layers itself).
    """

    def on_item(item: dict) -> None:
        detail = item.get("progressDetail") or {}
        if progress is not None and detail.get("total"):
            progress(int(detail.get("current", 0)), int(detail["total"]),
                     str(item.get("id", "layer")))

    try:
        stream = engine.api.push(str(repository), tag=tag, stream=True, decode=True,
                                 auth_config=engine_auth(repository, keychain))
        items = check_stream(stream, on_item)
    except EngineError as exc:
        raise registry_error_from_push(exc.message, repository, exc.code) from exc
    except Exception as exc:
        if _ours(exc):
            raise
        # docker.errors.APIError before the stream starts
        raise registry_error_from_push(str(exc), repository,
                                       getattr(exc, "status_code", None)) from exc
    digest = digest_from_push(items)
    if digest is None:
        said = "; ".join(str(i.get("status", i)) for i in items[-5:])
        raise RegistryError(f"The Docker Engine finished pushing {repository}:{tag} without "
                            f"reporting the manifest digest (it said: {redact(said)}). Check the "
                            "engine's log.", url=str(repository))
    return repository.with_digest(digest)


def _ours(exc: BaseException) -> bool:
    """True for our own errors (a missing ECR token names its IAM permission): not the engine's."""
    return isinstance(exc, FairingError)


# What the engine's message says about the registry's answer -> (HTTP status, OCI codes, temporary).
_PUSH_CAUSES = [
    (re.compile(r"(?i)unauthorized|authentication required|no basic auth credentials"), 401,
     ("UNAUTHORIZED",), False),
    (re.compile(r"(?i)\bdenied\b|forbidden|insufficient_scope"), 403, ("DENIED",), False),
    (re.compile(r"(?i)toomanyrequests|too many requests"), 429, ("TOOMANYREQUESTS",), True),
    (re.compile(r"(?i)name unknown|repository name not known|NAME_UNKNOWN"), 404,
     ("NAME_UNKNOWN",), False),
    (re.compile(r"(?i)manifest invalid|MANIFEST_INVALID"), 400, ("MANIFEST_INVALID",), False),
    (re.compile(r"(?i)server gave HTTP response to HTTPS client|x509|certificate|tls:"), None, (),
     False),
    (re.compile(r"(?i)connection refused|no such host|i/o timeout|connection reset|EOF"
                r"|503|502|504"), None, (), True),
]
_ADVICE = {
    401: ("Log in to the registry (docker login, or ~/.docker/config.json) or check its "
          "credentials."),
    403: "The credentials may not push to this repository: check the permissions.",
    429: "The registry limits requests: try again in a minute.",
    404: "Check the repository name (--registry) and that it exists on the registry.",
}


def registry_error_from_push(message: str, repository: Reference | str,
                             code=None) -> RegistryError:
    """The :class:`RegistryError` for an ``error`` item of a push stream."""
    text = redact(message)
    status, codes, temporary = None, (), False
    for pattern, pattern_status, pattern_codes, pattern_temporary in _PUSH_CAUSES:
        if pattern.search(text):
            status, codes, temporary = pattern_status, pattern_codes, pattern_temporary
            break
    if isinstance(code, int) and 400 <= code < 600 and status is None:
        status = code
    if status in _ADVICE:
        advice = _ADVICE[status]
    elif temporary:
        advice = ("The registry could not be reached or failed: check that it is up, then run the "
                  "cell again.")
    elif re.search(r"(?i)HTTP response to HTTPS|x509|certificate|tls:", text):
        advice = ("The engine and the registry disagree about TLS: list the registry as insecure "
                  "in the engine's settings (daemon.json insecure-registries, podman's "
                  "registries.conf) or give it a trusted certificate.")
    else:
        advice = "Check the registry and the engine's log."
    return RegistryError(f"The Docker Engine could not push to {repository}: the registry said: "
                         f"{text}. {advice}", status=status, codes=codes, url=str(repository),
                         temporary=temporary)


def digest_from_push(items: Iterable[dict]) -> str | None:
    """The manifest digest a push stream reports (Docker: an ``aux`` item; podman: a status
    line)."""
    found = None
    for item in items:
        aux = item.get("aux")
        digest = aux.get("Digest") if isinstance(aux, dict) else None
        if isinstance(digest, str) and _DIGEST.fullmatch(digest):
            found = digest
            continue
        status = item.get("status")
        if isinstance(status, str) and "digest:" in status:
            match = _DIGEST.search(status)
            if match:
                found = match.group(1)
    return found


def stop_container(container) -> None:
    """SIGTERM the container's init, SIGKILL after a grace period; a gone container is fine."""
    try:
        container.stop(timeout=STOP_GRACE_SECONDS)
    except Exception:  # noqa: BLE001 - already stopped or removed
        pass


def remove_container(container) -> None:
    """Remove the container (and its anonymous volumes), stopping it first if it still runs."""
    try:
        container.remove(force=True, v=True)
    except Exception as exc:  # noqa: BLE001 - NotFound is fine; anything else: say so
        if "no such container" not in str(exc).lower() and getattr(exc, "status_code", None) != 404:
            warnings.warn(f"fairing: could not remove container {container.id[:12]}: {exc}",
                          stacklevel=2)
