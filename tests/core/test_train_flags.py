"""The train flags are declared once (fairing_magics.train_request.TRAIN_FLAGS) and every
train-like magic takes them from there through one decorator: %%fairing_train, and here a magic
of a test's own, registered in a real IPython shell, that takes some of them with a changed
default, as %%fairing_sweep and %fairing_notebook do."""

from __future__ import annotations

import argparse

import pytest
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from fairing_magics.magic_flags import parse_flags, train_flags
from fairing_magics.train_request import (
    GROUPS,
    TRAIN_FLAGS,
    TrainOptions,
    add_train_flags,
    options_from_args,
)
from tests.core.conftest import run


@magics_class
class TrialMagics(Magics):
    """A train-like magic of the test's own: its own flag, then some of the train flags."""

    seen: list = []

    @magic_arguments(name="%trial_run")
    @argument("--trials", type=int, default=3, help="how many trials")
    @train_flags(without=("--no-wait", "--image-only", "--builder"),
                 change={"--name": {"default": "trial", "help": "trial name"}})
    @cell_magic
    def trial_run(self, line, cell):
        """Run the cell as trials."""
        args = parse_flags(self.trial_run, line)
        self.seen.append((args.trials, options_from_args(args)))


def _option_flags(parser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"]


def test_fairing_train_takes_exactly_the_declared_flags_in_their_groups(shell):
    parser = shell.find_cell_magic("fairing_train").__self__.fairing_train.parser
    assert _option_flags(parser) == [flag.name for flag in TRAIN_FLAGS]
    headings = {group.title: [a.option_strings[0] for a in group._group_actions]
                for group in parser._action_groups if group.title in GROUPS.values()}
    assert headings == {heading: [f.name for f in TRAIN_FLAGS if f.group == group]
                        for group, heading in GROUPS.items()}
    doc = shell.find_cell_magic("fairing_train").__doc__
    for heading in GROUPS.values():
        assert f"\n{heading}:\n" in doc


@pytest.fixture
def trial_shell(shell):
    shell.register_magics(TrialMagics)
    TrialMagics.seen.clear()
    yield shell
    shell.magics_manager.magics["cell"].pop("trial_run", None)
    shell.magics_manager.registry.pop("TrialMagics", None)


def test_another_magic_takes_the_train_flags_from_the_same_place(trial_shell):
    shell = trial_shell
    parser = TrialMagics.trial_run.parser
    left_out = ("--no-wait", "--image-only", "--builder")
    taken = [f.name for f in TRAIN_FLAGS if f.name not in left_out]
    assert _option_flags(parser) == ["--trials", *taken]
    assert run(shell, "%%trial_run --trials 5 --cpu 2 --env A=1 --outputs w,b --include data\n"
                      "pass").success
    trials, options = TrialMagics.seen[-1]
    assert trials == 5
    assert options == TrainOptions(name="trial", cpu="2", env={"A": "1"}, outputs=("w", "b"),
                                   includes=("data",))
    refused = run(shell, "%%trial_run --no-wait\npass")
    assert not refused.success and "unknown flag --no-wait" in str(refused.error_in_exec)
    doc = shell.find_cell_magic("trial_run").__doc__
    assert "trial name" in doc and "\nkubernetes:\n" in doc and "--trials" in doc
    typo = run(shell, "%%trial_run --cpus 1\npass")
    assert "%trial_run? lists every flag" in str(typo.error_in_exec)


def test_fairing_sweep_takes_its_train_flags_from_the_same_place(shell):
    from fairing_magics.sweep.options import NOT_FOR_SWEEPS

    parser = shell.find_cell_magic("fairing_sweep").__self__.fairing_sweep.parser
    flags = _option_flags(parser)
    shared = [f.name for f in TRAIN_FLAGS if f.name not in NOT_FOR_SWEEPS]
    assert flags[-len(shared):] == shared  # after its own (--param, --objective, ...)
    assert not set(flags[:-len(shared)]) & {f.name for f in TRAIN_FLAGS}
    assert parser.get_default("name") == "sweep"


def test_a_flag_that_is_no_train_flag_is_refused_when_the_magic_is_declared():
    with pytest.raises(ValueError, match="no train flag --gpu"):
        train_flags(without=("--gpu",))
    with pytest.raises(ValueError, match="no train flag --nam"):
        train_flags(change={"--nam": {"default": "x"}})


def test_a_command_line_parser_takes_the_same_flags_from_the_same_place(shell):
    parser = argparse.ArgumentParser(prog="fairing-magics submit", add_help=False)
    add_train_flags(parser, change={"--name": {"default": ""}})
    train = shell.find_cell_magic("fairing_train").__self__.fairing_train.parser
    assert _option_flags(parser) == _option_flags(train)
    argv = ["--name", "nb", "--cpu", "2", "--env", "A=1", "--no-wait", "--volume", "pvc:d:/d"]
    assert options_from_args(parser.parse_args(argv)) == options_from_args(train.parse_args(argv))
    assert parser.parse_args([]).name == "" and train.parse_args([]).name == "train"


def test_options_of_the_defaults_are_the_default_options(shell):
    parser = shell.find_cell_magic("fairing_train").__self__.fairing_train.parser
    assert options_from_args(parser.parse_args([])) == TrainOptions()


def test_fairing_notebook_and_submit_take_the_train_flags_from_the_same_place(shell):
    from fairing_magics.magic_flags import parse_flags
    from fairing_magics.notebook.flags import (
        NOT_FOR_NOTEBOOKS,
        mend_notebook_args,
        notebook_parser,
    )

    magics = shell.find_line_magic("fairing_notebook").__self__
    magic = magics.fairing_notebook.parser
    command_line = notebook_parser("fairing-magics submit")
    shared = [f.name for f in TRAIN_FLAGS if f.name not in NOT_FOR_NOTEBOOKS]
    for parser in (magic, command_line):
        flags = _option_flags(parser)
        assert flags == ["--parameter", "--schedule", *shared]  # its own first (-p too)
        assert parser.get_default("name") == ""  # the notebook's file name names the run
    line = "nb.ipynb -p label='nightly run' --cpu 2 --cache refresh --schedule '0 6 * * *'"
    from_magic = parse_flags(magics.fairing_notebook, line, shell_words=True)
    from_command_line = command_line.parse_args(
        ["nb.ipynb", "-p", "label=nightly run", "--cpu", "2", "--cache", "refresh",
         "--schedule", "0 6 * * *"])
    assert vars(from_magic) == vars(from_command_line)
    assert from_magic.parameter == ["label=nightly run"] and from_magic.schedule == "0 6 * * *"
    assert options_from_args(from_magic) == TrainOptions(name="", cpu="2", cache="refresh")
    # --cache takes an optional value: the notebook after it is the notebook, the cache on
    mended = mend_notebook_args(command_line.parse_args(["--cache", "nb.ipynb"]))
    assert (mended.notebook, mended.cache) == ("nb.ipynb", "on")
    refused = run(shell, "%fairing_notebook nb.ipynb --image-only")
    assert not refused.success and "unknown flag --image-only" in str(refused.error_in_exec)
