"""Backends: where a captured bundle runs, and everything about a run that depends on where.

Every backend answers the same small protocol (:class:`Backend`), so the pipeline and the magics
never ask which backend they hold:

- ``check`` and ``validate`` refuse what the run would refuse, ``describe_plan`` is its part of
  ``--dry-run``, ``start(launch, run)`` begins the run and returns at once (from then on the
  backend feeds ``run`` with events from its own threads and ends it with ``run.finish(...)``);
- for runs this kernel does not hold (another kernel's, a gone kernel's): ``list_runs``
  (``%fairing_jobs``), ``reattach`` (``%fairing_logs``), ``cancel`` (``%fairing_cancel``) and
  ``doctor`` (``%fairing_doctor``); for runs on a timetable (a notebook's CronJob):
  ``list_schedules`` and ``cancel_schedule``;
- ``stages`` names the pipeline stages it has (the panel shows only those), ``flag_groups`` the
  groups of train flags it uses (:data:`fairing_magics.train_request.GROUPS`: an image is built
  for a backend that uses ``image``), ``interrupt`` what a kernel interrupt does to a run being
  followed when ``on_interrupt`` is ``auto`` (``cancel`` or ``detach``).

The backends:

- :class:`~fairing_magics.backends.local.LocalBackend`: a fresh Python subprocess;
- :class:`~fairing_magics.backends.docker.DockerBackend`: a container of a local Docker Engine;
- :class:`~fairing_magics.backends.kubernetes.backend.KubernetesBackend`: a Job, TFJob,
  PyTorchJob or TrainJob on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fairing_magics.config import Settings
from fairing_magics.displays import runtime_env
from fairing_magics.run import Run
from fairing_magics.train_request import TrainRequest, default_request


@dataclass(frozen=True)
class Launch:
    """What a backend needs to start a run: the bundle, the request (the cell's flags merged
    with the settings), and what the pipeline made of them."""

    bundle_dir: Path
    request: TrainRequest = field(default_factory=default_request)  # no flags, default settings
    env: dict[str, str] = field(default_factory=dict)  # run_env(bundle, request), and a trial's
    timeout: float | None = None
    image: str = ""  # repo@sha256:..., for container backends
    capture_digest: str = ""

    @property
    def settings(self) -> Settings:
        return self.request.settings


def run_env(bundle, request: TrainRequest) -> dict[str, str]:
    """What a run's process gets in its environment besides the image's, composed here and
    nowhere else, from the request: the bundle's runtime environment first (the kernel's cell
    folder and counts, the notebook folder's path hints: kept out of the bundle, so its digest
    and image stay the same), then ``--env``, which wins over it, then how the runtime sends its
    rich outputs and ``--outputs`` back (:func:`fairing_magics.displays.runtime_env`: ours,
    whatever ``--env`` says). A run, its trials, its schedule and their dry runs all get it."""
    return {**bundle.runtime_env, **dict(request.env), **runtime_env(request)}


class Backend(Protocol):
    name: str
    stages: tuple[str, ...]
    flag_groups: tuple[str, ...]
    interrupt: str

    def validate(self, request: TrainRequest) -> None:
        """Refuse what needs no I/O to know beyond the flags themselves (the dry run too)."""

    def check(self, request: TrainRequest) -> None:
        """Refuse bad flags and missing access before anything is built (cheap preflight)."""

    def describe_plan(self, request: TrainRequest, bundle) -> list[str]:
        """The backend's lines of ``--dry-run``: what it would start, where. Touches nothing."""

    def run_location(self, request: TrainRequest) -> dict:
        """Where a run can be found again from another kernel (kept in its ``run.json``)."""

    def start(self, launch: Launch, run: Run) -> None:
        """Begin the run and return at once."""

    def list_runs(self, settings) -> str:
        """The table of runs this backend keeps itself, beyond the run folders (a cluster's, found
        by their labels), for ``%fairing_jobs``; ``""`` when it keeps none."""

    def reattach(self, name: str, settings, open_run: Callable[[str], Run], *,
                 namespace: str | None = None) -> Run | None:
        """Follow run ``name``, which goes on without this kernel, into ``open_run(its full
        name)``; None when this backend keeps no run that outlives its kernel."""

    def cancel(self, name: str, settings, *, record: Mapping | None = None,
               folder: Path | None = None) -> str | None:
        """Stop run ``name`` that this kernel does not hold (``record`` and ``folder``: what its
        run folder says, when it has one); one line saying what was done, or None when this
        backend knows no run by that name."""

    def list_schedules(self, settings, remembered: Sequence[Mapping]) -> str:
        """The table of this backend's schedules (runs on a timetable, a cluster's CronJobs) for
        ``%fairing_jobs``: those ``remembered`` on this machine
        (:func:`fairing_magics.run.read_schedules`) and, when it is the configured backend,
        those where the settings point; ``""`` when none."""

    def cancel_schedule(self, name: str, settings, remembered: Mapping | None) -> str | None:
        """Remove the schedule ``name`` (``remembered``: its record, when this machine made
        it); one line saying what was done, or None when it is no schedule of this backend."""

    def doctor(self, settings, *, kind: str, namespace: str = "", runtime_ref: str = "") -> list:
        """``%fairing_doctor``: one :class:`~fairing_magics.kube.preflight.Finding` per check of
        what a run of ``kind`` needs here."""


def get_backend(name: str) -> Backend:
    """The backend called ``name``: ``local``, ``docker`` or ``kubernetes``."""
    from fairing_magics.errors import ConfigError

    if name == "local":
        from fairing_magics.backends.local import LocalBackend

        return LocalBackend()
    if name == "docker":
        from fairing_magics.backends.docker import DockerBackend

        return DockerBackend()
    if name == "kubernetes":
        from fairing_magics.backends.kubernetes.backend import KubernetesBackend

        return KubernetesBackend()
    raise ConfigError(f"the {name!r} backend is not available yet; use --backend local")
