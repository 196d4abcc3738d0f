"""``--builder docker``: the same image layout, built and pushed by a Docker Engine.

:class:`DockerBuilder` is the way to build when a Docker Engine (or podman's Docker API,
``podman system service``) is at hand and the requirements need more than wheels: it renders a
Dockerfile that gives the image the layout of :mod:`.layout` (what
:class:`~fairing_magics.image.builder.AppendBuilder` makes without a daemon) and has the engine
build it with the ``docker`` SDK (``pip install 'fairing-magics[docker]'``)::

    FROM <base, pinned to its digest when a registry client is given>
    COPY fairing-build/ /fairing/build/                      # requirements.txt, pip, wheels
    RUN  <the image's pip, or the one shipped> install --target /fairing/deps -r requirements.txt
    ENV  FAIRING_OUTPUT_DIR=/fairing/output PYTHONUNBUFFERED=1 PYTHONPATH=/fairing/deps...
    WORKDIR /fairing/work
    CMD  ["python3", "/fairing/bundle/fairing_bootstrap.py", "/fairing/bundle"]
    COPY fairing/ /fairing/                                  # the bundle, work and output folders

and the label ``fairing.capture.digest`` given through the build API (Docker sets it on the
result; podman appends it as a last step). Everything before the last ``COPY`` is the same for
an unchanged set of requirements, so a code-only change rebuilds only the bundle step.

The package index is the one the append builder uses (:mod:`.package_index`: ``--index-url``,
else pip's configured index-url). When one is named, the requirements are installed in a first
build stage and only ``/fairing/deps`` is copied into the image (``COPY --from=fairing-deps``), so
the index URL is in no step of the pushed image's history nor its config. A URL with credentials
is refused: the Docker SDK's build API has no build secrets, and a build argument, an ``ENV`` or a
file in the context would keep them in the engine's build cache (and, but for the stage, in the
image); the default builder (``--builder append``) installs outside the image and takes them.

The requirements are installed *inside* the image with pip, so packages without a wheel for the
target build there (the append builder refuses them). Bases without pip work too: the build
context carries this machine's pip as a zip that the image's Python runs. The build context is a
tar we write ourselves (sorted, uid 0, mtime 0), so an unchanged set of requirements hits the
engine's build cache and a code-only change rebuilds the last layers only.

The engine pushes the image; the Docker API reports a failed push as an item of the push
stream, not as an HTTP error (``images.push`` never raises for it). Every item is checked: an
``error`` becomes a :class:`~fairing_magics.errors.RegistryError` carrying the registry's message,
and a stream that ends without a digest is an error too. The result is ``repository@sha256:...``
(the digest the registry stored: the engine compresses the layers itself, so it differs from the
append builder's digest for the same bundle).

Which engine: ``DOCKER_HOST`` and the other ``DOCKER_*`` variables, as the docker CLI reads
them. TLS to the registry, insecure registries and mirrors are the engine's own settings
(``daemon.json``, or podman's ``registries.conf``).
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from fairing_magics.capture.bundle import Bundle
from fairing_magics.errors import BuildError, RegistryError, redact
from fairing_magics.image.layer import TarEntry, entries_from_members, write_tar
from fairing_magics.image.layout import (
    BUNDLE_DIR,
    CMD,
    DEPS_DIR,
    DIGEST_LABEL,
    OUTPUT_DIR,
    ROOT_DIR,
    WORK_DIR,
)

BUILD_DIR = f"{ROOT_DIR}/build"  # requirements, pip and wheels, for the RUN step only
PIP_ZIP = "fairing-pip.zip"
NO_DOCKER_SDK = ("--builder docker needs the docker SDK: pip install 'fairing-magics[docker]' (or pip install "
                 "docker), or use --builder append, which needs no Docker Engine.")
DEPS_STAGE = "fairing-deps"
DOCKER_INDEX_CREDENTIALS = (
    "--builder docker cannot use the package index {index} because its URL carries credentials: the Docker "
    "Engine's build API has no build secrets, so they would stay in the engine's build cache. Use the default "
    "builder (--builder append), which installs the requirements outside the image, or an index URL without "
    "credentials.")
_SHARED_MODE = 0o1777
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64})")


def docker_client(docker_host: str | None = None, *, timeout: float = 600, error: type = BuildError,
                  instead: str = "use --builder append, which needs no Docker Engine"):
    """A ``docker.DockerClient`` for ``docker_host`` (default: ``DOCKER_HOST`` and the other
    ``DOCKER_*`` variables), with the API version agreed with the engine.

    Raises ``error`` (:class:`BuildError`) when the SDK is missing or no engine answers there;
    ``instead`` is the alternative the message offers.
    """
    try:
        import docker
    except ImportError as exc:
        raise error(NO_DOCKER_SDK.replace("use --builder append, which needs no Docker Engine", instead)) from exc
    where = docker_host or os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
    try:
        if docker_host:
            client = docker.DockerClient(base_url=docker_host, version="auto", timeout=timeout)
        else:
            client = docker.from_env(version="auto", timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises DockerException, requests or OS errors
        raise error(f"No Docker Engine answers at {redact(where)} ({type(exc).__name__}: "
                    f"{redact(str(exc))[:300]}). Start one (or `podman system service`) and set DOCKER_HOST, "
                    f"or {instead}.") from exc
    return client


def render_dockerfile(bundle: Bundle, base_ref: str, requirements: Iterable[str], *,
                      wheels: bool = False, base_pythonpath: str | None = None, index=None) -> str:
    """The Dockerfile that gives the image the layout of :mod:`.layout` (pure).

    ``wheels``: install from the wheels shipped in the context only (``--no-index``).
    ``base_pythonpath``: the base's ``PYTHONPATH`` when known (kept after ours); when None the
    Dockerfile keeps whatever the base has with ``${PYTHONPATH:+:$PYTHONPATH}``.
    ``index``: a :class:`~fairing_magics.image.package_index.PackageIndex` without credentials;
    when it names an index, pip runs in a ``fairing-deps`` stage (see the module docstring).
    """
    reqs = [r for r in requirements if r.strip()]
    lines = [f"# Generated by fairing-magics for bundle {bundle.digest}", f"FROM {base_ref}"]
    env = [f"FAIRING_OUTPUT_DIR={OUTPUT_DIR}", "PYTHONUNBUFFERED=1"]
    if reqs:
        pip_args = ["install", "--no-cache-dir", "--disable-pip-version-check", "--no-warn-script-location",
                    "--no-compile", "--target", DEPS_DIR, "-r", f"{BUILD_DIR}/requirements.txt"]
        staged = False
        if wheels:
            pip_args += ["--no-index", "--find-links", f"{BUILD_DIR}/wheels"]
        elif index is not None and (index.url or index.extra_urls):
            if index.has_credentials:
                raise BuildError(DOCKER_INDEX_CREDENTIALS.format(index=redact(index.shown)))
            staged = True
            for name, value in sorted(index.environment("pip").items()):
                flag = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url",
                        "PIP_TRUSTED_HOST": "--trusted-host"}[name]
                for item in value.split():
                    pip_args += [flag, item]
        # The image's own pip when it has one, else the pip shipped in the context (the base may
        # have none: Debian's minimal Python, distroless). Scripts go: they would name this build's paths.
        script = (f"export PIP_ROOT_USER_ACTION=ignore; if python3 -m pip --version >/dev/null 2>&1; then pip='python3 -m pip'; "
                  f"else pip='python3 {BUILD_DIR}/{PIP_ZIP}/pip'; fi; "
                  f"$pip {shlex.join(pip_args)} && rm -rf {DEPS_DIR}/bin")
        if staged:
            lines[1] += f" AS {DEPS_STAGE}"
            lines += [f"COPY fairing-build/ {BUILD_DIR}/", f"RUN {script}", f"FROM {base_ref}",
                      f"COPY --from={DEPS_STAGE} {DEPS_DIR}/ {DEPS_DIR}/"]
        else:
            lines += [f"COPY fairing-build/ {BUILD_DIR}/", f"RUN {script}"]
        if base_pythonpath is None:
            env.append(f"PYTHONPATH={DEPS_DIR}${{PYTHONPATH:+:$PYTHONPATH}}")
        else:
            kept = [p for p in base_pythonpath.split(":") if p and p != DEPS_DIR]
            env.append("PYTHONPATH=" + ":".join([DEPS_DIR, *kept]))
    lines += [
        "ENV " + " ".join(env),
        f"WORKDIR {WORK_DIR}",
        "CMD [" + ", ".join(f'"{part}"' for part in CMD) + "]",
        f"COPY fairing/ {ROOT_DIR}/",
    ]
    return "\n".join(lines) + "\n"


def image_labels(bundle: Bundle) -> dict[str, str]:
    """The labels of the image (given to the engine with the build, not as a Dockerfile step)."""
    return {DIGEST_LABEL: bundle.digest}


def context_entries(bundle: Bundle, dockerfile: str, requirements: Iterable[str], *,
                    wheels: str | os.PathLike | None = None) -> list[TarEntry]:
    """The build context: the Dockerfile, ``fairing/`` (bundle, work, output) and, when there are
    requirements, ``fairing-build/`` (requirements.txt, pip as a zip, the wheels)."""
    reqs = [r for r in requirements if r.strip()]
    entries = [TarEntry("Dockerfile", data=dockerfile.encode())]
    entries += entries_from_members(bundle.members(), "fairing/" + BUNDLE_DIR.removeprefix(ROOT_DIR + "/"))
    for folder in (WORK_DIR, OUTPUT_DIR):
        entries.append(TarEntry("fairing/" + folder.removeprefix(ROOT_DIR + "/"), kind="dir", mode=_SHARED_MODE))
    if reqs:
        entries.append(TarEntry("fairing-build/requirements.txt", data="".join(r + "\n" for r in reqs).encode()))
        entries.append(TarEntry(f"fairing-build/{PIP_ZIP}", data=pip_zip()))
        if wheels is not None:
            folder = Path(wheels)
            found = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
            if not found:
                raise BuildError(f"The wheels folder {folder} holds no files; fill it with `pip download -d {folder} "
                                 "...` or leave wheels unset to install from the package index.")
            entries += [TarEntry(f"fairing-build/wheels/{p.name}", source=p) for p in found]
    return entries


@cache
def pip_zip() -> bytes:
    """This machine's pip as a zip the image's Python can run (``python3 pip.zip/pip``), with
    fixed timestamps so the build context, and the engine's cache key, stay the same."""
    import zipfile

    import pip

    root = Path(pip.__file__).parent
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(Path("pip") / path.relative_to(root)), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
    return out.getvalue()


