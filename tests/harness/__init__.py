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
    """The process's IPython shell (a singleton), made here by whichever test asks first, and the
    same shell whatever that test was: a plain ``InteractiveShell``, which behaves as a notebook
    kernel's shell where the tests look (``!cmd`` through IPython's piped ``system``, as
    ipykernel's does; tracebacks on stdout), its history in memory (never the user's ~/.ipython).

    Not ``IPython.testing.globalipapp.start_ipython()``: its doctest shell swaps ``system`` for
    one that drops a command's last newline (``!echo hi`` printed ``hi`` without it), so what a
    cell printed depended on which test had made the singleton. A shell made elsewhere (a bare
    ``InteractiveShell.instance()``) is refused, so there is one way to make it.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if not InteractiveShell.initialized():
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        InteractiveShell.instance(config=config)._made_by_test_harness = True
    shell = InteractiveShell.instance()
    if not getattr(shell, "_made_by_test_harness", False):
        raise RuntimeError(f"IPython's singleton shell ({type(shell).__name__}) was made outside "
                           "tests.harness.ipython_shell(): take the shell from there")
    return shell


def clear_user_namespace(shell) -> None:
    """Forget what earlier tests left in the shared shell: their variables (IPython's own names
    stay) and their ``%config FairingMagics.x = ...`` values, which outlive ``%unload_ext`` and would
    win over a later test's ``FAIRING_*`` environment."""
    shell.config.pop("FairingMagics", None)
    hidden = shell.user_ns_hidden
    for name in list(shell.user_ns):
        if not name.startswith("_") and name not in hidden:
            del shell.user_ns[name]
