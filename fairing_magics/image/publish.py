"""The one build-and-publish path: a source becomes an image in a registry, by digest.

Every image fairing_magics makes goes through :meth:`ImageService.publish`, whoever builds it:
a training bundle (``--builder append``, the default, or ``--builder docker``) and a model's
serving image alike. It owns, in one place:

- the request every builder gets (:class:`~fairing_magics.image.builder.BuildRequest`): the
  base image parsed once, the wheels' Python and platform, and the package index (the settings'
  ``--index-url`` / ``--extra-index-url``, else pip's configured index-url, read again at each
  build: :func:`~fairing_magics.image.package_index.choose_index`); the wheels' C library is the
  base's, read by the append builder every daemonless image goes through;
- the ``build`` and ``push`` stages (:func:`fairing_magics.events.stage`: a failure or a kernel
  interrupt marks the stage failed, never leaves it running);
- ECR: a missing repository is created before the push
  (:func:`fairing_magics.aws.create_missing_repository`);
- the tag the image is also pushed under (the run's or the endpoint's name).

Builders and publishers come in pairs, since the publisher takes what its builder made:

- ``append`` makes an :class:`~fairing_magics.oci.image.Image`, published by the kernel's
  :class:`~fairing_magics.registry.publisher.RegistryPublisher`;
- ``serving`` (:class:`~.serving.ServingBuilder`) makes an Image too, with the append builder
  underneath, published by the same RegistryPublisher;
- ``docker`` (:class:`~.docker_builder.DockerBuilder`) makes an image a Docker Engine holds,
  published by :class:`~.docker_builder.EnginePublisher` (the engine pushes).

Keep one :class:`ImageService` per kernel: its registry client (auth tokens, TLS policy), base
resolver (resolved bases and C libraries) and registry publisher (blobs known to be pushed) are
remembered, so that a code-only change sends one small layer, a config and a manifest, and an
unchanged cell almost nothing.
"""

from __future__ import annotations

from fairing_magics import events as ev
from fairing_magics.aws import complete_ecr_reference, create_missing_repository, describe_ecr_plan
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError, RegistryError
from fairing_magics.image.package_index import choose_index
from fairing_magics.image.roles import Builder, BuildRequest, Emit, Publisher
from fairing_magics.oci.reference import Reference, parse_reference

#: What ``--builder`` may name.
BUILDERS = ("append", "docker")
#: The builder of serving images (not a ``--builder`` choice: a model is always appended).
SERVING = "serving"

NO_REGISTRY = ("no registry is set: name the repository images go to, e.g. %fairing_config "
               "--registry 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job "
               "(or 127.0.0.1:5000/me for a local registry, FAIRING_REGISTRY in the environment)")


def target_repository(registry: str) -> Reference:
    """The repository images go to (``host/path``, no tag), from the ``--registry`` setting.

    ``ecr`` / ``ecr/NAME`` is completed with the caller's account and region (STS). A tag or
    digest in the setting is refused: images are always referred to by their own digest.
    """
    if not registry:
        raise ConfigError(NO_REGISTRY)
    full = complete_ecr_reference(registry)
    try:
        ref = parse_reference(full)
    except (RegistryError, ValueError) as exc:
        raise ConfigError(f"--registry {registry!r} is not a valid repository reference: "
                          f"{exc}") from exc
    if ref.tag or ref.digest:
        raise ConfigError(f"--registry {registry!r} names a tag or digest; give the repository "
                          f"only (e.g. {ref.name})")
    if "/" not in full.split("://")[-1]:
        raise ConfigError(f"--registry {registry!r} has no repository path; add one, e.g. "
                          f"{full}/fairing-job")
    return ref


def describe_index(settings: Settings) -> str:
    """The ``--dry-run`` line naming the package index of the dependency layer (no credentials)."""
    return "Package index: " + choose_index(settings.index_url, settings.extra_index_urls).shown


def describe_registry_plan(registry: str) -> list[str]:
    """Lines for ``--dry-run``: where the image goes, and the ECR actions when it is ECR."""
    if not registry:
        return ["Registry: not set (needed for the docker and kubernetes backends and "
                "--image-only)"]
    return [f"Registry: {registry}", *("  " + line for line in describe_ecr_plan(registry))]


