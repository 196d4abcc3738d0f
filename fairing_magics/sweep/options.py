"""The flags of one ``%%fairing_sweep`` cell, and every refusal that needs no cluster (pure).

:func:`check_sweep` is called by the dry run and the real run alike, before anything is captured
or built, so each bad input is one line and nothing is left half made: the training flags
through :func:`fairing_magics.pipeline.check_request` (the same checks as ``%%fairing_train``),
then the sweep's own: the objective and metric names (Katib's ``[\\w|-]+``), ``--trials``,
``--parallel`` (not above ``--trials``), ``--algorithm``, ``--early-stopping``, ``--max-failed``,
a grid over a continuous range, a kind Katib cannot run. :func:`check_parameters` then compares
the search space with the cell: every parameter must be read by the cell, and none may also be a
name the notebook defines that the cell reads (the trial's value would silently replace it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError
from fairing_magics.pipeline import check_request
from fairing_magics.sweep.space import SearchSpace
from fairing_magics.train_request import TrainOptions, TrainRequest, merge_request

ALGORITHMS = ("random", "grid", "tpe", "bayesian")
EARLY_STOPPING = ("median",)
GOALS = ("minimize", "maximize")
SWEEP_BACKENDS = ("local", "kubernetes")
#: The trial kinds a Katib trial template takes here (its trial-resources default to these).
KATIB_KINDS = ("job", "tfjob", "pytorchjob")
#: Longest sweep name: Katib names trials ``<experiment>-<8 characters>`` and the Job
#: controller its pods ``<trial>-<5 characters>``, which must fit 63.
MAX_SWEEP_NAME = 41
_METRIC_NAME = re.compile(r"[\w|-]+")


#: The train flags (:data:`~fairing_magics.train_request.TRAIN_FLAGS`) ``%%fairing_sweep`` does not
#: take, and its own words for some of those it takes (every trial gets them).
NOT_FOR_SWEEPS = ("--no-wait", "--image-only", "--cache", "--builder", "--platform", "--python",
                   "--runtime-ref", "--node-selector", "--toleration", "--aws-secret", "--volume")
SWEEP_WORDS = {
    "--name": {"default": "sweep", "help": "sweep name: lowercase letters, digits and '-'"},
    "--backend": {"help": "local (subprocesses, Optuna) or kubernetes (a Katib Experiment); "
                          "default: %%fairing_config's"},
    "--kind": {"help": "kubernetes: each trial as a job, tfjob or pytorchjob"},
    "--workers": {"help": "kubernetes: worker replicas (tfjob, pytorchjob)"},
    "--cpu": {"help": "kubernetes: CPU per trial replica, e.g. 1 or 500m"},
    "--memory": {"help": "kubernetes: memory per trial replica, e.g. 2Gi"},
    "--gpus": {"help": "kubernetes: nvidia.com/gpu per trial replica"},
    "--env": {"help": "environment variable for every trial (repeatable)"},
    "--include": {"help": "file or folder (relative to the notebook) to ship with the trials "
                          "(repeatable)"},
    "--outputs": {"help": "variables of the best trial to bring back into the notebook"},
    "--timeout": {"help": "stop a trial (it fails) after this many seconds"},
    "--dry-run": {"help": "print the search space, the trial command and the Experiment YAML; "
                          "touch nothing"},
    "--registry": {"help": "kubernetes: repository for the image"},
    "--base-image": {"help": "kubernetes: base image"},
    "--service-account": {"help": "kubernetes: service account of the trial pods"},
}


@dataclass(frozen=True)
class SweepOptions:
    """A sweep: the search, and the training flags every trial shares (``train``)."""

    space: SearchSpace
    objective: str
    goal: str = "minimize"
    metrics: tuple[str, ...] = ()
    trials: int = 10
    parallel: int = 2
    algorithm: str = "tpe"
    early_stopping: str = ""
    max_failed: int = 3
    seed: int | None = None
    train: TrainRequest = field(
        default_factory=lambda: merge_request(TrainOptions(name="sweep"), Settings()))

    @property
    def names(self) -> tuple[str, ...]:
        """The metrics recorded: the objective first, then ``--metric``."""
        return (self.objective, *self.metrics)

    def planned_trials(self) -> int:
        """``--trials``, or fewer when a grid has fewer points."""
        if self.algorithm == "grid":
            return min(self.trials, self.space.grid_size())
        return self.trials


def check_sweep(options: SweepOptions, settings) -> str:
    """Refuse what the sweep would refuse (no I/O); return the backend's name."""
    check_request(options.train)
    backend = options.train.backend
    if backend not in SWEEP_BACKENDS:
        raise ConfigError(f"--backend {backend}: a sweep runs on the local backend (parallel "
                          "subprocesses) or on kubernetes (a Katib Experiment)")
    for name in options.names:
        if not _METRIC_NAME.fullmatch(name or ""):
            raise ConfigError(f"metric {name!r}: use letters, digits, '_', '-' and '|' (the "
                              "name=value convention Katib reads, e.g. --objective val_loss)")
    if options.objective in options.metrics:
        raise ConfigError(f"--metric {options.objective}: it is the --objective already; "
                          "--metric adds other metrics to record")
    if len(set(options.metrics)) != len(options.metrics):
        raise ConfigError("--metric: a metric is named twice")
    clash = set(options.names) & set(options.space.names)
    if clash:
        raise ConfigError(f"{sorted(clash)[0]!r} is both a --param and a metric: name them apart")
    if options.goal not in GOALS:
        raise ConfigError(f"--goal {options.goal!r}: use minimize or maximize")
    if options.trials < 1:
        raise ConfigError(f"--trials {options.trials}: give 1 or more trials")
    if options.parallel < 1:
        raise ConfigError(f"--parallel {options.parallel}: give 1 or more trials at a time")
    if options.parallel > options.trials:
        raise ConfigError(f"--parallel {options.parallel} is above --trials {options.trials}: at "
                          f"most {options.trials} trials can run at a time; lower --parallel or "
                          "raise --trials")
    if options.algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm {options.algorithm!r}: use one of {', '.join(ALGORITHMS)}")
    if options.early_stopping and options.early_stopping not in EARLY_STOPPING:
        raise ConfigError(f"--early-stopping {options.early_stopping!r}: use median (stop a trial "
                          "whose objective is worse than the median of earlier trials at the same "
                          "step)")
    if options.max_failed < 1:
        raise ConfigError(f"--max-failed {options.max_failed}: give 1 or more")
    if options.algorithm == "grid":
        options.space.grid()  # a continuous range has no grid: one clear line
        if options.early_stopping:
            raise ConfigError("--early-stopping median with --algorithm grid: a grid tries every "
                              "point; drop one of them")
    kind = options.train.kind
    if backend == "kubernetes" and kind not in KATIB_KINDS:
        raise ConfigError(f"--kind {kind}: a Katib trial runs as a Job, TFJob or PyTorchJob "
                          f"(--kind {', '.join(KATIB_KINDS)})")
    if options.seed is not None and backend == "kubernetes":
        raise ConfigError("--seed: Katib's suggestion services take no seed; use it with "
                          "--backend local")
    return backend


def check_parameters(space: SearchSpace, cell: str, namespace: Mapping) -> None:
    """Every parameter is a name the cell reads, and none is also a notebook variable the cell
    reads (in each trial the parameter would replace it without a word)."""
    from fairing_magics.capture.names import find_free_names
    from fairing_magics.capture.syntax import to_python

    free = find_free_names(to_python(cell).tree)
    for param in space.params:
        name = param.name
        if name not in free.free:
            if name in free.bound:
                raise ConfigError(f"--param {name}: the cell sets {name} itself, so the trial's "
                                  f"value would never be seen; remove that assignment from the "
                                  "cell")
            raise ConfigError(f"--param {name}: the cell never reads {name}; use it in the cell "
                              "as a plain name (or drop the --param)")
        if name in namespace and not name.startswith("_"):
            value = namespace[name]
            raise ConfigError(f"--param {name}: the notebook also has a variable {name} "
                              f"({type(value).__name__}) and the cell reads it; a trial's value "
                              f"would silently replace it. Rename the parameter (and its use in "
                              f"the cell), or run `del {name}` first")
