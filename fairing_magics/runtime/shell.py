"""IPython's expansion of ``{expr}`` and ``$name`` in ``!cmd`` lines, for jobs without IPython.

``!echo {path}`` and ``!ls $folder`` run with the notebook's values spliced in: IPython formats
the command with its ``DollarFormatter`` against the user namespace before the shell sees it,
and leaves the command as it is when that fails (``$HOME`` with no Python ``HOME`` reaches the
shell). The job has no IPython, so the same rules are kept here (standard library only; shipped
in every bundle as ``fairing_shell.py``).
"""

import re
import string

_DOLLAR = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")


class _DollarFormatter(string.Formatter):
    """``{expr}`` fields evaluated in full, and ``$name`` (``$$`` for a literal ``$``)."""

    def parse(self, format_string):
        for literal, field, spec, conversion in string.Formatter.parse(self, format_string):
            done, text = 0, ""
            for match in _DOLLAR.finditer(literal):
                before, name = match.group(1, 2)
                if name.startswith("$"):
                    text += before + name
                else:
                    yield text + before, name, "", None
                    text = ""
                done = match.end()
            yield text + literal[done:], field, spec, conversion

    def vformat(self, format_string, args, kwargs):
        out = []
        for literal, field, spec, conversion in self.parse(format_string):
            if literal:
                out.append(literal)
            if field is not None:
                if spec:
                    field = field + ":" + spec
                value = eval(field, dict(kwargs))  # noqa: S307 - the notebook's own expression
                out.append(self.format_field(self.convert_field(value, conversion), ""))
        return "".join(out)


def expand(command, namespace):
    """``command`` with the notebook's values spliced in, as IPython would; unchanged when that
    fails."""
    try:
        return _DollarFormatter().vformat(command, [], namespace)
    except Exception:  # noqa: BLE001 - IPython keeps the command as it is on any failure
        return command
