"""``--builder docker``: the same image layout, built and pushed by a Docker Engine.

:class:`DockerBuilder` is the way to build when a Docker Engine (or podman's Docker API,
``podman system service``) is at hand and the requirements need more than wheels: it renders a
Dockerfile that gives the image the layout of the bundle's
:class:`~fairing_magics.image.layout.Payload` (what
:class:`~fairing_magics.image.builder.AppendBuilder` makes without a daemon) and has the engine
build it with the ``docker`` SDK (``pip install 'fairing-magics[docker]'``)::

    FROM <base, pinned to its digest by the kernel's base resolver>
    COPY fairing-build/ /fairing/build/                      # requirements.txt, pip, wheels
    RUN  <the image's pip, or the one shipped> install --target /fairing/deps -r requirements.txt
    ENV  FAIRING_OUTPUT_DIR=/fairing/output PYTHONUNBUFFERED=1 PYTHONPATH=/fairing/deps...
    WORKDIR /fairing/work
    CMD  ["python3", "/fairing/bundle/fairing_bootstrap.py", "/fairing/bundle"]
    COPY fairing/ /fairing/                                  # the bundle, work and output folders

and the label ``fairing.capture.digest`` given through the build API (Docker sets it on the
result; podman appends it as a last step). Everything before the last ``COPY`` is the same for
an unchanged set of requirements, so a code-only change rebuilds only the bundle step.

The package index is the request's, the one the append builder uses (:mod:`.package_index`).
When one is named, the requirements are installed in a first build stage and only
``/fairing/deps`` is copied into the image (``COPY --from=fairing-deps``), so the index URL is in
no step of the pushed image's history nor its config. A URL with credentials is refused: the
Docker SDK's build API has no build secrets, and a build argument, an ``ENV`` or a file in the
context would keep them in the engine's build cache (and, but for the stage, in the image); the
default builder (``--builder append``) installs outside the image and takes them.

The requirements are installed *inside* the image with pip, so packages without a wheel for the
target build there (the append builder refuses them). Bases without pip work too: the build
context carries this machine's pip as a zip that the image's Python runs. The build context is
a tar we write ourselves (sorted, uid 0, mtime 0), so an unchanged set of requirements hits the
engine's build cache and a code-only change rebuilds the last layers only.

The result is an :class:`EngineImage`, held by the engine; :class:`EnginePublisher` tags it and
has the engine push it (:func:`fairing_magics.docker_engine.push_image`). The reference returned
is the digest the registry stored: the engine compresses the layers itself, so it differs from
the append builder's digest for the same bundle.

Which engine: ``DOCKER_HOST`` and the other ``DOCKER_*`` variables, as the docker CLI reads
them. TLS to the registry, insecure registries and mirrors are the engine's own settings
(``daemon.json``, or podman's ``registries.conf``).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fairing_magics import docker_engine
from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.docker_engine import EngineError, docker_client
from fairing_magics.errors import BuildError, redact
from fairing_magics.image.base import BaseResolver
from fairing_magics.image.layout import (
    DEPS_DIR,
    DIGEST_LABEL,
    ROOT_DIR,
    Payload,
    bundle_payload,
    deps_pythonpath,
)
from fairing_magics.image.package_index import PackageIndex
from fairing_magics.image.roles import BuildRequest, Emit, ProgressCallback, quiet
from fairing_magics.oci.layer import TarEntry, write_tar
from fairing_magics.oci.reference import Reference
from fairing_magics.registry.auth import Keychain

BUILD_DIR = f"{ROOT_DIR}/build"  # requirements, pip and wheels, for the RUN step only
PIP_ZIP = "fairing-pip.zip"
DEPS_STAGE = "fairing-deps"
DOCKER_INDEX_CREDENTIALS = (
    "--builder docker cannot use the package index {index} because its URL carries credentials: "
    "the Docker Engine's build API has no build secrets, so they would stay in the engine's build "
    "cache. Use the default builder (--builder append), which installs the requirements outside "
    "the image, or an index URL without credentials.")
_IMAGE_ID = re.compile(r"(?:Successfully built )?([0-9a-f]{12,64})")


@dataclass(frozen=True)
class EngineImage:
    """An image a Docker Engine built and holds: its id, and the tag it is pushed under when
    the caller names none (``fairing-<bundle digest>``)."""

    id: str
    default_tag: str
    engine: object = field(compare=False, repr=False)

    @property
    def summary(self) -> str:
        return "docker"


def render_dockerfile(payload: Payload, base_ref: str, *, wheels: bool = False,
                      base_pythonpath: str | None = None, index: PackageIndex | None = None) -> str:
    """The Dockerfile that gives the image the layout of ``payload`` (pure).

    ``wheels``: install from the wheels shipped in the context only (``--no-index``).
    ``base_pythonpath``: the base's ``PYTHONPATH`` when known (kept after ours); when None the
    Dockerfile keeps whatever the base has with ``${PYTHONPATH:+:$PYTHONPATH}``.
    ``index``: a package index without credentials; when it names one, pip runs in a
    ``fairing-deps`` stage (see the module docstring).
    """
    digest = dict(payload.labels).get(DIGEST_LABEL, "")
    lines = [f"# Generated by fairing-magics for bundle {digest}", f"FROM {base_ref}"]
    env = [f"{key}={value}" for key, value in payload.env]
    if payload.requirements:
        pip_args = ["install", "--no-cache-dir", "--disable-pip-version-check",
                    "--no-warn-script-location", "--no-compile", "--target", DEPS_DIR,
                    "-r", f"{BUILD_DIR}/requirements.txt"]
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
        # have none: Debian's minimal Python, distroless). Scripts go: they would name this
        # build's paths.
        script = ("export PIP_ROOT_USER_ACTION=ignore; "
                  "if python3 -m pip --version >/dev/null 2>&1; then pip='python3 -m pip'; "
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
            env.append(f"PYTHONPATH={deps_pythonpath(base_pythonpath)}")
    lines += [
        "ENV " + " ".join(env),
        f"WORKDIR {payload.workdir}",
        "CMD [" + ", ".join(f'"{part}"' for part in payload.cmd) + "]",
        f"COPY fairing/ {ROOT_DIR}/",
    ]
    return "\n".join(lines) + "\n"


def context_entries(payload: Payload, dockerfile: str, *,
                    wheels: str | os.PathLike | None = None) -> list[TarEntry]:
    """The build context: the Dockerfile, ``fairing/`` (the payload's files: the bundle, work
    and output folders) and, when there are requirements, ``fairing-build/`` (requirements.txt,
    pip as a zip, the wheels)."""
    entries = [TarEntry("Dockerfile", data=dockerfile.encode()), *payload.entries]
    if payload.requirements:
        listing = "".join(r + "\n" for r in payload.requirements).encode()
        entries.append(TarEntry("fairing-build/requirements.txt", data=listing))
        entries.append(TarEntry(f"fairing-build/{PIP_ZIP}", data=pip_zip()))
        if wheels is not None:
            folder = Path(wheels)
            found = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
            if not found:
                raise BuildError(f"The wheels folder {folder} holds no files; fill it with `pip "
                                 f"download -d {folder} ...` or leave wheels unset to install from "
                                 "the package index.")
            entries += [TarEntry(f"fairing-build/wheels/{p.name}", source=p) for p in found]
    return entries


@cache
def pip_zip() -> bytes:
    """This machine's pip as a zip the image's Python can run (``python3 pip.zip/pip``), with
    fixed timestamps so the build context, and the engine's cache key, stay the same."""
    import pip  # absent from some environments (uv-made ones): only this build step needs it

    root = Path(pip.__file__).parent
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(Path("pip") / path.relative_to(root)),
                                       date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
    return out.getvalue()


