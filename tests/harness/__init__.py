"""Real services the tests start: an OCI registry, podman, a Python base rootfs, moto, and the
Kubernetes API emulator. Each starts on 127.0.0.1 only and is stopped by its PID.

:func:`need` is the one place of the e2e skip policy: on a laptop a missing service skips the
test with a clear reason; in CI (``CI=true``) it fails it, because CI must have everything.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI) the current test when ``ok`` is false."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"required service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def ipython_shell():
    """The process's IPython shell (a singleton): the one other tests made, else a new test shell.

    ``InteractiveShell.instance()`` and IPython's ``globalipapp.start_ipython()`` refuse each
    other's instance, so every test takes the shell from here.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing.globalipapp import start_ipython

    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    return start_ipython()


def clear_user_namespace(shell) -> None:
    """Forget what earlier tests left in the shared shell: their variables (IPython's own names
    stay) and their ``%config FairingMagics.x = ...`` values, which outlive ``%unload_ext`` and would
    win over a later test's ``FAIRING_*`` environment."""
    shell.config.pop("FairingMagics", None)
    hidden = shell.user_ns_hidden
    for name in list(shell.user_ns):
        if not name.startswith("_") and name not in hidden:
            del shell.user_ns[name]
