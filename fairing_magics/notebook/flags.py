"""The flags of a notebook job, shared by ``%fairing_notebook`` and ``fairing-magics submit``.

``NOTEBOOK``, ``-p NAME=VALUE`` (repeatable) and ``--schedule CRON``, then the train flags
(:func:`fairing_magics.train_request.add_train_flags`: backend, kind, resources, env, includes,
requirements, image, cache, ...), declared once for ``%%fairing_train``, with the run name
defaulting to the notebook's file name (all but ``--image-only``: a notebook job runs).
:func:`add_notebook_flags` puts them into a parser: the magic's (through
:class:`fairing_magics.magic_flags.flags_of`) and the command line's (:func:`notebook_parser`).
"""

from __future__ import annotations

import argparse

from fairing_magics.train_request import CACHE_FLAG_MODES, add_train_flags

USAGE_HEAD = ("NOTEBOOK [-p NAME=VALUE]... [--schedule CRON] [--backend local|docker|kubernetes] "
              "[--kind ...] [--cpu C] [--memory M] [--gpus G] [--cache [on|refresh|off]] "
              "[the flags of %%fairing_train]")
#: The train flags a notebook job does not take: it runs (or is scheduled), it is never only built.
NOT_FOR_NOTEBOOKS = ("--image-only",)
#: The train flags a notebook job takes in its own words.
NOTEBOOK_WORDS = {
    "--name": {"default": "",
               "help": "run name (default: the notebook's file name); a unique suffix is added"},
}


def add_notebook_flags(parser: argparse.ArgumentParser) -> None:
    """Add a notebook job's flags (see the module docstring) to ``parser``."""
    parser.add_argument("notebook", nargs="?", default=None, help="the .ipynb file to run")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter, injected after the cell tagged 'parameters' as "
                        "papermill does (True/False/None, numbers, else a string); repeatable")
    parser.add_argument("--schedule", default="", metavar="CRON",
                        help="kubernetes: run on this cron schedule as a CronJob "
                        "(e.g. '0 6 * * *', '@hourly') instead of once now")
    add_train_flags(parser, without=NOT_FOR_NOTEBOOKS, change=NOTEBOOK_WORDS)


def notebook_parser(prog: str) -> argparse.ArgumentParser:
    """The command line's parser of a notebook job's flags."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False,
                                     usage="%(prog)s " + USAGE_HEAD.replace("%", "%%"))
    add_notebook_flags(parser)
    return parser


def mend_notebook_args(args):
    """``--cache NOTEBOOK``: argparse takes the notebook for the cache mode (``--cache`` has an
    optional value); it means the cache on, and that notebook."""
    if args.notebook is None and args.cache not in (None, *CACHE_FLAG_MODES):
        args.notebook, args.cache = args.cache, "on"
    return args