def context_tar(entries: Iterable[TarEntry]) -> bytes:
    """The (uncompressed) tar the engine receives as the build context."""
    out = io.BytesIO()
    write_tar(entries, out)
    return out.getvalue()


def shorten(text: str, limit: int = 400) -> str:
    """``text`` cut to ``limit`` characters around the middle (the engine quotes whole RUN
    lines)."""
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2:]


def default_tag(bundle: Bundle) -> str:
    """``fairing-<first 12 hex digits of the bundle digest>``."""
    return "fairing-" + bundle.digest.split(":", 1)[-1][:12]


class DockerBuilder:
    """A :class:`~fairing_magics.image.roles.Builder` of training images that has a Docker
    Engine build them; the result is an :class:`EngineImage`.

    ``engine``: a ``docker.DockerClient`` (default: from ``DOCKER_HOST``, made on first use).
    ``bases``: the kernel's :class:`~fairing_magics.image.base.BaseResolver`, which pins the base
    to its digest and reads its ``PYTHONPATH`` (without one the ``FROM`` line names the base as
    given). ``keychain``: where the engine's pull credentials come from (ECR tokens, the docker
    config). ``wheels``: a folder of wheels (or sdists) to install the requirements from
    instead of the package index. ``network_mode``: the network of the RUN step (``host``: pip
    reaches what this machine reaches).
    """

    def __init__(self, engine=None, *, bases: BaseResolver | None = None,
                 keychain: Keychain | None = None, wheels: str | os.PathLike | None = None,
                 network_mode: str = "host"):
        self._engine = engine
        self.bases = bases
        self.keychain = keychain
        self.wheels = wheels
        self.network_mode = network_mode

    @property
    def engine(self):
        if self._engine is None:
            self._engine = docker_client()
        return self._engine

    def build(self, source: Bundle, request: BuildRequest, emit: Emit = quiet) -> EngineImage:
        """Build the image of the training bundle ``source`` in the engine."""
        payload = bundle_payload(source)
        if request.base is None:
            raise BuildError("--builder docker builds FROM a base image: set --base-image.")
        if payload.requirements and self.wheels is None and request.index.has_credentials:
            raise BuildError(DOCKER_INDEX_CREDENTIALS.format(index=redact(request.index.shown)))
        engine = self.engine  # before any other work: no engine, no build
        base, base_pythonpath = self._pin_base(request, emit)
        self._pull_base(base, request.platform)
        dockerfile = render_dockerfile(payload, str(base), wheels=self.wheels is not None,
                                       base_pythonpath=base_pythonpath, index=request.index)
        context = context_tar(context_entries(payload, dockerfile, wheels=self.wheels))
        options = {"fileobj": io.BytesIO(context), "custom_context": True, "rm": True,
                   "forcerm": True, "pull": False, "decode": True,
                   "network_mode": self.network_mode, "labels": dict(payload.labels)}
        if request.platform:
            options["platform"] = request.platform
        lines: list[str] = []

        def on_item(item: dict) -> None:
            text = item.get("stream")
            if isinstance(text, str):
                for line in text.splitlines():
                    if line.strip():
                        lines.append(line)
                        emit(ev.LogLines((line,), source="build"))

        try:
            items = docker_engine.check_stream(engine.api.build(**options), on_item)
        except EngineError as exc:
            tail = "\n".join(redact(line) for line in lines[-15:])
            raise BuildError("The Docker Engine could not build the image: "
                             f"{shorten(exc.message)}\nLast lines of the build:\n{tail}\n"
                             "Check the requirements (a package that fails to install) and the "
                             f"base image {request.base}.") from exc
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and connection errors
            raise BuildError("The Docker Engine refused the build: "
                             f"{redact(str(exc))[:500]}") from exc
        return EngineImage(_image_id(items, lines), default_tag(source), engine)

    def _pin_base(self, request: BuildRequest, emit: Emit) -> tuple[Reference, str | None]:
        """``(FROM reference, the base's PYTHONPATH or None when unknown)``."""
        if self.bases is None:
            return request.base, None
        base = self.bases.resolve(request.base, request.platform)  # BuildError saying what to check
        emit(ev.Notice(f"base image {request.base} -> {base.ref}"))
        return base.ref, base.env.get("PYTHONPATH", "")

    def _pull_base(self, base: Reference, platform: str | None) -> None:
        """Pull the base with our credentials (the build then pulls nothing)."""
        try:
            docker_engine.pull_image(self.engine, base, keychain=self.keychain, platform=platform)
        except EngineError as exc:
            raise BuildError(f"The Docker Engine could not pull the base image {base}: "
                             f"{exc.message}. Check --base-image, the registry's credentials and "
                             "the engine's insecure registries.") from exc


