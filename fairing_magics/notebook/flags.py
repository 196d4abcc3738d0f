"""The flags of a notebook job, shared by ``%fairing_notebook`` and ``fairing-magics submit``.

``NOTEBOOK``, ``-p NAME=VALUE`` (repeatable) and ``--schedule CRON``, then every flag of
``%%fairing_train`` (backend, kind, resources, env, includes, requirements, image, cache, ...),
taken from that magic's own parser so the two never drift apart.
"""

from __future__ import annotations

import argparse
import copy

from fairing_magics.cache import MODES

USAGE_HEAD = ("NOTEBOOK [-p NAME=VALUE]... [--schedule CRON] [--backend local|docker|kubernetes] "
              "[--kind ...] [--cpu C] [--memory M] [--gpus G] [--cache [on|refresh|off]] "
              "[the flags of %%fairing_train]")


def notebook_parser(prog: str, train_parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser of a notebook job's flags (see the module docstring); ``train_parser`` is
    ``%%fairing_train``'s (``FairingMagics.fairing_train.parser``)."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False,
                                     usage="%(prog)s " + USAGE_HEAD.replace("%", "%%"))
    parser.add_argument("notebook", nargs="?", default=None, help="the .ipynb file to run")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter, injected after the cell tagged 'parameters' as papermill "
                        "does (True/False/None, numbers, else a string); repeatable")
    parser.add_argument("--schedule", default="", metavar="CRON",
                        help="kubernetes: run on this cron schedule as a CronJob (e.g. '0 6 * * *', "
                        "'@hourly') instead of once now")
    for action in train_parser._actions:  # argparse keeps them there
        if action.dest == "help":
            continue
        own = copy.copy(action)  # a copy: a default changed here must not change %%fairing_train
        if own.dest == "name":
            own.default = ""
            own.help = "run name (default: the notebook's file name); a unique suffix is added"
        parser._add_action(own)
    return parser


def parse_notebook_args(parser: argparse.ArgumentParser, argv: list[str]):
    """Parse ``argv``; ``--cache NOTEBOOK`` (the notebook taken for the cache mode) is mended."""
    args = parser.parse_args(argv)
    if args.notebook is None and args.cache not in (None, *MODES):
        args.notebook, args.cache = args.cache, "on"
    return args
