"""A sweep's search space: ``--param NAME=DIST:ARGS`` parsed into values (pure).

Distributions (the words Katib and Optuna use for the same four things):

- ``uniform:LOW:HIGH[:STEP]``: a float in [LOW, HIGH] (on a grid of STEP);
- ``loguniform:LOW:HIGH``: a float whose logarithm is uniform (learning rates), LOW > 0;
- ``int:LOW:HIGH[:STEP]``: an integer in [LOW, HIGH];
- ``choice:A,B,C``: one of the values, typed as the cell will see them: all integers give ints,
  all numbers floats, ``true``/``false`` booleans, anything else strings.

Each trial's cell sees every parameter as a plain name of that type. Bad input is refused with
one line naming the flag: an unknown distribution, an empty or inverted range, a step that does
not fit, a grid over a continuous range (:meth:`SearchSpace.grid`).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Sequence
from dataclasses import dataclass

from fairing_magics.errors import ConfigError

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
EXAMPLE = "--param lr=loguniform:1e-4:1e-1"
#: Characters a choice may not hold: Katib puts a value into its trial template's JSON text
#: (``${trialParameters.NAME}``) as it is, and a comma separates choices.
_UNSAFE = set('"\\${}\n\r\t,')
_TRUE, _FALSE = ("true", "True"), ("false", "False")


@dataclass(frozen=True)
class Param:
    """One dimension of the search: ``kind`` is a distribution of :data:`DISTRIBUTIONS`."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple = ()

    @property
    def value_type(self) -> str:
        """How the cell sees a value: ``float``, ``int``, ``bool`` or ``str``."""
        if self.kind in ("uniform", "loguniform"):
            return "float"
        if self.kind == "int":
            return "int"
        kinds = {type(c) for c in self.choices}
        if kinds == {bool}:
            return "bool"
        if kinds == {int}:
            return "int"
        if kinds <= {int, float}:
            return "float"
        return "str"

    @property
    def continuous(self) -> bool:
        return self.kind in ("uniform", "loguniform") and self.step is None

    def grid(self) -> tuple | None:
        """Every value a grid search tries, or None for a continuous range."""
        if self.kind == "choice":
            return self.choices
        if self.continuous or self.kind == "loguniform":
            return None
        step = self.step or 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        if self.kind == "int":
            return tuple(int(self.low + i * step) for i in range(count))
        return tuple(round(self.low + i * step, 12) for i in range(count))

    def text(self, value) -> str:
        """``value`` as the trial's environment carries it (what Katib substitutes too)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.value_type == "float":
            return repr(float(value))
        if self.value_type == "int":
            return str(int(value))
        return str(value)

    def describe(self) -> str:
        """``lr: loguniform float in [0.0001, 0.1]`` for the dry run and the panel."""
        if self.kind == "choice":
            return f"{self.name}: one of {', '.join(map(repr, self.choices))} ({self.value_type})"
        step = f", step {format_number(self.step)}" if self.step is not None else ""
        what = {"uniform": "uniform float", "loguniform": "log-uniform float",
                "int": "integer"}[self.kind]
        return (f"{self.name}: {what} in "
                f"[{format_number(self.low)}, {format_number(self.high)}]{step}")


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep, in the order given."""

    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    @property
    def types(self) -> dict[str, str]:
        """name -> value type: what the bundle's manifest records (the runtime converts by it)."""
        return {p.name: p.value_type for p in self.params}

    def grid(self) -> dict[str, tuple]:
        """Every parameter's grid values; ConfigError naming a continuous one."""
        grid = {}
        for p in self.params:
            values = p.grid()
            if values is None:
                hint = ("a log-uniform range has no grid: use choice:... with the values to try"
                        if p.kind == "loguniform" else
                        f"give a step (uniform:{format_number(p.low)}:{format_number(p.high)}"
                        ":STEP) or choice:...")
                raise ConfigError(f"--algorithm grid needs a finite set of values for {p.name}, "
                                  f"but it is a continuous range: {hint}")
            grid[p.name] = values
        return grid

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def texts(self, values: dict) -> dict[str, str]:
        """Each parameter's value as text (the trial's ``FAIRING_PARAM_<name>``)."""
        return {p.name: p.text(values[p.name]) for p in self.params}

    def convert(self, texts: dict[str, str]) -> dict:
        """Values from their text (what a Katib trial's parameter assignments hold)."""
        out = {}
        for p in self.params:
            text = texts.get(p.name)
            if text is None:
                continue
            kind = p.value_type
            try:
                out[p.name] = (float(text) if kind == "float" else
                               int(float(text)) if kind == "int" else
                               text in _TRUE or text == "1" if kind == "bool" else text)
            except ValueError:
                out[p.name] = text
        return out

    def describe(self) -> str:
        return "\n".join("  " + p.describe() for p in self.params)


