"""The settings table: every setting declared once in fairing_magics.config, and each of its
faces made from it (the environment, ``%config``, ``%fairing_config`` and its help and
completion, the snapshot). Each check walks the whole table, so a setting added tomorrow is
checked the same way. A real IPython shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairing_magics.completion import FairingCompleter
from fairing_magics.config import CONFIG_FLAGS, ENVIRONMENT, SETTINGS, FairingSettings, Settings
from tests.core.conftest import run


def sample(spec, tmp_path: Path):
    """A value of the setting's type other than its default: (text written, value in Settings)."""
    if spec.choices:
        value = next(c for c in reversed(spec.choices) if c != spec.make_default())
        return value, value
    if spec.repeats:
        return "10.0.0.1:5000, 10.0.0.2:5000", ("10.0.0.1:5000", "10.0.0.2:5000")
    if spec.kind is Path:
        return str(tmp_path / "elsewhere"), tmp_path / "elsewhere"
    if spec.kind is bool:
        return "true", True
    if spec.kind is int:
        return "7", 7
    if spec.kind is float:
        return "2.5", 2.5
    return "team-value", "team-value"


@pytest.mark.parametrize("spec", [s for s in SETTINGS if s.env], ids=lambda s: s.env)
def test_every_environment_variable_sets_its_setting(spec, monkeypatch, tmp_path):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    assert getattr(FairingSettings().snapshot(), spec.name) == getattr(Settings(), spec.name)
    text, value = sample(spec, tmp_path)
    monkeypatch.setenv(spec.env, text)
    snapshot = FairingSettings().snapshot()
    assert getattr(snapshot, spec.name) == value
    others = {s.name for s in SETTINGS} - {spec.name}
    assert {n: getattr(snapshot, n) for n in others} == {n: getattr(Settings(), n) for n in others}


@pytest.mark.parametrize("spec", [s for s in SETTINGS if s.env and s.choices], ids=lambda s: s.env)
def test_an_unknown_choice_in_the_environment_falls_back_to_the_default(spec, monkeypatch):
    monkeypatch.setenv(spec.env, "no-such-choice")
    assert getattr(FairingSettings().snapshot(), spec.name) == spec.make_default()


@pytest.mark.parametrize("spec", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_a_config_trait(shell, spec, tmp_path):
    text, value = sample(spec, tmp_path)
    literal = repr(list(value)) if spec.repeats else repr(value if spec.kind is not Path else text)
    assert run(shell, f"%config FairingMagics.{spec.name} = {literal}").success
    magics = shell.magics_manager.registry["FairingMagics"]
    assert getattr(magics.snapshot(), spec.name) == value


@pytest.mark.parametrize("spec", CONFIG_FLAGS, ids=lambda s: s.flag)
def test_every_flag_of_fairing_config_sets_its_setting_and_is_documented(shell, spec, tmp_path,
                                                                         capsys):
    text, value = sample(spec, tmp_path)
    assert run(shell, f"%fairing_config {spec.flag} '{text}'").success
    magics = shell.magics_manager.registry["FairingMagics"]
    assert getattr(magics.snapshot(), spec.name) == value
    shown = capsys.readouterr().out
    assert f"{spec.name} " in shown and (",".join(value) if spec.repeats else str(value)) in shown
    doc = shell.find_line_magic("fairing_config").__doc__
    assert spec.flag in doc and " ".join(spec.help.split()[:3]) in " ".join(doc.split())
    assert spec.env in " ".join(doc.split())
    offer = FairingCompleter(magics).complete_line(f"%fairing_config {spec.flag} ")
    if spec.choices:
        assert offer.words == tuple(sorted(spec.choices))
    else:
        assert offer is None  # free text: IPython's own completions stay


def test_a_flag_outside_its_choices_names_them(shell):
    for spec in (s for s in CONFIG_FLAGS if s.choices):
        result = run(shell, f"%fairing_config {spec.flag} nope")
        assert not result.success
        choices = ", ".join(spec.choices)
        assert str(result.error_in_exec) == f"{spec.flag} 'nope' is not one of: {choices}"


def test_list_flags_add_or_replace_as_declared(shell):
    magics = shell.magics_manager.registry["FairingMagics"]
    assert run(shell, "%fairing_config --insecure-registry a:1 --insecure-registry b:2,c:3").success
    assert run(shell, "%fairing_config --insecure-registry a:1 --insecure-registry d:4").success
    assert magics.snapshot().insecure_registries == ("a:1", "b:2", "c:3", "d:4")  # adds
    assert run(shell, "%fairing_config --extra-index-url https://x/simple,https://y/simple").success
    assert run(shell, "%fairing_config --extra-index-url https://z/simple").success
    assert magics.snapshot().extra_index_urls == ("https://z/simple",)  # replaces
    assert run(shell, "%fairing_config --extra-index-url ''").success
    assert magics.snapshot().extra_index_urls == ()


def test_the_readme_names_every_environment_variable():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert [name for name in ENVIRONMENT if f"`{name}`" not in readme] == []
