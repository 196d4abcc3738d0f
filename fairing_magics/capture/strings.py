"""Names the code reaches from inside strings, and submodules it reaches by attribute.

Libraries evaluate expressions given as strings in the caller's namespace: pandas
``df.query('a > @threshold')``, ``pd.eval('(df1 < 0.5) & (df2 < 0.5)')``, ``df.eval(...)``,
``numexpr.evaluate('x > 0.5')``, and formulas (patsy, statsmodels ``ols("y ~ np.sin(x1)",
data)``). Python never sees those names, so the free-name analysis does not either.
:data:`EVALUATORS` is the table of such calls (grow it with one line per function name); every
string literal given to them, and every string that looks like a formula (``~``), is read for
the names it uses. Those names are *soft*: taken from the kernel when it has them, silently left
out when it does not (they are usually columns of the data).

:func:`submodule_imports`: ``from statsmodels import graphics; graphics.gofplots.qqplot(...)``
works in the kernel only because another import loaded ``statsmodels.graphics.gofplots``. Each
attribute chain on a captured module that reaches a submodule the kernel has loaded, and that
its package's ``__init__`` does not import itself, becomes an import in main.py (an extra one
costs nothing; a missing one fails).
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import sys
import tokenize
import types
from collections.abc import Iterable, Mapping
from functools import lru_cache

EXPRESSION = "expression"  # pandas / numexpr: Python-like, ``@name`` for the caller's variables
FORMULA = "formula"  # patsy / statsmodels: ``lhs ~ rhs`` with Python calls inside terms
SHELL = "shell"  # an IPython ``!cmd``: ``{expr}`` fields and ``$name``

# The name of the called function (or method) -> how its string argument is read.
EVALUATORS: dict[str, str] = {
    "query": EXPRESSION, "eval": EXPRESSION, "evaluate": EXPRESSION, "re_evaluate": EXPRESSION,
    "dmatrix": FORMULA, "dmatrices": FORMULA, "from_formula": FORMULA, "ols": FORMULA,
    "wls": FORMULA, "gls": FORMULA, "glm": FORMULA, "logit": FORMULA, "probit": FORMULA,
    "mnlogit": FORMULA, "poisson": FORMULA, "negativebinomial": FORMULA, "quantreg": FORMULA,
    "rlm": FORMULA, "mixedlm": FORMULA, "gee": FORMULA, "ordinal_gee": FORMULA,
    "nominal_gee": FORMULA, "phreg": FORMULA, "glsar": FORMULA,
    "expand": SHELL,  # fairing_shell.expand: what a translated !cmd line calls
}
_STRING_KEYWORDS = ("expr", "formula", "ex")

# Attributes of captured values that keep an evaluator string and evaluate it again when the
# value is unpickled (statsmodels models and results re-run their formula).
VALUE_STRINGS: tuple[tuple[str, ...], ...] = (("formula",), ("model", "formula"))


@lru_cache(maxsize=4096)
def names_in_expression(text: str) -> tuple[str, ...]:
    """The Python names an evaluator string reads (``@name`` included; attributes, keywords and
    string literals inside it left out), in order of first use."""
    found: list[str] = []
    previous = None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text.replace("\n", " ")).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return tuple(dict.fromkeys(re.findall(r"(?<![\w.])[A-Za-z_]\w*", text)))
    for token in tokens:
        if token.type == tokenize.NAME and not keyword.iskeyword(token.string):
            if not (previous is not None and previous.type == tokenize.OP
                    and previous.string == "."):
                found.append(token.string)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            previous = token
    return tuple(dict.fromkeys(found))


def _shell_fields(command: str) -> str:
    """The Python parts of a ``!cmd`` line (``{expr}`` fields, ``$name``), space-separated."""
    fields = re.findall(r"(?<!\{)\{([^{}]+)\}", command)
    fields += [name for name in re.findall(r"(?<!\$)\$([A-Za-z_][\w.]*)", command)]
    return " ".join(fields)


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def names_in_strings(tree: ast.AST) -> tuple[str, ...]:
    """Names used inside the evaluator strings of ``tree`` (see the module docstring)."""
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in EVALUATORS:
            arguments = list(node.args[:1]) + [k.value for k in node.keywords
                                               if k.arg in _STRING_KEYWORDS]
            for argument in arguments:
                if EVALUATORS[_call_name(node)] == SHELL:
                    texts.extend(_shell_fields(text) for text in _strings(argument))
                else:
                    texts.extend(_strings(argument))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "~" in node.value:
            if len(node.value) < 2000 and "\n\n" not in node.value:
                texts.append(node.value)  # a formula kept in a variable first
    names: list[str] = []
    for text in texts:
        names.extend(names_in_expression(text.replace("~", "+").replace("@", " ")))
    return tuple(dict.fromkeys(names))


def names_in_value(value) -> tuple[str, ...]:
    """Names inside the evaluator strings a captured value keeps (:data:`VALUE_STRINGS`)."""
    names: list[str] = []
    for path in VALUE_STRINGS:
        obj = value
        for attr in path:
            try:
                obj = getattr(obj, attr, None)
            except Exception:  # noqa: BLE001 - properties that fail are not strings
                obj = None
            if obj is None:
                break
        if isinstance(obj, str) and len(obj) < 2000:
            names.extend(names_in_expression(obj.replace("~", "+").replace("@", " ")))
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=1024)
def _submodules_imported_by(package_file: str, package: str) -> frozenset[str]:
    """The direct submodules a package's ``__init__`` imports (``from . import a``,
    ``from .b import x``, ``import pkg.c``); None-like (everything) when it cannot be read."""
    try:
        with open(package_file, encoding="utf-8", errors="replace") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return frozenset({"*"})
    found = set()
    prefix = package + "."
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                (found.update(a.name for a in node.names) if not module
                 else found.add(module.split(".")[0]))
            elif module == package:
                found.update(a.name for a in node.names)
            elif module.startswith(prefix):
                found.add(module[len(prefix):].split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name[len(prefix):].split(".")[0] for a in node.names
                         if a.name.startswith(prefix))
    return frozenset(found)


@lru_cache(maxsize=4096)
def source_chains(source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """:func:`attribute_chains` of a definition's source (cached by text)."""
    return attribute_chains(ast.parse(source))


def attribute_chains(tree: ast.AST) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``name.a.b`` attribute chains read in ``tree``, as (name, ("a", "b"))."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            parts = []
            inner = node
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                out.append((inner.id, tuple(reversed(parts))))
    return tuple(dict.fromkeys(out))


def submodule_imports(chains: Iterable[tuple[str, tuple[str, ...]]],
                      modules: Mapping[str, str]) -> tuple[str, ...]:
    """Dotted names of submodules reached by the attribute ``chains`` (see :func:`attribute_chains`)
    from the captured modules ``modules`` ({bound name: module name}) that their package does
    not import itself (see above)."""
    found: set[str] = set()
    for name, attrs in chains:
        if name not in modules:
            continue
        module = sys.modules.get(modules.get(name, ""))
        for attr in attrs:
            child = getattr(module, attr, None)
            if not isinstance(child, types.ModuleType):
                break
            package_file = getattr(module, "__file__", None) or ""
            imported = (_submodules_imported_by(package_file, module.__name__) if package_file
                        else {"*"})
            if (child.__name__ == f"{module.__name__}.{attr}"
                    and package_file.endswith("__init__.py") and attr not in imported
                    and "*" not in imported):
                found.add(child.__name__)
            module = child
    return tuple(sorted(found))