def format_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def parse_space(texts: Sequence[str]) -> SearchSpace:
    """``--param`` flags to a :class:`SearchSpace`; ConfigError for the first bad one."""
    if not texts:
        raise ConfigError(f"a sweep needs at least one --param NAME=DIST:ARGS (e.g. {EXAMPLE})")
    params: list[Param] = []
    for text in texts:
        param = parse_param(text)
        if any(p.name == param.name for p in params):
            raise ConfigError(f"--param {param.name} is given twice: give each parameter once")
        params.append(param)
    return SearchSpace(tuple(params))


def parse_param(text: str) -> Param:
    """One ``--param NAME=DIST:ARGS``; ConfigError with one line saying what to write."""
    flag = f"--param {text}"
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not spec:
        raise ConfigError(f"{flag}: write NAME=DIST:ARGS, e.g. {EXAMPLE}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"{flag}: {name!r} is not a Python name; the cell reads each "
                          "parameter as a plain variable")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{flag}: unknown distribution {kind!r}; use one of "
                          f"{', '.join(DISTRIBUTIONS)} (e.g. {EXAMPLE}, --param depth=int:2:8, "
                          "--param kernel=choice:rbf,linear)")
    if kind == "choice":
        return Param(name, kind, choices=_choices(flag, rest))
    args = [a.strip() for a in rest.split(":")] if rest else []
    usage = {"uniform": "uniform:LOW:HIGH[:STEP]", "loguniform": "loguniform:LOW:HIGH",
             "int": "int:LOW:HIGH[:STEP]"}[kind]
    if len(args) not in ((2,) if kind == "loguniform" else (2, 3)):
        raise ConfigError(f"{flag}: write {name}={usage}")
    numbers = []
    for arg in args:
        try:
            number = int(arg) if kind == "int" else float(arg)
        except ValueError:
            what = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"{flag}: {arg!r} is not {what} ({name}={usage})") from None
        if not math.isfinite(number):
            raise ConfigError(f"{flag}: {arg!r} is not a finite number")
        numbers.append(number)
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    if low > high:
        raise ConfigError(f"{flag}: the range is inverted "
                          f"({format_number(low)} > {format_number(high)}): "
                          f"write {name}={kind}:{format_number(high)}:{format_number(low)}")
    if low == high:
        raise ConfigError(f"{flag}: the range is empty (LOW equals HIGH); a fixed value belongs "
                          "in the cell, not in the search")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{flag}: a log-uniform range needs LOW > 0 (its logarithm is "
                          "sampled), e.g. loguniform:1e-5:1e-1")
    if step is not None and (step <= 0 or step > high - low):
        raise ConfigError(f"{flag}: the step {format_number(step)} must be above 0 and at most "
                          f"HIGH - LOW ({format_number(high - low)})")
    return Param(name, kind, low, high, step)


def _choices(flag: str, rest: str) -> tuple:
    raw = [c.strip() for c in rest.split(",")] if rest else []
    if any(not c for c in raw) or len(raw) < 2:
        raise ConfigError(f"{flag}: choice needs two or more values separated by commas, "
                          "e.g. choice:rbf,linear")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"{flag}: a value is listed twice")
    bad = sorted({ch for c in raw for ch in c if ch in _UNSAFE or ch.isspace()})
    if bad:
        raise ConfigError(f"{flag}: a choice may not hold {' '.join(repr(b) for b in bad)} "
                          "(values go into the trial's environment and Katib's template as text)")
    if all(c in _TRUE + _FALSE for c in raw):
        return tuple(c in _TRUE for c in raw)
    try:
        return tuple(int(c) for c in raw)
    except ValueError:
        pass
    try:
        values = tuple(float(c) for c in raw)
        if all(math.isfinite(v) for v in values):
            return values
    except ValueError:
        pass
    return tuple(raw)
