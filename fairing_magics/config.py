"""Every setting, declared once: its type, default, help, environment variable and flag.

Each field of :class:`Settings` is one :func:`setting`. Everything else is made from that table,
so a new setting is one field and nothing drifts apart:

- :class:`Settings`, the frozen snapshot the pipeline, backends and deployers read (tests build
  one directly);
- :class:`FairingSettings`, its traitlets face: the magics class inherits from it, so each
  setting can be changed with ``%config FairingMagics.<name> = value``;
- the defaults from the environment (``FAIRING_REGISTRY`` and the others, :data:`ENVIRONMENT`);
- the ``%fairing_config`` flags, their help and the values they complete to
  (:data:`CONFIG_FLAGS`).

A value comes, strongest first, from ``%fairing_config --flag`` or ``%config``, then from the
environment, then from the default declared here. List settings are written repeated, comma or
space separated (``FAIRING_INSECURE_REGISTRIES=a:5000,b:5000``).
"""

from __future__ import annotations

import os
import sys
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Integer, List, TraitType, Unicode, default
from traitlets.config import Configurable

from fairing_magics.errors import redact
from fairing_magics.runtime.display import DISPLAY_LIMIT, DISPLAYS_LIMIT, RESULT_LIMIT

BACKENDS = ("local", "docker", "kubernetes")
FIGURE_FORMATS = ("png", "svg", "png,svg")
MB = 2**20
UI_MODES = ("auto", "widget", "text")
CACHE_MODES = ("off", "on")  # the setting; a run's --cache also takes refresh
INTERRUPT_ACTIONS = ("auto", "detach", "cancel")


def default_base_image() -> str:
    """A slim Python image with the kernel's minor version (pickles need the same minor)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def default_home() -> Path:
    """Where runs are recorded on this machine (logs, outputs of the local backend)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fairing-magics"


def split_values(values: Sequence[str] | str) -> tuple[str, ...]:
    """Repeated and comma- or space-separated values as one tuple, in order, without duplicates
    (how a list setting is written, in a flag or in the environment)."""
    if isinstance(values, str):
        values = [values]
    found: list[str] = []
    for value in values:
        for part in value.replace(",", " ").split():
            if part not in found:
                found.append(part)
    return tuple(found)


def setting(default: Any, *, help: str, env: str = "", flag: str = "",
            choices: tuple[str, ...] = (), metavar: str | None = None, adds: bool = False):
    """Declare a field of :class:`Settings`: ``default`` (a value, or a function giving it),
    ``help`` (one phrase, shown by ``%config`` and ``%fairing_config?``), the environment
    variable ``env`` its default is read from, the ``%fairing_config`` ``flag`` that changes it
    (its ``metavar``), the ``choices`` it is one of; a list flag ``adds`` to the current list,
    or replaces it (``--flag ''`` empties it)."""
    declared = {"help": help, "env": env, "flag": flag, "choices": tuple(choices),
                "metavar": metavar, "adds": adds}
    if callable(default):
        return field(default_factory=default, metadata={"setting": declared})
    return field(default=default, metadata={"setting": declared})


