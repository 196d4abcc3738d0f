"""fairing_magics: a notebook cell becomes a training job, and a model a prediction endpoint.

In IPython or Jupyter::

    %load_ext fairing_magics
    %%fairing_train --outputs model
    model = fit(x, y)

Inside a cell (in the kernel or in a run) ``fairing_magics.log_metric(name, value, step=None)``
records a metric (so do ``name=value`` lines); the panel charts them.

The extension registers the magics (:class:`~fairing_magics.magics.FairingMagics`) ; a
:class:`~fairing_magics.errors.FairingError` shows as one clear message (its
``_render_traceback_``) and fails the cell.
"""

from __future__ import annotations

from fairing_magics.errors import (
    BuildError,
    CaptureError,
    ClusterError,
    ConfigError,
    DeployError,
    FairingError,
    FairingTimeout,
    JobFailed,
    RegistryError,
    RunCancelled,
)
from fairing_magics.runtime.live import log_metric

__version__ = "0.1.0"
__all__ = [
    "BuildError", "CaptureError", "ClusterError", "ConfigError", "DeployError", "FairingError",
    "FairingTimeout", "JobFailed", "RegistryError", "RunCancelled", "load_ipython_extension",
    "log_metric", "unload_ipython_extension",
]

_LOADED: dict[int, tuple[object, object]] = {}  # id(shell) -> (FairingMagics, its tab completer)


def load_ipython_extension(shell) -> None:
    """``%load_ext fairing_magics``: register the magics and their tab completion. Loading twice
    is harmless."""
    from fairing_magics import completion
    from fairing_magics.magics import FairingMagics

    if id(shell) in _LOADED:
        return
    magics = FairingMagics(shell=shell, parent=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)
    _LOADED[id(shell)] = (magics, completion.register(shell, magics))


def unload_ipython_extension(shell) -> None:
    """``%unload_ext fairing_magics``: remove the magics and their tab completion."""
    from fairing_magics import completion

    magics, matcher = _LOADED.pop(id(shell), (None, None))
    if magics is None:
        return
    if matcher is not None:
        completion.unregister(shell, matcher)
    manager = shell.magics_manager
    for kind, names in magics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    manager.registry.pop(type(magics).__name__, None)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
