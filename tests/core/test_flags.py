"""Flags: mistyped ones get the closest real one, abbreviations are refused, help names cell
magics with %%, and the resource and placement flags are checked the same way on every backend,
with one notice naming the flags a backend ignores. A real IPython shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from fairing_magics.errors import ConfigError
from tests.core.conftest import run


@pytest.mark.parametrize("line, message", [
    ("--cpus 2", "unknown flag --cpus: did you mean --cpu? (%%fairing_train? lists every flag)"),
    ("--output model", "unknown flag --output: did you mean --outputs?"),
    ("--outputs=model --nmae x", "unknown flag --nmae: did you mean --name?"),
    ("--c 1", "unknown flag --c: did you mean one of --cpu, --context, --cache?"),
    ("--zzz 1", "unknown flag --zzz (%%fairing_train? lists every flag)"),
    ("--name a stray", "unexpected argument 'stray'"),
])
def test_unknown_flags_and_abbreviations_are_refused_with_the_closest_flag(shell, line, message, tmp_path):
    result = run(shell, f"%%fairing_train {line}\nprint('never')")
    assert not result.success
    assert isinstance(result.error_in_exec, UsageError)
    assert message in str(result.error_in_exec)
    assert "model" not in shell.user_ns
    assert not (tmp_path / "home" / "runs").exists()  # nothing ran: --output did not mean --outputs


def test_line_magics_suggest_too(shell):
    result = run(shell, "%fairing_config --registy 127.0.0.1:5000/me")
    assert "unknown flag --registy: did you mean --registry? (%fairing_config? lists every flag)" \
        in str(result.error_in_exec)
    result = run(shell, "%fairing_deploy model --replica 2")
    assert "did you mean --replicas?" in str(result.error_in_exec)


def test_help_of_the_cell_magic_says_double_percent(shell):
    doc = shell.find_cell_magic("fairing_train").__doc__
    assert doc.startswith("::\n\n  %%fairing_train [--name NAME]")
    assert "%fairing_train [" not in doc.replace("%%fairing_train [", "")
    assert shell.find_line_magic("fairing_config").__doc__.startswith("::\n\n  %fairing_config [")


@pytest.mark.parametrize("flags, message", [
    ("--gpus -1", "gpus '-1' must be a whole number, 0 or more"),
    ("--memory '2 Gi'", "memory '2 Gi' is not a Kubernetes quantity; write it like 2Gi or 512Mi (did you mean 2Gi?)"),
    ("--cpu 2Gi", "cpu '2Gi' looks like an amount of memory"),
    ("--toleration gpu:Sometimes", "toleration 'gpu:Sometimes'"),
    ("--volume nfs:data:/mnt", "volume 'nfs:data:/mnt'"),
    ("--workers 2", "--workers 2 needs --kind tfjob or pytorchjob"),
    ("--kind tfjbo", "--kind 'tfjbo' is not one of"),
])
def test_resource_and_placement_flags_are_checked_alike_on_every_backend(shell, flags, message, tmp_path):
    errors = {}
    for backend in ("local", "kubernetes"):
        result = run(shell, f"%%fairing_train --dry-run --backend {backend} --registry 127.0.0.1:5000/me {flags}\n"
                            "print('never')")
        assert isinstance(result.error_in_exec, ConfigError), (backend, result.error_in_exec)
        errors[backend] = str(result.error_in_exec)
    assert message in errors["local"]
    assert errors["local"] == errors["kubernetes"]
    result = run(shell, f"%%fairing_train --backend local {flags}\nprint('never')")  # a real run, too
    assert str(result.error_in_exec) == errors["local"]
    assert not (tmp_path / "home" / "runs").exists()


def test_one_notice_names_the_flags_the_backend_ignores(shell, capsys):
    capsys.readouterr()
    result = run(shell, "%%fairing_train --name ign --gpus 1 --cpu 2 --memory 1Gi --node-selector pool=gpu\n"
                        "print('ran')")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    notice = ("--cpu, --memory, --gpus and --node-selector apply to kubernetes; "
              "this local run ignores them")
    assert out.count(notice) == 1 and "ran" in out
    assert run(shell, "%%fairing_train --dry-run --gpus 1\nprint('x')").success
    assert "Ignored flags: --gpus applies to kubernetes; this local run ignores it" in capsys.readouterr().out
    assert run(shell, "%%fairing_train --dry-run --name quiet\nprint('x')").success
    assert "Ignored flags" not in capsys.readouterr().out


def test_image_only_names_the_run_flags_it_ignores(shell, capsys):
    result = run(shell, "%%fairing_train --dry-run --image-only --registry 127.0.0.1:5000/me --outputs y "
                        "--namespace team\ny = 1")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert ("Ignored flags: --namespace applies to kubernetes; --outputs to runs (not --image-only); "
            "this --image-only run ignores them") in out
    assert "Outputs brought back" not in out
