"""Tab completion of the magics' flags and values, in IPython and JupyterLab.

:func:`register` adds one matcher to the shell's completer (IPython's matcher API v2,
``IPCompleter.custom_matchers``). Terminal IPython calls it on TAB; in Jupyter the kernel answers
the frontend's ``complete_request`` with the same completer, so JupyterLab and Notebook get the
same completions. It completes, on a line that calls one of our magics:

- the flags of that magic (read from its own argument parser, so a new flag completes at once;
  a flag already given is not offered again unless it may repeat);
- the values of ``--backend``, ``--kind``, ``--builder``, ``--ui``, ``--requirements``,
  ``--expose``, ``--runtime``, ``--platform``, ``--outputs-from`` and ``--figure-format``;
- run names for ``%fairing_logs`` / ``%fairing_cancel`` (and ``--from-run``): this kernel's runs
  and those recorded under ``FAIRING_HOME``; endpoint names for ``%fairing_undeploy``; and for
  ``%fairing_deploy``, the notebook's variables that hold a model (anything with ``predict``).

Lines that call no magic of ours are left to IPython's other matchers. This module knows
IPython's completer, as :mod:`fairing_magics.magics` knows its magics: the two are the
extension's only IPython-facing code.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_MAGIC_CALL = re.compile(r"(?:^|[\s=(])(%{1,2})(fairing_[a-z]+)(?=\s|$)")
_COMMON_PLATFORMS = ("linux/amd64", "linux/arm64")


def _choices() -> dict[tuple[str, str], Callable[[], Iterable[str]]]:
    """(magic, flag) -> the values it takes; ``*`` stands for every magic."""
    from fairing_magics.config import BACKENDS, CONFIG_FLAGS, FIGURE_FORMATS
    from fairing_magics.displays import OUTPUTS_FROM
    from fairing_magics.train_request import CACHE_FLAG_MODES

    def training_kinds():
        from fairing_magics.kube.api_resources import TRAINING_KINDS

        return TRAINING_KINDS

    def checked_kinds():
        from fairing_magics.kube.preflight import CHECKED_KINDS

        return CHECKED_KINDS

    def builders():
        from fairing_magics.image.publish import BUILDERS

        return BUILDERS

    def kserve_runtimes():
        from fairing_magics.deploy.kserve_runtime import RUNTIMES

        return RUNTIMES

    settings = {("fairing_config", spec.flag): (lambda spec=spec: spec.choices)
                for spec in CONFIG_FLAGS if spec.choices}  # --backend, --ui: the settings table's
    train_values = {"--kind": training_kinds, "--builder": builders,
                    "--platform": lambda: _COMMON_PLATFORMS, "--outputs-from": lambda: OUTPUTS_FROM,
                    "--figure-format": lambda: FIGURE_FORMATS, "--cache": lambda: CACHE_FLAG_MODES}
    train = {(magic, flag): values for magic in ("fairing_train", "fairing_notebook")
             for flag, values in train_values.items()}  # the magics that take every train flag
    return {
        ("*", "--backend"): lambda: BACKENDS,
        ("fairing_undeploy", "--backend"): lambda: ("kubernetes", "docker"),
        **settings,
        **train,
        ("fairing_doctor", "--kind"): checked_kinds,
        ("fairing_deploy", "--expose"): lambda: ("clusterip", "nodeport", "loadbalancer"),
        ("fairing_deploy", "--runtime"): kserve_runtimes,
    }


@dataclass(frozen=True)
class Offer:
    """What to offer for the text before the cursor: ``words`` completing ``fragment``.

    ``closed``: the words are all there is (flags, a flag's fixed values, run names), so other
    completions (file names, Python names) would only mislead and are suppressed.
    """

    fragment: str
    words: tuple[str, ...]
    kind: str = "param"
    closed: bool = True


class FairingCompleter:
    """The matcher's logic: ``completer(context) -> SimpleMatcherResult`` (IPython's matcher
    API v2; :func:`register` hands IPython a function calling it).

    ``magics`` is the extension's :class:`~fairing_magics.magics.FairingMagics` (its parsers,
    runs and settings).
    """

    def __init__(self, magics):
        self.magics = magics

    def __call__(self, context):
        from IPython.core.completer import SimpleCompletion

        offer = self.complete_line(context.line_with_cursor)
        if offer is None:
            return {"completions": []}
        result = {"completions": [SimpleCompletion(text=word, type=offer.kind)
                                  for word in offer.words],
                  "suppress": offer.closed or bool(offer.words)}
        # IPython replaces this suffix of its token
        if (context.token or "").endswith(offer.fragment):
            result["matched_fragment"] = offer.fragment
        return result

    # -- what to offer (pure given the magics' state; tests call it directly) ---------------
    def complete_line(self, line: str) -> Offer | None:
        """What to offer for ``line`` (the text up to the cursor); None when the line calls
        none of our magics, or is at a value we know nothing about (``--include`` takes a path:
        IPython's file completion is the right one there)."""
        calls = list(_MAGIC_CALL.finditer(line))
        if not calls:
            return None
        match = calls[-1]  # the magic nearest the cursor
        name = match.group(2)
        method = self._magic(name, cell=match.group(1) == "%%")
        parser = getattr(method, "parser", None)
        if parser is None:
            return None
        words = line[match.end():].split(" ")
        fragment, before = words[-1], [w for w in words[:-1] if w]
        flag, value = self._flag_with_value(parser, before, fragment)
        if flag is not None:
            values = self._values(name, flag)
            if values is None:
                return None
            return Offer(value, tuple(sorted(v for v in values if v.startswith(value))))
        if fragment.startswith("-"):
            return Offer(fragment, tuple(self._flags(parser, before, fragment)))
        positional = self._positional_values(name, before, parser)
        if positional is None:
            return None
        closed = name != "fairing_deploy"  # a model may also be an s3:// URI or a .pkl path
        return Offer(fragment, tuple(sorted(v for v in positional if v.startswith(fragment))),
                     kind="instance", closed=closed)

    def _magic(self, name: str, *, cell: bool):
        kind = "cell" if cell else "line"
        if name not in self.magics.magics.get(kind, {}):
            return None
        return getattr(self.magics, name, None)

    @staticmethod
    def _flag_with_value(parser, before: list[str], fragment: str) -> tuple[str | None, str]:
        """The flag whose value is being typed (``--backend lo`` or ``--backend=lo``), if any."""
        takes_value = {option for action in parser._actions
                       if action.option_strings and action.nargs != 0
                       for option in action.option_strings}
        if fragment.startswith("--") and "=" in fragment:
            flag, _, value = fragment.partition("=")
            return (flag, value) if flag in takes_value else (None, "")
        if before and before[-1] in takes_value:
            return before[-1], fragment
        return None, ""

    @staticmethod
    def _flags(parser, before: list[str], fragment: str) -> list[str]:
        given = set(before)
        offered = []
        for action in parser._actions:
            repeatable = type(action).__name__ in ("_AppendAction", "_ExtendAction", "_CountAction")
            for option in action.option_strings:
                if option.startswith(fragment) and option.startswith("--") and \
                        (repeatable or not given.intersection(action.option_strings)):
                    offered.append(option)
        return sorted(offered)

    def _values(self, magic: str, flag: str) -> Iterable[str] | None:
        """The values ``flag`` takes, or None when they are free text (a name, a path)."""
        if flag == "--from-run":
            return self._run_names()
        table = _choices()
        values = table.get((magic, flag)) or table.get(("*", flag))
        return values() if values is not None else None

    def _positional_values(self, magic: str, before: list[str], parser) -> Iterable[str] | None:
        """Values of a magic's positional argument while none is given yet (None: free text)."""
        takes_value = {option for action in parser._actions
                       if action.option_strings and action.nargs != 0
                       for option in action.option_strings}
        given = [w for i, w in enumerate(before) if not w.startswith("-")
                 and not (i and before[i - 1] in takes_value)]
        if given:
            return ()
        if magic in ("fairing_logs", "fairing_cancel"):
            return self._run_names()
        if magic == "fairing_undeploy":
            return self._endpoint_names()
        if magic == "fairing_deploy":
            return self._model_variables()
        return None

    def _run_names(self) -> list[str]:
        from fairing_magics.run import read_records

        names = {run.name for run in self.magics.runs.all()}
        try:
            names.update(record["name"] for record in read_records(self.magics.snapshot().runs_root)
                         if record.get("name"))
        except OSError:  # an unreadable runs folder must not break TAB
            pass
        return sorted(names)

    @staticmethod
    def _endpoint_names() -> list[str]:
        from fairing_magics.deploy import ENDPOINTS

        return sorted({endpoint.name for endpoint in ENDPOINTS.all()})

    def _model_variables(self) -> list[str]:
        """The notebook's variables %fairing_deploy can serve: objects with ``predict()`` and
        functions ``f(x)``."""
        namespace = self.magics.shell.user_ns
        hidden = getattr(self.magics.shell, "user_ns_hidden", {})
        return sorted(name for name, value in list(namespace.items())
                      if not name.startswith("_") and name not in hidden
                      and not isinstance(value, type)
                      and (callable(getattr(value, "predict", None))
                           or isinstance(value, types.FunctionType)))


def register(shell, magics):
    """Add our matcher to ``shell``'s completer and return it (for :func:`unregister`); None
    when this IPython has no matcher API v2 (before 8.6: the magics work, their flags just do
    not complete)."""
    completer = getattr(shell, "Completer", None)
    if completer is None or not hasattr(completer, "custom_matchers"):
        return None
    try:
        from IPython.core.completer import SimpleCompletion  # noqa: F401 - API v2 is there
    except ImportError:
        return None
    logic = FairingCompleter(magics)

    def fairing_matcher(context):
        return logic(context)

    fairing_matcher.matcher_api_version = 2  # IPython reads these two attributes
    fairing_matcher.matcher_identifier = "fairing_magics.completion"
    fairing_matcher.logic = logic
    completer.custom_matchers.append(fairing_matcher)
    return fairing_matcher


def unregister(shell, matcher) -> None:
    completer = getattr(shell, "Completer", None)
    if completer is not None and matcher in getattr(completer, "custom_matchers", []):
        completer.custom_matchers.remove(matcher)