def context_tar(entries: Iterable[TarEntry]) -> bytes:
    """The (uncompressed) tar the engine receives as the build context."""
    out = io.BytesIO()
    write_tar(entries, out)
    return out.getvalue()


def check_stream(items: Iterable[dict], on_item: Callable[[dict], None] = lambda item: None) -> list[dict]:
    """Read a Docker API JSON stream to its end; return its items, or raise on an ``error`` item.

    The error is raised as ``_StreamError(message, items)`` for the caller to turn into the
    error of its stage.
    """
    seen: list[dict] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        seen.append(item)
        if item.get("error") or item.get("errorDetail"):
            detail = item.get("errorDetail") or {}
            message = item.get("error") or detail.get("message") or "unknown error"
            raise _StreamError(str(message).strip(), seen, detail.get("code"))
        on_item(item)
    return seen


class _StreamError(Exception):
    def __init__(self, message: str, items: list[dict], code=None):
        super().__init__(message)
        self.message = message
        self.items = items
        self.code = code


# What the engine's message says about the registry's answer -> (HTTP status, OCI codes, temporary).
_PUSH_CAUSES = [
    (re.compile(r"(?i)unauthorized|authentication required|no basic auth credentials"), 401, ("UNAUTHORIZED",), False),
    (re.compile(r"(?i)\bdenied\b|forbidden|insufficient_scope"), 403, ("DENIED",), False),
    (re.compile(r"(?i)toomanyrequests|too many requests"), 429, ("TOOMANYREQUESTS",), True),
    (re.compile(r"(?i)name unknown|repository name not known|NAME_UNKNOWN"), 404, ("NAME_UNKNOWN",), False),
    (re.compile(r"(?i)manifest invalid|MANIFEST_INVALID"), 400, ("MANIFEST_INVALID",), False),
    (re.compile(r"(?i)server gave HTTP response to HTTPS client|x509|certificate|tls:"), None, (), False),
    (re.compile(r"(?i)connection refused|no such host|i/o timeout|connection reset|EOF|503|502|504"), None, (), True),
]
_ADVICE = {
    401: "Log in to the registry (docker login, or ~/.docker/config.json) or check its credentials.",
    403: "The credentials may not push to this repository: check the permissions.",
    429: "The registry limits requests: try again in a minute.",
    404: "Check the repository name (--registry) and that it exists on the registry.",
}


