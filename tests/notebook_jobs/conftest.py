"""The shared IPython shell with fairing loaded, runs and storage under the test's folder."""

from __future__ import annotations

import pytest

from tests.harness import clear_user_namespace, ipython_shell


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """The test InteractiveShell in ``tmp_path`` (cwd), text panels, FAIRING_HOME and a local
    run storage folder (``tmp_path/storage``) of its own."""
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    monkeypatch.setenv("FAIRING_STORAGE", str(tmp_path / "storage"))
    monkeypatch.delenv("FAIRING_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    ip = ipython_shell()
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    yield ip
    ip.run_cell("%unload_ext fairing_magics")


def run(ip, source: str):
    """Run a cell with history, as a notebook would; the ExecutionResult."""
    return ip.run_cell(source, store_history=True)
