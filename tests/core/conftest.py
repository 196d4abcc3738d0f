"""A real IPython shell with the extension loaded, and a private FAIRING_HOME per test."""

from __future__ import annotations

import pytest

from tests.harness import clear_user_namespace, ipython_shell


@pytest.fixture(scope="session")
def _session_shell():
    """IPython's shell is a process-wide singleton: reuse the one other tests made, if any."""
    return ipython_shell()


@pytest.fixture
def shell(_session_shell, tmp_path, monkeypatch):
    """The shared test InteractiveShell, fairing loaded, runs recorded under tmp_path."""
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    monkeypatch.chdir(tmp_path)
    ip = _session_shell
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    result = ip.run_cell("%load_ext fairing_magics")
    assert result.success
    yield ip
    ip.run_cell("%unload_ext fairing_magics")


def run(ip, source: str):
    """Run a cell with history, as a notebook would; return the ExecutionResult."""
    return ip.run_cell(source, store_history=True)