@dataclass(frozen=True)
class Settings:
    """A frozen snapshot of the settings, handed to the pipeline. The table of every setting."""

    registry: str = setting(
        "", env="FAIRING_REGISTRY", flag="--registry",
        help="repository images are pushed to, e.g. 123456789012.dkr.ecr.cn-northwest-1."
             "amazonaws.com.cn/fairing-job or 127.0.0.1:5000/me")
    base_image: str = setting(
        default_base_image, env="FAIRING_BASE_IMAGE", flag="--base-image",
        help="base image of training and serving images")
    backend: str = setting(
        "local", env="FAIRING_BACKEND", flag="--backend", choices=BACKENDS,
        help="where runs go: local (a subprocess), docker or kubernetes")
    namespace: str = setting(
        "", env="FAIRING_NAMESPACE", flag="--namespace",
        help="Kubernetes namespace (default: from the pod or the kubeconfig)")
    context: str = setting(
        "", env="FAIRING_CONTEXT", flag="--context",
        help="kubeconfig context (default: the current one)")
    storage: str = setting(
        "", env="FAIRING_STORAGE", flag="--storage",
        help="where runs keep outputs and models: a folder or s3://bucket/prefix")
    insecure_registries: tuple[str, ...] = setting(
        (), env="FAIRING_INSECURE_REGISTRIES", flag="--insecure-registry", metavar="HOST[:PORT]",
        adds=True, help="registries reached without TLS verification")
    ui: str = setting(
        "auto", env="FAIRING_UI", flag="--ui", choices=UI_MODES,
        help="panel: widget, text, or auto (widget in Jupyter, text elsewhere)")
    home: Path = setting(default_home, env="FAIRING_HOME", help="folder where runs are recorded")
    on_interrupt: str = setting(
        "auto", env="FAIRING_ON_INTERRUPT", choices=INTERRUPT_ACTIONS,
        help="on a kernel interrupt while following: cancel the run, detach from it, or auto "
             "(cancel local runs, detach cluster runs)")
    log_lines: int = setting(
        1000, help="log lines kept in the panel (the full log stays on disk)")
    value_limit_mb: int = setting(
        100, help="largest captured value in MiB; bigger data belongs in storage")
    file_limit_mb: int = setting(
        20, help="files the code names (pd.read_csv('data.csv')) are shipped up to this many MiB "
                 "in all; beyond it use --include or storage")
    istio_inject: bool = setting(
        False, help="let Istio inject sidecars into job pods (they keep Jobs from finishing)")
    service_account: str = setting(
        "", env="FAIRING_SERVICE_ACCOUNT", flag="--service-account",
        help="Kubernetes service account whose IAM role or attached Secret lets KServe read "
             "models from S3 (%fairing_deploy --kserve --runtime)")
    index_url: str = setting(
        "", env="FAIRING_INDEX_URL", flag="--index-url", metavar="URL",
        help="package index of the dependency layer (default: pip's index-url, else PyPI); "
             "may be https://user:token@host/simple (shown redacted)")
    extra_index_urls: tuple[str, ...] = setting(
        (), env="FAIRING_EXTRA_INDEX_URL", flag="--extra-index-url", metavar="URL",
        help="extra package indexes of the dependency layer")
    cache: str = setting(
        "off", env="FAIRING_CACHE", flag="--cache", choices=CACHE_MODES,
        help="on: every run reuses an earlier successful run with the same inputs (its log, "
             "metrics and outputs from run storage; needs --storage); off")
    # Rich outputs of a run (fairing_magics.displays): caps in MiB per display, per run, and of
    # the pickled final value (run.result); how figures are drawn.
    display_limit_mb: float = setting(
        DISPLAY_LIMIT / MB, help="largest rich output of a run (display(), figure, final value) "
                                 "in MiB; a bigger one is left out with a notice")
    displays_limit_mb: float = setting(
        DISPLAYS_LIMIT / MB, help="all the rich outputs of one run, in MiB; those over it are "
                                  "left out with a notice")
    result_limit_mb: float = setting(
        RESULT_LIMIT / MB, help="largest pickled final value of a cell kept as run.result, in MiB")
    figure_format: str = setting(
        "png", choices=FIGURE_FORMATS,
        help="how a run's matplotlib figures come back: png, svg or png,svg")

    @property
    def runs_root(self) -> Path:
        """Where run folders (``runs/<run>/``) live on this machine: a local ``storage`` folder
        (same layout as S3 storage), else ``home``."""
        if self.storage and not self.storage.startswith("s3://"):
            path = (self.storage[len("file://"):] if self.storage.startswith("file://")
                    else self.storage)
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
            lines.append(f"{f.name.ljust(width)} = "
                         f"{redact(str(value)) if value != '' else '(not set)'}")
        return "\n".join(lines)


# -- what is made from the table -------------------------------------------------------------------


