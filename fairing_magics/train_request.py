"""What a train-like cell asks for: its flags, declared once, and the request they make.

``%%fairing_train`` and every magic that runs a cell or a notebook the same way take the same
flags. :data:`TRAIN_FLAGS` declares each of them once: its names, argparse keywords (help,
metavar, type, default), the :class:`TrainOptions` field it fills, and its group:

- ``run``: what every run uses (name, backend, env, includes, requirements, outputs, ...);
  ``image_only_ignores`` marks those a ``--image-only`` build has no use for;
- ``image``: how the image is built (the docker and kubernetes backends, ``--image-only``);
- ``cluster``: the Kubernetes object (kind, resources, placement, namespace).

:func:`add_train_flags` puts the table into a parser as argument groups (``%%fairing_train?``
lists the flags under these headings; the magics take it through one decorator,
:func:`fairing_magics.magic_flags.train_flags`); :func:`options_from_args` turns parsed flags into
:class:`TrainOptions`;
the pipeline names the flags a backend ignores from the same groups.

:func:`merge_request` merges the flags with the settings, once, into the :class:`TrainRequest`
the pipeline, the backends and the sweeps read: a flag left empty takes its setting there
(``--backend``, ``--registry``, ``--base-image``, ``--namespace``, ``--context``,
``--figure-format``, ``--cache``), and nowhere else.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fairing_magics.config import CACHE_MODES, Settings
from fairing_magics.errors import ConfigError

#: The groups of :data:`TRAIN_FLAGS`, in the order ``%%fairing_train?`` shows them, with their
#: headings.
GROUPS = {
    "run": "run",
    "image": "image (docker and kubernetes backends, --image-only)",
    "cluster": "kubernetes",
}


@dataclass(frozen=True)
class TrainOptions:
    """The flags of one ``%%fairing_train`` cell (see ``%%fairing_train?``)."""

    name: str = "train"
    backend: str = ""  # empty: the configured backend
    env: Mapping[str, str] = field(default_factory=dict)
    includes: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    requirements: str = "auto"
    timeout: float | None = None
    wait: bool = True
    dry_run: bool = False
    image_only: bool = False
    # Rich outputs: which replicas send displays and --outputs (chief | all); figure format
    # (png | svg | png,svg; empty: the configured one).
    outputs_from: str = "chief"
    figure_format: str = ""
    # --cache: on (reuse an earlier successful run with the same inputs), refresh (run and
    # record anew) or off; empty: the configured one (fairing_magics.cache).
    cache: str = ""
    # Image (docker and kubernetes backends, --image-only); empty: the configured value.
    registry: str = ""
    base_image: str = ""
    platform: str | None = None
    python: str | None = None
    builder: str = ""  # append | docker; empty: the image service's (append)
    # Cluster (kubernetes backend).
    kind: str = "job"
    workers: int = 0
    runtime_ref: str = ""  # --kind trainjob: NAME (ClusterTrainingRuntime) or NAMESPACE/NAME
    cpu: str = ""
    memory: str = ""
    gpus: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[str, ...] = ()
    service_account: str = ""
    aws_secret: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    namespace: str = ""
    context: str = ""


#: The flags that default to a setting of the same name (``--registry`` to ``%fairing_config
#: --registry``): what :func:`merge_request` fills in.
FROM_SETTINGS = ("backend", "registry", "base_image", "namespace", "context", "figure_format",
                 "cache")


@dataclass(frozen=True)
class TrainRequest(TrainOptions):
    """A train-like cell's flags merged with the settings (:func:`merge_request`): every field
    holds what the run uses, ``settings`` the rest of the settings, and ``given`` the flags as
    written (the notice of flags a backend ignores names only those)."""

    settings: Settings = field(default_factory=Settings)
    given: TrainOptions = field(default_factory=TrainOptions)


def merge_request(options: TrainOptions, settings: Settings) -> TrainRequest:
    """The one place a flag left empty takes its setting (:data:`FROM_SETTINGS`); ``--kind`` is
    read in lower case (``--kind TFJob`` is a tfjob)."""
    values = {name: getattr(options, name) for name in TrainOptions.__dataclass_fields__}
    values.update({name: values[name] or getattr(settings, name) for name in FROM_SETTINGS})
    values["kind"] = (values["kind"] or "job").lower()
    return TrainRequest(**values, settings=settings, given=options)


def default_request() -> TrainRequest:
    """The request of a cell with no flags, under the default settings."""
    return merge_request(TrainOptions(), Settings())


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """``["K=V", ...]`` to a dict; a pair without ``=`` or with a bad key is a ConfigError."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise ConfigError(f"--env {pair!r} is not KEY=VALUE with KEY made of letters, digits "
                              "and '_'")
        env[key] = value
    return env


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``["k=v", ...]`` (label-like keys allowed) to a dict, for --node-selector and the like."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


