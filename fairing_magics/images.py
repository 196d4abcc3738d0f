"""The build and push stages: a Bundle becomes an image in a registry, referred to by digest.

:class:`ImageService` holds, for the kernel's life, one registry client (auth tokens, TLS policy),
one :class:`~fairing_magics.image.builder.AppendBuilder` (resolved base images) and one
:class:`~fairing_magics.registry.publisher.RegistryPublisher` (blobs known to be pushed), so that
a code-only change sends one small layer, a config and a manifest, and an unchanged cell almost
nothing. ECR repositories are created when missing and ECR tokens fetched on demand
(:mod:`fairing_magics.aws`).

With ``builder="docker"`` (``--builder docker``) a Docker Engine builds and pushes instead
(:class:`~fairing_magics.image.docker_builder.DockerBuilder`: the same layout, requirements
installed with pip inside the image); the registry client still pins the base image.

Both builders install from the same package index: the settings' ``index_url`` and
``extra_index_urls``, else pip's configured index-url, decided at each build by
:func:`~fairing_magics.image.package_index.choose_index`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fairing_magics import events as ev
from fairing_magics.capture.bundle import Bundle
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError, RegistryError

BUILDERS = ("append", "docker")

NO_REGISTRY = ("no registry is set: name the repository images go to, e.g. "
               "%fairing_config --registry 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job "
               "(or 127.0.0.1:5000/me for a local registry, FAIRING_REGISTRY in the environment)")


def target_repository(registry: str) -> str:
    """The repository (``host/path``, no tag) images go to, from the ``--registry`` setting.

    ``ecr`` / ``ecr/NAME`` is completed with the caller's account and region (STS). A tag or
    digest in the setting is refused: images are always referred to by their own digest.
    """
    from fairing_magics.aws import complete_ecr_reference
    from fairing_magics.registry.reference import parse_reference

    if not registry:
        raise ConfigError(NO_REGISTRY)
    full = complete_ecr_reference(registry)
    try:
        ref = parse_reference(full)
    except (RegistryError, ValueError) as exc:
        raise ConfigError(f"--registry {registry!r} is not a valid repository reference: {exc}") from exc
    if ref.tag or ref.digest:
        raise ConfigError(f"--registry {registry!r} names a tag or digest; give the repository only "
                          f"(e.g. {ref.name})")
    if "/" not in full.split("://")[-1]:
        raise ConfigError(f"--registry {registry!r} has no repository path; add one, e.g. {full}/fairing-job")
    return ref.name


def describe_index(settings: Settings) -> str:
    """The ``--dry-run`` line naming the package index of the dependency layer (no credentials)."""
    from fairing_magics.image.package_index import choose_index

    return "Package index: " + choose_index(settings.index_url, settings.extra_index_urls).shown


def describe_registry_plan(registry: str) -> list[str]:
    """Lines for ``--dry-run``: where the image goes, and the ECR actions when it is ECR."""
    from fairing_magics.aws import describe_ecr_plan

    if not registry:
        return ["Registry: not set (needed for the docker and kubernetes backends and --image-only)"]
    lines = [f"Registry: {registry}"]
    lines.extend("  " + line for line in describe_ecr_plan(registry))
    return lines


class ImageService:
    """Builds and pushes bundle images; keep one per kernel (see the module docstring)."""

    def __init__(self, settings: Settings, builder: str | None = None):
        from fairing_magics.aws import ecr_credentials
        from fairing_magics.image.builder import AppendBuilder
        from fairing_magics.registry import Keychain, RegistryClient, Transport
        from fairing_magics.registry.publisher import RegistryPublisher

        self.builder_name = builder or getattr(settings, "builder", "") or "append"
        if self.builder_name not in BUILDERS:
            raise ConfigError(f"--builder {self.builder_name!r} is unknown; use one of {', '.join(BUILDERS)}")
        self.insecure = tuple(settings.insecure_registries)
        self.index_settings = (getattr(settings, "index_url", ""), tuple(getattr(settings, "extra_index_urls", ())))
        keychain = Keychain(hooks=[ecr_credentials])
        transport = Transport(keychain, insecure_registries=self.insecure)
        self.client = RegistryClient(transport)
        self.keychain = keychain
        self.builder = AppendBuilder(self.client)
        self.publisher = RegistryPublisher(self.client)
        self._docker_builder = None

    @property
    def docker_builder(self):
        """The kernel's :class:`~fairing_magics.image.docker_builder.DockerBuilder`, made on first use
        (it connects to the engine ``DOCKER_HOST`` names only when it builds)."""
        if self._docker_builder is None:
            from fairing_magics.image.docker_builder import DockerBuilder

            self._docker_builder = DockerBuilder(registry_client=self.client, keychain=self.keychain)
        return self._docker_builder

    def build_and_push(self, bundle: Bundle, *, repository: str, base_image: str, tag: str = "",
                       python: str | None = None, platform: str | None = None,
                       emit: Callable[[object], None] = lambda event: None, builder: str | None = None) -> str:
        """Build ``bundle`` on ``base_image`` and push it to ``repository``; return ``repo@sha256:...``.

        Emits build/push StageChanged events, the resolved base as a Notice, and byte Progress.
        ``builder`` (``append`` or ``docker``; default: the service's) picks who builds; the
        docker builder's output arrives as log lines of source ``build``.
        """
        from fairing_magics.aws import ensure_repository, parse_ecr_host
        from fairing_magics.image.package_index import choose_index
        from fairing_magics.registry.reference import parse_reference

        chosen = builder or self.builder_name
        if chosen not in BUILDERS:
            raise ConfigError(f"--builder {chosen!r} is unknown; use one of {', '.join(BUILDERS)}")
        index = choose_index(*self.index_settings)  # pip's config is read again: a new pip.conf counts
        if chosen == "docker":
            self.docker_builder.index = index
            return self._docker_build_and_push(bundle, repository=repository, base_image=base_image, tag=tag,
                                               platform=platform, emit=emit)
        emit(ev.StageChanged("build", "running"))
        started = time.perf_counter()
        self.builder.log = lambda message: emit(ev.Notice(message))
        self.builder.index = index
        try:
            image = self.builder.build(bundle, base_image, python=python, platform=platform)
        except BaseException:  # an interrupt too: the panel must not show it still running
            emit(ev.StageChanged("build", "failed", time.perf_counter() - started))
            raise
        emit(ev.StageChanged("build", "done", time.perf_counter() - started, f"{len(image.layers)} layers"))

        emit(ev.StageChanged("push", "running"))
        started = time.perf_counter()
        try:
            ref = parse_reference(repository)
            ecr = parse_ecr_host(ref.registry)
            if ecr is not None:
                if ensure_repository(ecr, ref.repository):
                    emit(ev.Notice(f"created ECR repository {ref.repository} in {ecr.region}"))

            def progress(done: int, total: int, what: str) -> None:
                emit(ev.Progress(what, done, total))

            self.publisher.tag = tag or None
            pushed = self.publisher.publish(image, repository, progress=progress)
        except BaseException:  # an interrupt too: the panel must not show it still running
            emit(ev.StageChanged("push", "failed", time.perf_counter() - started))
            raise
        emit(ev.StageChanged("push", "done", time.perf_counter() - started, pushed.split("@")[-1][:19]))
        return pushed

    def _docker_build_and_push(self, bundle: Bundle, *, repository: str, base_image: str, tag: str,
                               platform: str | None, emit: Callable[[object], None]) -> str:
        """``--builder docker``: the engine builds (its output as log lines) and pushes."""
        from fairing_magics.image.docker_builder import default_tag

        builder = self.docker_builder
        builder.log = lambda message: emit(ev.Notice(message))
        tag = tag or default_tag(bundle)
        emit(ev.StageChanged("build", "running"))
        started = time.perf_counter()
        try:
            self._ensure_ecr_repository(repository, emit)
            builder.build(bundle, base_image, f"{repository}:{tag}", platform=platform,
                          on_build_line=lambda line: emit(ev.LogLines((line,), source="build")))
        except BaseException:  # an interrupt too: the panel must not show it still running
            emit(ev.StageChanged("build", "failed", time.perf_counter() - started))
            raise
        emit(ev.StageChanged("build", "done", time.perf_counter() - started, "docker"))
        emit(ev.StageChanged("push", "running"))
        started = time.perf_counter()
        try:
            pushed = builder.push(repository, tag, progress=lambda done, total, what: emit(ev.Progress(what, done, total)))
        except BaseException:  # an interrupt too: the panel must not show it still running
            emit(ev.StageChanged("push", "failed", time.perf_counter() - started))
            raise
        emit(ev.StageChanged("push", "done", time.perf_counter() - started, pushed.split("@")[-1][:19]))
        return pushed

    @staticmethod
    def _ensure_ecr_repository(repository: str, emit: Callable[[object], None]) -> None:
        from fairing_magics.aws import ensure_repository, parse_ecr_host
        from fairing_magics.registry.reference import parse_reference

        ref = parse_reference(repository)
        ecr = parse_ecr_host(ref.registry)
        if ecr is not None and ensure_repository(ecr, ref.repository):
            emit(ev.Notice(f"created ECR repository {ref.repository} in {ecr.region}"))
