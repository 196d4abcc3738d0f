"""Every setting, its default and its environment variable, in one place.

Settings live on :class:`FairingSettings`, a traitlets ``Configurable``. The magics class inherits
from it, so each setting can be changed three ways, strongest first:

1. ``%fairing_config --registry REPO`` (or ``%config FairingMagics.registry = "REPO"``);
2. the environment: ``FAIRING_REGISTRY``, ``FAIRING_BASE_IMAGE``, ``FAIRING_BACKEND``,
   ``FAIRING_NAMESPACE``, ``FAIRING_STORAGE``, ``FAIRING_INSECURE_REGISTRIES`` (comma separated),
   ``FAIRING_INDEX_URL``, ``FAIRING_EXTRA_INDEX_URL`` (comma or space separated),
   ``FAIRING_UI``, ``FAIRING_HOME``, ``FAIRING_ON_INTERRUPT``, ``FAIRING_CONTEXT``,
   ``FAIRING_CACHE`` (``on``/``off``);
3. the defaults below.

The pipeline never reads traitlets: it gets a frozen :class:`Settings` snapshot from
:meth:`FairingSettings.snapshot`, so tests can build one directly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from traitlets import Bool, Enum, Float, Integer, List, Unicode, default
from traitlets.config import Configurable

from fairing_magics.errors import redact
from fairing_magics.runtime.display import DISPLAY_LIMIT, DISPLAYS_LIMIT, RESULT_LIMIT

BACKENDS = ("local", "docker", "kubernetes")
FIGURE_FORMATS = ("png", "svg", "png,svg")
MB = 2**20
UI_MODES = ("auto", "widget", "text")
CACHE_MODES = ("off", "on")
INTERRUPT_ACTIONS = ("auto", "detach", "cancel")


def default_base_image() -> str:
    """A slim Python image with the kernel's minor version (pickles need the same minor)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def default_home() -> Path:
    """Where runs are recorded on this machine (logs, outputs of the local backend)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fairing-magics"


@dataclass(frozen=True)
class Settings:
    """A frozen snapshot of the settings, handed to the pipeline."""

    registry: str = ""
    base_image: str = field(default_factory=default_base_image)
    backend: str = "local"
    namespace: str = ""
    context: str = ""
    storage: str = ""
    insecure_registries: tuple[str, ...] = ()
    ui: str = "auto"
    home: Path = field(default_factory=default_home)
    on_interrupt: str = "auto"
    log_lines: int = 1000
    value_limit_mb: int = 100
    #: Files the captured code names by a string literal are shipped up to this many MiB in all.
    file_limit_mb: int = 20
    istio_inject: bool = False
    #: Kubernetes service account of KServe stock-runtime predictors (their S3 credentials).
    service_account: str = ""
    #: Package index of the dependency layer ("": pip's index-url, else the installer's default;
    #: see fairing_magics.image.package_index). May carry credentials: shown redacted.
    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    #: Reuse a successful run with the same inputs (``--cache``): ``on`` or ``off``.
    cache: str = "off"
    #: Rich outputs of a run (fairing_magics.displays): caps in MiB per display, per run, and of
    #: the pickled final value (run.result); how figures are drawn.
    display_limit_mb: float = DISPLAY_LIMIT / MB
    displays_limit_mb: float = DISPLAYS_LIMIT / MB
    result_limit_mb: float = RESULT_LIMIT / MB
    figure_format: str = "png"

    @property
    def runs_root(self) -> Path:
        """Where run folders (``runs/<run>/``) live on this machine: a local ``storage`` folder
        (same layout as S3 storage), else ``home``."""
        if self.storage and not self.storage.startswith("s3://"):
            path = self.storage[len("file://"):] if self.storage.startswith("file://") else self.storage
            return Path(path).expanduser()
        return Path(self.home)

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    def describe(self) -> str:
        """The settings as aligned ``name = value`` lines."""
        width = max(len(f.name) for f in fields(self))
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            lines.append(f"{f.name.ljust(width)} = {redact(str(value)) if value != '' else '(not set)'}")
        return "\n".join(lines)


def _env(name: str, fallback: str = "") -> str:
    return os.environ.get(name, "").strip() or fallback


class FairingSettings(Configurable):
    """The traitlets face of :class:`Settings` (``%config FairingMagics.<name> = ...``)."""

    registry = Unicode(help="Repository images are pushed to, e.g. 123456789012.dkr.ecr.cn-northwest-1."
                       "amazonaws.com.cn/fairing-job or 127.0.0.1:5000/me").tag(config=True)
    base_image = Unicode(help="Base image for training and serving images").tag(config=True)
    backend = Enum(BACKENDS, help="Where runs go: local (subprocess), docker, kubernetes").tag(config=True)
    namespace = Unicode(help="Kubernetes namespace (default: from the pod or the kubeconfig)").tag(config=True)
    context = Unicode(help="kubeconfig context (default: the current one)").tag(config=True)
    storage = Unicode(help="Where runs keep outputs and models: a folder or s3://bucket/prefix").tag(config=True)
    insecure_registries = List(Unicode(), help="Registries reached without TLS verification (HOST[:PORT])").tag(config=True)
    ui = Enum(UI_MODES, help="Panel: widget, text, or auto (widget in Jupyter, text elsewhere)").tag(config=True)
    home = Unicode(help="Folder where runs are recorded").tag(config=True)
    on_interrupt = Enum(INTERRUPT_ACTIONS, help="On a kernel interrupt while following: cancel the run, "
                        "detach from it, or auto (cancel local runs, detach cluster runs)").tag(config=True)
    log_lines = Integer(1000, help="Log lines kept in the panel (the full log stays on disk)").tag(config=True)
    value_limit_mb = Integer(100, help="Largest captured value in MiB; bigger data belongs in storage").tag(config=True)
    file_limit_mb = Integer(20, help="Files the code names (pd.read_csv('data.csv')) are shipped up to this "
                            "many MiB in all; beyond it use --include or storage").tag(config=True)
    istio_inject = Bool(False, help="Let Istio inject sidecars into job pods (they keep Jobs from finishing)").tag(config=True)
    service_account = Unicode(help="Kubernetes service account whose IAM role or attached Secret lets KServe "
                              "read models from S3 (%fairing_deploy --kserve --runtime)").tag(config=True)
    index_url = Unicode(help="Package index of the dependency layer (default: pip's index-url, else PyPI); "
                        "may carry user:token@").tag(config=True)
    extra_index_urls = List(Unicode(), help="Extra package indexes of the dependency layer").tag(config=True)
    cache = Enum(CACHE_MODES, help="Reuse a successful run with the same inputs (--cache): on or off; "
                 "needs --storage").tag(config=True)
    display_limit_mb = Float(DISPLAY_LIMIT / MB, help="Largest rich output of a run (display(), "
                             "figure, final value) in MiB; a bigger one is left out with a "
                             "notice").tag(config=True)
    displays_limit_mb = Float(DISPLAYS_LIMIT / MB, help="All the rich outputs of one run, in MiB; "
                              "those over it are left out with a notice").tag(config=True)
    result_limit_mb = Float(RESULT_LIMIT / MB, help="Largest pickled final value of a cell kept as "
                            "run.result, in MiB").tag(config=True)
    figure_format = Enum(FIGURE_FORMATS, "png", help="How a run's matplotlib figures come back: "
                         "png, svg or png,svg").tag(config=True)

    @default("registry")
    def _default_registry(self):
        return _env("FAIRING_REGISTRY")

    @default("base_image")
    def _default_base_image(self):
        return _env("FAIRING_BASE_IMAGE", default_base_image())

    @default("backend")
    def _default_backend(self):
        value = _env("FAIRING_BACKEND", "local")
        return value if value in BACKENDS else "local"

    @default("namespace")
    def _default_namespace(self):
        return _env("FAIRING_NAMESPACE")

    @default("context")
    def _default_context(self):
        return _env("FAIRING_CONTEXT")

    @default("storage")
    def _default_storage(self):
        return _env("FAIRING_STORAGE")

    @default("service_account")
    def _default_service_account(self):
        return _env("FAIRING_SERVICE_ACCOUNT")

    @default("insecure_registries")
    def _default_insecure(self):
        return [h.strip() for h in _env("FAIRING_INSECURE_REGISTRIES").split(",") if h.strip()]

    @default("index_url")
    def _default_index_url(self):
        return _env("FAIRING_INDEX_URL")

    @default("extra_index_urls")
    def _default_extra_index_urls(self):
        return _env("FAIRING_EXTRA_INDEX_URL").replace(",", " ").split()

    @default("cache")
    def _default_cache(self):
        value = _env("FAIRING_CACHE", "off")
        return value if value in CACHE_MODES else "off"

    @default("ui")
    def _default_ui(self):
        value = _env("FAIRING_UI", "auto")
        return value if value in UI_MODES else "auto"

    @default("home")
    def _default_home(self):
        return _env("FAIRING_HOME", str(default_home()))

    @default("on_interrupt")
    def _default_on_interrupt(self):
        value = _env("FAIRING_ON_INTERRUPT", "auto")
        return value if value in INTERRUPT_ACTIONS else "auto"

    def snapshot(self) -> Settings:
        """The current settings as a frozen :class:`Settings`."""
        return Settings(
            registry=self.registry,
            base_image=self.base_image,
            backend=self.backend,
            namespace=self.namespace,
            context=self.context,
            storage=self.storage,
            insecure_registries=tuple(self.insecure_registries),
            ui=self.ui,
            home=Path(self.home).expanduser(),
            on_interrupt=self.on_interrupt,
            log_lines=self.log_lines,
            value_limit_mb=self.value_limit_mb,
            file_limit_mb=self.file_limit_mb,
            istio_inject=self.istio_inject,
            service_account=self.service_account,
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            cache=self.cache,
            display_limit_mb=self.display_limit_mb,
            displays_limit_mb=self.displays_limit_mb,
            result_limit_mb=self.result_limit_mb,
            figure_format=self.figure_format,
        )