#: What a run's ``--cache`` takes: the setting's modes, and ``refresh``.
CACHE_FLAG_MODES = (*CACHE_MODES, "refresh")


def parse_cache(flag: str | None) -> str:
    """A run's ``--cache``: alone it is ``on``; not given, ``""`` (the setting decides, in
    :func:`merge_request`)."""
    if flag is None:
        return ""
    mode = flag or "on"
    if mode not in CACHE_FLAG_MODES:
        raise ConfigError(f"--cache {flag!r} is not one of: on (reuse a successful run with the "
                          "same inputs), refresh (run and record anew), off")
    return mode


def parse_outputs(text: str) -> tuple[str, ...]:
    """``"a,b"`` to ``("a", "b")``; each must be a Python identifier."""
    names = tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()
    for name in names:
        if not name.isidentifier():
            raise ConfigError(f"--outputs {text!r}: {name!r} is not a Python variable name")
    return names


@dataclass(frozen=True)
class Flag:
    """One flag of the train-like magics (see the module docstring)."""

    name: str  # --cpu
    group: str  # run | image | cluster
    options: Mapping[str, Any]  # add_argument keywords (help strings are argparse's: %% for %)
    field: str = ""  # the TrainOptions field; default: the flag's own name
    convert: Callable[[Any], Any] = lambda value: value  # parsed value -> field value
    image_only_ignores: bool = False

    @property
    def dest(self) -> str:
        """Where argparse puts the flag's value."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def target(self) -> str:
        return self.field or self.dest


def _run(name, *, image_only_ignores=False, field="", convert=None, **options) -> Flag:
    return Flag(name, "run", options, field, convert or (lambda value: value), image_only_ignores)


def _image(name, **options) -> Flag:
    return Flag(name, "image", options)


def _cluster(name, *, field="", convert=None, **options) -> Flag:
    return Flag(name, "cluster", options, field, convert or (lambda value: value))


TRAIN_FLAGS: tuple[Flag, ...] = (
    _run("--name", default="train", help="run name: lowercase letters, digits and '-' (a unique "
         "suffix is added)"),
    _run("--backend", default="", help="local (subprocess), docker or kubernetes; default: "
         "%%fairing_config's"),
    _run("--env", action="append", default=[], metavar="KEY=VALUE", convert=parse_env,
         image_only_ignores=True, help="environment variable for the run (repeatable)"),
    _run("--include", action="append", default=[], metavar="PATH", field="includes",
         convert=tuple, help="file or folder (relative to the notebook) to ship with the run "
         "(repeatable)"),
    _run("--requirements", default="auto", metavar="auto|none|FILE",
         help="third-party packages: detected (auto), none, or a requirements file"),
    _run("--outputs", default="", metavar="a,b", convert=parse_outputs, image_only_ignores=True,
         help="variables to bring back into the notebook after success"),
    _run("--timeout", type=float, default=None, metavar="SECONDS", image_only_ignores=True,
         help="stop the run and fail the cell after this many seconds"),
    _run("--outputs-from", default="chief", metavar="chief|all", image_only_ignores=True,
         help="kubernetes, several replicas: whose displays and --outputs come back: the chief "
         "(rank 0; default) or all (one set per replica, {replica: value})"),
    _run("--figure-format", default="", metavar="png|svg|png,svg", image_only_ignores=True,
         help="how matplotlib figures come back (default: %%config "
         "FairingMagics.figure_format, png)"),
    _run("--cache", nargs="?", const="on", default=None, metavar="on|refresh|off",
         convert=parse_cache, image_only_ignores=True,
         help="reuse an earlier successful run with the same inputs from run storage (its log, "
         "metrics and outputs, in milliseconds); refresh: run and record anew; default: "
         "%%fairing_config's (off)"),
    _run("--no-wait", action="store_true", field="wait", convert=lambda given: not given,
         image_only_ignores=True, help="return the run at once; the panel keeps streaming"),
    _run("--dry-run", action="store_true", help="print the capture report and the plan (image, "
         "Kubernetes YAML); touch nothing"),
    _run("--image-only", action="store_true", help="build and push the image, print "
         "repo@sha256:..., run nothing"),
    _image("--registry", default="", help="repository for the image (default: "
           "%%fairing_config's)"),
    _image("--base-image", default="", help="base image (default: %%fairing_config's)"),
    _image("--builder", default="", metavar="append|docker", help="who builds the image: append "
           "(no daemon; default) or docker (the Docker Engine at DOCKER_HOST; requirements "
           "installed with pip inside the image)"),
    _image("--platform", default=None, help="target platform of the image, e.g. linux/arm64"),
    _image("--python", default=None, help="target Python minor version of the dependency layer, "
           "e.g. 3.11"),
    _cluster("--kind", default="job", help="kubernetes: job, tfjob, pytorchjob or trainjob "
             "(Kubeflow Trainer v2)"),
    _cluster("--workers", type=int, default=0, help="kubernetes: worker replicas (tfjob, "
             "pytorchjob); nodes of a trainjob (numNodes, at least 1)"),
    _cluster("--runtime-ref", default="", metavar="NAME|NAMESPACE/NAME",
             help="trainjob: its ClusterTrainingRuntime NAME (default torch-distributed), or the "
             "TrainingRuntime NAME of the run's namespace as NAMESPACE/NAME"),
    _cluster("--cpu", default="", help="kubernetes: CPU per replica, e.g. 1 or 500m"),
    _cluster("--memory", default="", help="kubernetes: memory per replica, e.g. 2Gi"),
    _cluster("--gpus", type=int, default=0, help="kubernetes: nvidia.com/gpu per replica"),
    _cluster("--node-selector", action="append", default=[], metavar="KEY=VALUE",
             convert=lambda pairs: parse_pairs(pairs, "--node-selector"),
             help="kubernetes: node label the pods must match (repeatable)"),
    _cluster("--toleration", action="append", default=[], metavar="KEY[=VALUE][:EFFECT]",
             field="tolerations", convert=tuple,
             help="kubernetes: taint the pods tolerate (repeatable)"),
    _cluster("--service-account", default="", help="kubernetes: service account of the pods "
             "(IRSA)"),
    _cluster("--aws-secret", default="", help="kubernetes: Secret holding AWS credentials for the "
             "pods"),
    _cluster("--image-pull-secret", action="append", default=[], field="image_pull_secrets",
             convert=tuple, help="kubernetes: pull secret (repeatable)"),
    _cluster("--volume", action="append", default=[], metavar="pvc|secret|configmap:NAME:/MOUNT",
             field="volumes", convert=tuple, help="kubernetes: volume to mount (repeatable)"),
    _cluster("--namespace", default="", help="kubernetes: namespace (default: "
             "%%fairing_config's)"),
    _cluster("--context", default="", help="kubernetes: kubeconfig context"),
)


def train_flags(without: Sequence[str] = (),
                change: Mapping[str, Mapping[str, Any]] | None = None) -> list[Flag]:
    """The flags a magic takes: :data:`TRAIN_FLAGS` but those named in ``without``, with the
    argparse keywords in ``change`` (``{"--name": {"default": "sweep"}}``) replaced. Refuses a
    name that is no train flag, so a renamed flag cannot silently stay in a magic."""
    change = dict(change or {})
    known = {flag.name for flag in TRAIN_FLAGS}
    unknown = sorted((set(without) | set(change)) - known)
    if unknown:
        raise ValueError(f"no train flag {', '.join(unknown)}")
    return [Flag(f.name, f.group, {**f.options, **change.get(f.name, {})}, f.field, f.convert,
                 f.image_only_ignores)
            for f in TRAIN_FLAGS if f.name not in without]


def add_train_flags(parser: argparse.ArgumentParser, without: Sequence[str] = (),
                    change: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Add the train flags (:func:`train_flags`) to ``parser``, one argument group per
    :data:`GROUPS` heading: what every magic, and a command line, that runs a cell or a notebook
    the way ``%%fairing_train`` does takes."""
    flags = train_flags(without, change)
    for group, heading in GROUPS.items():
        members = [flag for flag in flags if flag.group == group]
        if members:
            section = parser.add_argument_group(heading)
            for flag in members:
                section.add_argument(flag.name, **flag.options)


def options_from_args(args, **overrides: Any) -> TrainOptions:
    """The :class:`TrainOptions` of parsed flags (any parser that took :data:`TRAIN_FLAGS`, or
    some of them: a flag a magic does not take keeps its default); ``overrides`` are fields the
    magic sets itself."""
    values = {flag.target: flag.convert(getattr(args, flag.dest))
              for flag in TRAIN_FLAGS if hasattr(args, flag.dest)}
    return TrainOptions(**{**values, **overrides})