def _image_id(items: list[dict], lines: list[str]) -> str:
    """The id of the image a build stream made (an ``aux`` item, or the last line naming it)."""
    for item in reversed(items):
        aux = item.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            return aux["ID"]
    for line in reversed(lines):
        match = _IMAGE_ID.fullmatch(line.strip())
        if match:
            return match.group(1)
    raise BuildError("The Docker Engine ended the build without naming the image it made; its "
                     "last lines:\n" + "\n".join(lines[-10:]))


class EnginePublisher:
    """Publishes :class:`EngineImage` s: the engine tags the image and pushes it, with our
    keychain's credentials (no ``docker login`` on the engine's side)."""

    def __init__(self, keychain: Keychain | None = None):
        self.keychain = keychain

    def publish(self, image: EngineImage, repository: Reference, *, tag: str = "",
                progress: ProgressCallback | None = None) -> Reference:
        """Tag ``image`` as ``repository:tag`` (default: its ``default_tag``) in the engine and
        push it; return the reference by the digest the registry stored."""
        tag = tag or image.default_tag
        try:
            image.engine.api.tag(image.id, str(repository), tag=tag, force=True)
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError: the image went meanwhile
            raise BuildError(f"The Docker Engine could not tag image {image.id[:19]} as "
                             f"{repository}:{tag}: {redact(str(exc))[:300]}") from exc
        return docker_engine.push_image(image.engine, repository, tag, keychain=self.keychain,
                                        progress=progress)