def registry_error_from_push(message: str, repository: str, code=None) -> RegistryError:
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
        advice = "The registry could not be reached or failed: check that it is up, then run the cell again."
    elif re.search(r"(?i)HTTP response to HTTPS|x509|certificate|tls:", text):
        advice = ("The engine and the registry disagree about TLS: list the registry as insecure in the engine's "
                  "settings (daemon.json insecure-registries, podman's registries.conf) or give it a trusted certificate.")
    else:
        advice = "Check the registry and the engine's log."
    return RegistryError(f"The Docker Engine could not push to {repository}: the registry said: {text}. {advice}",
                         status=status, codes=codes, url=repository, temporary=temporary)


def digest_from_push(items: Iterable[dict]) -> str | None:
    """The manifest digest a push stream reports (Docker: an ``aux`` item; podman: a status line)."""
    found = None
    for item in items:
        aux = item.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("Digest"), str) and _DIGEST.fullmatch(aux["Digest"]):
            found = aux["Digest"]
            continue
        status = item.get("status")
        if isinstance(status, str) and "digest:" in status:
            match = _DIGEST.search(status)
            if match:
                found = match.group(1)
    return found


def engine_auth(reference: str, keychain=None) -> dict | None:
    """Our keychain's credentials for ``reference``'s registry, as the Engine API takes them
    (``auth_config``), so a pull or push through the engine needs no ``docker login`` on the
    engine's side: ECR tokens (made from the kernel's AWS credentials), the docker config and
    its credential helpers. ``keychain``: default, the kernel's (ECR hook + docker config).
    None for anonymous access."""
    from fairing_magics.registry.reference import parse_reference

    if keychain is None:
        from fairing_magics.aws import ecr_credentials
        from fairing_magics.registry import Keychain

        keychain = Keychain(hooks=[ecr_credentials])
    creds = keychain.credentials(parse_reference(reference).registry)
    return {"username": creds[0], "password": creds[1]} if creds else None