@dataclass(frozen=True)
class SettingSpec:
    """One row of the table: a field of :class:`Settings` with what :func:`setting` declared."""

    name: str
    kind: type  # str, Path, int, float, bool, or tuple (a list of strings)
    make_default: Callable[[], Any]
    help: str
    env: str = ""
    flag: str = ""
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    adds: bool = False

    @property
    def dest(self) -> str:
        """The attribute argparse gives the flag's value."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def repeats(self) -> bool:
        return self.kind is tuple

    def trait(self) -> TraitType:
        """The traitlets trait (``%config FairingMagics.<name>``)."""
        shown = self.to_trait(self.make_default())  # %config's "Default:"; initial() decides
        if self.choices:
            trait = Enum(self.choices, default_value=shown, help=self.help)
        elif self.repeats:
            trait = List(Unicode(), default_value=shown, help=self.help)
        else:
            trait = {str: Unicode, Path: Unicode, int: Integer, float: Float,
                     bool: Bool}[self.kind](default_value=shown, help=self.help)
        return trait.tag(config=True)

    def initial(self) -> Any:
        """The trait's first value: from the environment when set and valid, else the default."""
        fallback = self.to_trait(self.make_default())
        text = os.environ.get(self.env, "").strip() if self.env else ""
        if not text:
            return fallback
        if self.repeats:
            return list(split_values(text))
        if self.choices:
            return text if text in self.choices else fallback
        if self.kind is bool:
            return {"1": True, "true": True, "yes": True, "on": True, "0": False,
                    "false": False, "no": False, "off": False}.get(text.lower(), fallback)
        try:
            return self.kind(text) if self.kind in (int, float) else text
        except ValueError:
            return fallback

    def to_trait(self, value: Any) -> Any:
        if self.repeats:
            return list(value)
        return str(value) if self.kind is Path else value

    def to_setting(self, value: Any) -> Any:
        if self.repeats:
            return tuple(value)
        return Path(value).expanduser() if self.kind is Path else value

    def from_flag(self, given: Any, current: Any) -> Any:
        """The trait value after ``%fairing_config`` gave the flag ``given``."""
        if not self.repeats:
            return given
        values = list(split_values(given))
        return list(dict.fromkeys([*current, *values])) if self.adds else values

    def flag_help(self) -> str:
        """The flag's line in ``%fairing_config?`` (``%`` doubled for argparse)."""
        text = self.help
        if self.repeats:
            text += (" (repeatable)" if self.adds else
                     f" (repeatable or comma separated; {self.flag} '' clears them)")
        return text.replace("%", "%%")

    def flag_options(self) -> dict:
        """The ``add_argument`` keywords of the flag (its value is None when not given)."""
        options: dict[str, Any] = {"default": None, "help": self.flag_help()}
        if self.repeats:
            options["action"] = "append"
        if self.metavar:
            options["metavar"] = self.metavar
        return options


def _table() -> tuple[SettingSpec, ...]:
    hints = typing.get_type_hints(Settings)
    specs = []
    for f in fields(Settings):
        kind = hints[f.name]
        kind = tuple if typing.get_origin(kind) is tuple else kind
        make = f.default_factory if f.default_factory is not MISSING else \
            (lambda value=f.default: value)
        specs.append(SettingSpec(f.name, kind, make, **f.metadata["setting"]))
    return tuple(specs)


#: Every setting, in the order ``%fairing_config`` shows them.
SETTINGS: tuple[SettingSpec, ...] = _table()
#: The settings ``%fairing_config`` has a flag for.
CONFIG_FLAGS: tuple[SettingSpec, ...] = tuple(s for s in SETTINGS if s.flag)
#: The environment variables settings are read from, in table order.
ENVIRONMENT: tuple[str, ...] = tuple(s.env for s in SETTINGS if s.env)


def _configurable(specs: Iterable[SettingSpec]) -> type:
    """The traitlets class with one configurable trait per setting, each defaulting to its
    environment variable (read when the trait is first used), then to its declared default."""
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": "FairingSettings",
        "__doc__": "The traitlets face of :class:`Settings` (``%config FairingMagics.<name> = "
                   "...``): one trait per setting of the table.",
        "snapshot": _snapshot,
    }
    for spec in specs:
        namespace[spec.name] = spec.trait()
        namespace[f"_default_{spec.name}"] = default(spec.name)(
            lambda self, spec=spec: spec.initial())
    return type(Configurable)("FairingSettings", (Configurable,), namespace)


def _snapshot(self) -> Settings:
    """The current settings as a frozen :class:`Settings`."""
    return Settings(**{s.name: s.to_setting(getattr(self, s.name)) for s in SETTINGS})


FairingSettings = _configurable(SETTINGS)
