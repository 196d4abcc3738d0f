"""How the magics' flags are declared and read: IPython's ``magic_arguments``, from the tables.

- :func:`train_flags`: the flags of ``%%fairing_train``
  (:data:`fairing_magics.train_request.TRAIN_FLAGS`) as one decorator of IPython argument groups,
  for every magic that runs a cell or a notebook the same way (``%%fairing_sweep`` takes some of
  them, in its own words);
- :class:`flags_of`: the flags a function adds to any parser, as one decorator (a notebook job's,
  which ``%fairing_notebook`` and ``fairing-magics submit`` share);
- :func:`config_flags` and :func:`environment_in_doc`: ``%fairing_config``'s flags and the
  environment variables its help names, from the settings table (:mod:`fairing_magics.config`);
- :func:`parse_flags`: a magic's line as a shell would split it, each flag written in full, an
  unknown flag refused with the closest real one (:func:`unknown_arguments_message`).

Like :mod:`fairing_magics.magics` and :mod:`fairing_magics.completion` (which reads the parsers
these make), this module knows IPython.
"""

from __future__ import annotations

import textwrap

from IPython.core.error import UsageError
from IPython.core.magic_arguments import ArgDecorator, argument
from IPython.utils.process import arg_split

from fairing_magics.config import CONFIG_FLAGS, ENVIRONMENT
from fairing_magics.train_request import add_train_flags
from fairing_magics.train_request import train_flags as flags_of_train


def parse_flags(magic, line: str, *, shell_words: bool = False):
    """Parse a magic's flags; a value in quotes (``--name "linreg"``, ``--memory "2 Gi"``) loses
    its quotes, as in a shell (IPython's splitter keeps them). With ``shell_words`` the line is
    split entirely as a shell splits it (``-p label='nightly run'`` is one word, quotes inside a
    word too).

    A flag must be written in full: argparse would take ``--output`` for ``--outputs`` (and an
    abbreviation that is unique today becomes ambiguous, or silently another flag, when a flag is
    added). An unknown flag is refused with the closest real one (``--cpus``: did you mean
    ``--cpu``?)."""
    parser = magic.parser
    parser.allow_abbrev = False
    try:
        argv = (arg_split(line, posix=True) if shell_words else
                [_unquote(token) for token in arg_split(line)])
        args, extra = parser.parse_known_args(argv)
    except UsageError:
        raise
    except SystemExit as exc:  # argparse on --help and some errors
        raise UsageError(f"bad arguments: {line!r}") from exc
    if extra:
        raise UsageError(unknown_arguments_message(parser, extra))
    return args


def unknown_arguments_message(parser, extra: list[str]) -> str:
    """One line for arguments the parser does not know, with the closest flag for each."""
    import difflib

    usage = f"%{parser.prog}? lists every flag"
    flags = [option for action in parser._actions for option in action.option_strings]
    for token in extra:
        if not token.startswith("-"):
            continue
        given = token.split("=", 1)[0]
        starting = [flag for flag in flags if flag.startswith(given)]
        if len(starting) > 1:
            closest = difflib.get_close_matches(given, starting, n=2, cutoff=0.8)
            if len(closest) == 1:  # one much closer than the others is meant (--output: --outputs)
                starting = closest
        if len(starting) > 1:
            return f"unknown flag {given}: did you mean one of {', '.join(starting)}? ({usage})"
        close = starting or difflib.get_close_matches(given, flags, n=1, cutoff=0.6)
        if close:
            return f"unknown flag {given}: did you mean {close[0]}? ({usage})"
        return f"unknown flag {given} ({usage})"
    return f"unexpected argument{'s' if len(extra) > 1 else ''} {' '.join(extra)!r} ({usage})"


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


class train_flags(ArgDecorator):  # noqa: N801 - a decorator, named as IPython names its own
    """The flags of ``%%fairing_train``, for every magic that runs a cell or a notebook the same
    way: :data:`fairing_magics.train_request.TRAIN_FLAGS` in their argument groups (run, image,
    kubernetes), but those named in ``without``, with the argparse keywords in ``change``
    replaced (``change={"--name": {"default": "sweep"}}``). One of IPython's argument
    decorators: it goes between ``@magic_arguments`` and the magic, with the magic's own
    ``@argument`` lines, which stay outside its groups::

        @magic_arguments(name="%fairing_sweep")
        @argument("--trials", type=int, default=10)
        @train_flags(without=("--no-wait", "--image-only"))
        @cell_magic
        def fairing_sweep(self, line, cell): ...

    The parser gets them from :func:`fairing_magics.train_request.add_train_flags`, as a command
    line's parser does; :func:`fairing_magics.train_request.options_from_args` turns the parsed
    flags into options. A name that is no train flag is refused here, as the magic is declared.
    """

    def __init__(self, without=(), change=None):
        flags_of_train(without, change)  # refuse a name that is no train flag now
        self.without, self.change = tuple(without), dict(change or {})

    def add_to_parser(self, parser, group):
        add_train_flags(parser, self.without, self.change)


class flags_of(ArgDecorator):  # noqa: N801 - a decorator, named as IPython names its own
    """The flags ``add(parser)`` puts into a parser, as one of IPython's argument decorators: a
    magic and a command line take them from the same function (``%fairing_notebook`` and
    ``fairing-magics submit``: :func:`fairing_magics.notebook.flags.add_notebook_flags`)."""

    def __init__(self, add):
        self.add = add

    def add_to_parser(self, parser, group):
        self.add(parser)


def config_flags(function):
    """The flags of ``%fairing_config``: one per setting the table gives a flag
    (:data:`fairing_magics.config.CONFIG_FLAGS`), in its order, with its help."""
    for spec in reversed(CONFIG_FLAGS):
        function = argument(spec.flag, **spec.flag_options())(function)
    return function


def environment_in_doc(function):
    """Name every setting's environment variable in ``function``'s help, from the table."""
    names = textwrap.fill(", ".join(ENVIRONMENT), width=88, initial_indent=" " * 8,
                          subsequent_indent=" " * 8).lstrip()
    function.__doc__ = function.__doc__.replace("{environment}", names)
    return function
