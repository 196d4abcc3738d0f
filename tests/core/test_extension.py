"""Loading, unloading, settings and help of the extension, in a real IPython shell."""

from __future__ import annotations

from IPython.core.error import UsageError

from fairing_magics import load_ipython_extension
from fairing_magics.config import FairingSettings, Settings
from tests.core.conftest import run

MAGICS = ("fairing_config", "fairing_jobs", "fairing_logs", "fairing_cancel")


def test_load_registers_magics_and_twice_is_harmless(shell):
    for name in MAGICS:
        assert shell.find_line_magic(name) is not None
    assert shell.find_cell_magic("fairing_train") is not None
    before = len(shell.configurables)
    load_ipython_extension(shell)  # a second load changes nothing
    assert len(shell.configurables) == before


def test_unload_removes_magics_and_reload_works(shell):
    assert run(shell, "%unload_ext fairing_magics").success
    assert shell.find_cell_magic("fairing_train") is None
    assert shell.find_line_magic("fairing_config") is None
    assert run(shell, "%load_ext fairing_magics").success
    assert shell.find_cell_magic("fairing_train") is not None


def test_fairing_config_sets_and_shows(shell, capsys):
    assert run(shell, "%fairing_config --registry 127.0.0.1:5000/me --backend local").success
    out = capsys.readouterr().out
    assert "registry" in out and "127.0.0.1:5000/me" in out
    assert run(shell, "%config FairingMagics.namespace = 'team-a'").success
    run(shell, "%fairing_config")
    assert "team-a" in capsys.readouterr().out


def test_fairing_config_rejects_unknown_backend(shell):
    result = run(shell, "%fairing_config --backend mainframe")
    assert not result.success
    assert isinstance(result.error_in_exec, UsageError)
    assert "local, docker, kubernetes" in str(result.error_in_exec)


def test_environment_gives_defaults(monkeypatch):
    monkeypatch.setenv("FAIRING_REGISTRY", "reg.example:5000/team")
    monkeypatch.setenv("FAIRING_INSECURE_REGISTRIES", "a:1, b:2")
    monkeypatch.setenv("FAIRING_BACKEND", "kubernetes")
    snap = FairingSettings().snapshot()
    assert snap.registry == "reg.example:5000/team"
    assert snap.insecure_registries == ("a:1", "b:2")
    assert snap.backend == "kubernetes"
    assert Settings().backend == "local"


def test_train_help_shows_summary_every_flag_and_example(shell):
    doc = shell.find_cell_magic("fairing_train").__doc__
    assert doc.startswith("::") or "Run this cell as a training job" in doc
    for flag in ("--name", "--backend", "--env", "--include", "--outputs", "--timeout", "--no-wait",
                 "--dry-run", "--requirements"):
        assert flag in doc, flag
    assert "Example::" in doc and "%%fairing_train" in doc


def test_bad_flag_is_a_usage_error_and_fails_the_cell(shell):
    result = run(shell, "%%fairing_train --bogus 1\nprint('never')")
    assert not result.success
    assert isinstance(result.error_in_exec, UsageError)
    assert "--bogus" in str(result.error_in_exec)


def test_bad_values_fail_before_anything_runs(shell, tmp_path):
    for line, words in [
        ("--name Bad_Name!", "not a valid Kubernetes name"),
        ("--env NOEQUALS", "KEY=VALUE"),
        ("--outputs 'a,1b'", "not a Python variable name"),
        ("--backend mainframe", "unknown"),
        ("--timeout -5", "positive"),
    ]:
        result = run(shell, f"%%fairing_train {line}\nprint('never')")
        assert not result.success, line
        assert words in str(result.error_in_exec), (line, result.error_in_exec)
    assert (not (tmp_path / "home" / "runs").exists()
            or not any((tmp_path / "home" / "runs").iterdir()))