class DockerBuilder:
    """Builds bundle images with a Docker Engine and pushes them; returns ``repo@sha256:...``.

    ``engine``: a ``docker.DockerClient`` (default: :func:`docker_client` from ``DOCKER_HOST``,
    made on first use). ``registry_client``: our
    :class:`~fairing_magics.registry.client.RegistryClient`, used to pin the base to its digest
    (printed through ``log``) and to read its ``PYTHONPATH``; without it the ``FROM`` line names
    the base as given. ``keychain``: where push and pull credentials come from (our
    :class:`~fairing_magics.registry.auth.Keychain`: ``~/.docker/config.json``, ECR tokens);
    without it the SDK reads ``~/.docker/config.json`` itself. ``wheels``: a folder of wheels
    (or sdists) to install the requirements from instead of the package index.
    ``network_mode``: the network of the RUN step (``host``: pip reaches what this machine reaches).
    ``index``: the :class:`~fairing_magics.image.package_index.PackageIndex` (None: decided by
    :func:`~fairing_magics.image.package_index.choose_index` at each build).
    """

    def __init__(self, engine=None, *, registry_client=None, keychain=None, wheels: str | os.PathLike | None = None,
                 network_mode: str = "host", log: Callable[[str], None] | None = None, index=None):
        self._engine = engine
        self.registry_client = registry_client
        self.keychain = keychain
        self.wheels = wheels
        self.network_mode = network_mode
        self.log = log or (lambda message: None)
        self.index = index
        self._resolver = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = docker_client()
        return self._engine

    def pin_base(self, base_ref: str, platform: str | None = None) -> tuple[str, str | None]:
        """``(FROM reference, base PYTHONPATH or None when unknown)``.

        With a registry client the base is resolved as the append builder does it (once per
        builder; a tag costs one HEAD to see whether it moved) and the resolution is logged.
        """
        if self.registry_client is None:
            return base_ref, None
        if self._resolver is None:
            from fairing_magics.image.builder import AppendBuilder

            self._resolver = AppendBuilder(self.registry_client)
        base = self._resolver.resolve_base(base_ref, platform)  # BuildError saying what to check
        self.log(f"base image {base_ref} -> {base.ref}")
        return base.ref, base.env.get("PYTHONPATH", "")

    def build_and_push(self, bundle: Bundle, base_ref: str, repository: str, *, tag: str = "",
                       platform: str | None = None,
                       progress: Callable[[int, int, str], None] | None = None,
                       on_build_line: Callable[[str], None] | None = None) -> str:
        """Build the image for ``bundle`` on ``base_ref``, push it to ``repository``, return
        ``repository@sha256:...``. ``tag`` (default ``fairing-<bundle digest>``) is the tag pushed."""
        image_id = self.build(bundle, base_ref, f"{repository}:{tag or default_tag(bundle)}", platform=platform,
                              on_build_line=on_build_line)
        del image_id
        return self.push(repository, tag or default_tag(bundle), progress=progress)

    def build(self, bundle: Bundle, base_ref: str, name: str, *, platform: str | None = None,
              on_build_line: Callable[[str], None] | None = None) -> str:
        """Build the image, tag it ``name`` in the engine; return the engine's image id."""
        from fairing_magics.image.builder import runtime_requirements
        from fairing_magics.image.package_index import choose_index

        reqs = runtime_requirements(bundle)
        index = self.index if self.index is not None else choose_index()
        if reqs and self.wheels is None and index.has_credentials:  # before any engine work
            raise BuildError(DOCKER_INDEX_CREDENTIALS.format(index=redact(index.shown)))
        engine = self.engine
        base, base_pythonpath = self.pin_base(base_ref, platform)
        self._pull_base(base, platform)
        dockerfile = render_dockerfile(bundle, base, reqs, wheels=self.wheels is not None,
                                       base_pythonpath=base_pythonpath, index=index)
        context = context_tar(context_entries(bundle, dockerfile, reqs, wheels=self.wheels))
        kwargs = {"fileobj": io.BytesIO(context), "custom_context": True, "tag": name, "rm": True, "forcerm": True,
                  "pull": False, "decode": True, "network_mode": self.network_mode,
                  "labels": image_labels(bundle)}
        if platform:
            kwargs["platform"] = platform
        lines: list[str] = []

        def on_item(item: dict) -> None:
            text = item.get("stream")
            if isinstance(text, str):
                for line in text.splitlines():
                    if line.strip():
                        lines.append(line)
                        if on_build_line is not None:
                            on_build_line(line)

        try:
            items = check_stream(engine.api.build(**kwargs), on_item)
        except _StreamError as exc:
            tail = "\n".join(redact(line) for line in lines[-15:])
            raise BuildError(f"The Docker Engine could not build the image: {shorten(redact(exc.message))}\n"
                             f"Last lines of the build:\n{tail}\n"
                             "Check the requirements (a package that fails to install) and the base image "
                             f"{base_ref}.") from exc
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and connection errors
            raise BuildError(f"The Docker Engine refused the build: {redact(str(exc))[:500]}") from exc
        image_id = ""
        for item in items:
            aux = item.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
        if not image_id:
            for line in reversed(lines):
                match = re.fullmatch(r"(?:Successfully built )?([0-9a-f]{12,64})", line.strip())
                if match:
                    image_id = match.group(1)
                    break
        if not image_id:
            raise BuildError("The Docker Engine ended the build without naming the image it made; its last "
                             "lines:\n" + "\n".join(lines[-10:]))
        return image_id

    def push(self, repository: str, tag: str, *,
             progress: Callable[[int, int, str], None] | None = None) -> str:
        """Push ``repository:tag`` from the engine; return ``repository@sha256:...``."""

        def on_item(item: dict) -> None:
            detail = item.get("progressDetail") or {}
            if progress is not None and detail.get("total"):
                progress(int(detail.get("current", 0)), int(detail["total"]), str(item.get("id", "layer")))

        try:
            stream = self.engine.api.push(repository, tag=tag, stream=True, decode=True,
                                          auth_config=self._auth_config(repository))
            items = check_stream(stream, on_item)
        except _StreamError as exc:
            raise registry_error_from_push(exc.message, repository, exc.code) from exc
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError before the stream starts
            raise registry_error_from_push(str(exc), repository, getattr(exc, "status_code", None)) from exc
        digest = digest_from_push(items)
        if digest is None:
            said = "; ".join(str(i.get("status", i)) for i in items[-5:])
            raise RegistryError(f"The Docker Engine finished pushing {repository}:{tag} without reporting the "
                                f"manifest digest (it said: {redact(said)}). Check the engine's log.", url=repository)
        return f"{repository}@{digest}"

    def _auth_config(self, reference: str) -> dict | None:
        return None if self.keychain is None else engine_auth(reference, self.keychain)

    def _pull_base(self, base: str, platform: str | None) -> None:
        """Pull the base with our credentials (the build then pulls nothing); skip it when the
        engine already has this digest."""
        engine = self.engine
        if "@sha256:" in base:
            try:
                engine.api.inspect_image(base)
                return
            except Exception:  # noqa: BLE001 - not there (docker.errors.ImageNotFound): pull it
                pass
        name, _, tag = base.rpartition(":") if "@" not in base and ":" in base.rsplit("/", 1)[-1] else (base, "", "")
        kwargs = {"stream": True, "decode": True, "auth_config": self._auth_config(base)}
        if platform:
            kwargs["platform"] = platform
        try:
            check_stream(engine.api.pull(name, tag=tag or None, **kwargs))
        except _StreamError as exc:
            raise BuildError(f"The Docker Engine could not pull the base image {base}: {redact(exc.message)}. "
                             "Check --base-image, the registry's credentials and the engine's insecure "
                             "registries.") from exc
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError (404, 500 ...)
            raise BuildError(f"The Docker Engine could not pull the base image {base}: "
                             f"{redact(str(exc))[:500]}. Check --base-image and the registry.") from exc


def shorten(text: str, limit: int = 400) -> str:
    """``text`` cut to ``limit`` characters around the middle (the engine quotes whole RUN lines)."""
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2:]


def default_tag(bundle: Bundle) -> str:
    """``fairing-<first 12 hex digits of the bundle digest>``."""
    return "fairing-" + bundle.digest.split(":", 1)[-1][:12]
