"""Backends: where a captured bundle runs.

Every backend has the same small interface (:class:`Backend`): ``start(launch, run)`` begins the
run and returns at once; from then on the backend feeds ``run`` with events from its own threads
and ends it with ``run.finish(...)``. ``stages`` names the pipeline stages it has, so the panel
shows only those.

- :class:`~fairing_magics.backends.local.LocalBackend`: a fresh Python subprocess.
- :class:`~fairing_magics.backends.docker.DockerBackend`: a container of a local Docker Engine.
- :class:`~fairing_magics.backends.kubernetes.backend.KubernetesBackend`: a Job, TFJob or
  PyTorchJob on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fairing_magics.run import Run


@dataclass(frozen=True)
class Launch:
    """What a backend needs to start a run."""

    bundle_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    image: str = ""  # repo@sha256:..., for container backends
    options: Any = None  # the cell's TrainOptions (flags of the cluster backends)
    settings: Any = None  # the Settings snapshot
    capture_digest: str = ""


def run_env(bundle, options) -> dict[str, str]:
    """What a run's process gets in its environment besides the image's: the bundle's runtime
    environment first (the kernel's cell folder and counts, the notebook folder's path hints:
    kept out of the bundle, so its digest and image stay the same), then ``--env``, which wins."""
    return {**bundle.runtime_env, **dict(options.env)}


class Backend(Protocol):
    name: str
    stages: tuple[str, ...]

    def check(self, options, settings) -> None:
        """Refuse bad flags and missing access before anything is built (cheap preflight)."""

    def start(self, launch: Launch, run: Run) -> None: ...


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``local``; ``docker`` and ``kubernetes`` as they arrive)."""
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