def ensure_ecr_repository(repository: Reference, emit: Emit) -> None:
    """Create ``repository`` when it is on ECR and missing (ECR does not create on push), and
    say so."""
    created = create_missing_repository(repository.registry, repository.repository)
    if created is not None:
        emit(ev.Notice(f"created ECR repository {repository.repository} in {created.region}"))


def check_builder(name: str) -> str:
    """``name`` when ``--builder`` may name it, else a ConfigError listing the choices."""
    if name not in BUILDERS:
        raise ConfigError(f"--builder {name!r} is unknown; use one of {', '.join(BUILDERS)}")
    return name


class ImageService:
    """Builds and publishes images for one kernel (see the module docstring).

    ``builder`` (``append``, the default, or ``docker``) builds training bundles unless
    :meth:`publish` names another.
    """

    def __init__(self, settings: Settings, builder: str | None = None):
        # Imported here, not at the top: the builders and the registry stack (requests, urllib3,
        # tarfile, the installers) are ~95 ms that %load_ext would pay in every kernel, most of
        # which never build an image (pipeline imports this module for its checks).
        from fairing_magics.docker_engine import kernel_keychain
        from fairing_magics.image.base import BaseResolver
        from fairing_magics.image.builder import AppendBuilder
        from fairing_magics.image.serving import ServingBuilder
        from fairing_magics.registry import RegistryClient, RegistryPublisher, Transport

        self.builder_name = check_builder(builder or "append")
        self.insecure = tuple(settings.insecure_registries)
        self.index_settings = (settings.index_url, tuple(settings.extra_index_urls))
        self.keychain = kernel_keychain()
        self.client = RegistryClient(Transport(self.keychain, insecure_registries=self.insecure))
        self.bases = BaseResolver(self.client)
        self.append = AppendBuilder(bases=self.bases)
        self.publisher = RegistryPublisher(self.client)
        self._paths: dict[str, tuple[Builder, Publisher]] = {
            "append": (self.append, self.publisher),
                       SERVING: (ServingBuilder(self.append), self.publisher)}

    @property
    def docker_builder(self):
        """The kernel's :class:`~.docker_builder.DockerBuilder`, made on first use (it connects
        to the engine ``DOCKER_HOST`` names only when it builds)."""
        if "docker" not in self._paths:  # the docker path imports the registry stack: see __init__
            from fairing_magics.image.docker_builder import DockerBuilder, EnginePublisher

            builder = DockerBuilder(bases=self.bases, keychain=self.keychain)
            self._paths["docker"] = (builder, EnginePublisher(self.keychain))
        return self._paths["docker"][0]

    def publish(self, source, *, repository: Reference, base_image: str, tag: str = "",
                python: str | None = None, platform: str | None = None, emit: Emit,
                builder: str | None = None) -> Reference:
        """Build ``source`` on ``base_image`` and push it to ``repository``; return it by digest.

        ``source`` is a training bundle, or with ``builder="serving"`` a model folder
        (:class:`~fairing_magics.image.serving.ServedModel`). ``emit`` gets the ``build`` and
        ``push`` stages, the resolved base as a Notice, byte Progress, and the docker builder's
        output as log lines of source ``build``.
        """
        name = builder or self.builder_name
        if name != SERVING:
            check_builder(name)
        if name == "docker":
            self.docker_builder  # noqa: B018 - made on first use
        chosen, publisher = self._paths[name]
        with ev.stage(emit, "build") as step:
            request = BuildRequest(base=parse_reference(base_image) if base_image else None,
                                   python=python, platform=platform,
                                   # pip's configuration is read again: a new pip.conf counts
                                   index=choose_index(*self.index_settings))
            built = chosen.build(source, request, emit)
            step.detail = built.summary
        with ev.stage(emit, "push") as step:
            ensure_ecr_repository(repository, emit)
            pushed = publisher.publish(built, repository, tag=tag,
                                       progress=lambda done, total, what:
                                       emit(ev.Progress(what, done, total)))
            step.detail = pushed.digest[:19]
        return pushed
