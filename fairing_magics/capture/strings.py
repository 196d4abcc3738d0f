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
its package does not import itself, becomes an import in main.py.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import sys
import tokenize
import types
from collections.abc import Mapping
from functools import lru_cache

EXPRESSION = "expression"  # pandas / numexpr: Python-like, ``@name`` for the caller's variables
FORMULA = "formula"  # patsy / statsmodels: ``lhs ~ rhs`` with Python calls inside terms

# The name of the called function (or method) -> how its string argument is read.
EVALUATORS: dict[str, str] = {
    "query": EXPRESSION, "eval": EXPRESSION, "evaluate": EXPRESSION, "re_evaluate": EXPRESSION,
    "dmatrix": FORMULA, "dmatrices": FORMULA, "from_formula": FORMULA, "ols": FORMULA,
    "wls": FORMULA, "gls": FORMULA, "glm": FORMULA, "logit": FORMULA, "probit": FORMULA,
    "mnlogit": FORMULA, "poisson": FORMULA, "negativebinomial": FORMULA, "quantreg": FORMULA,
    "rlm": FORMULA, "mixedlm": FORMULA, "gee": FORMULA, "ordinal_gee": FORMULA,
    "nominal_gee": FORMULA, "phreg": FORMULA, "glsar": FORMULA,
}
_STRING_KEYWORDS = ("expr", "formula", "ex")


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
            if not (previous is not None and previous.type == tokenize.OP and previous.string == "."):
                found.append(token.string)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            previous = token
    return tuple(dict.fromkeys(found))


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
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def names_in_strings(tree: ast.AST) -> tuple[str, ...]:
    """Names used inside the evaluator strings of ``tree`` (see the module docstring)."""
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in EVALUATORS:
            arguments = list(node.args[:1]) + [k.value for k in node.keywords if k.arg in _STRING_KEYWORDS]
            for argument in arguments:
                texts.extend(_strings(argument))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "~" in node.value:
            if len(node.value) < 2000 and "\n\n" not in node.value:
                texts.append(node.value)  # a formula kept in a variable first
    names: list[str] = []
    for text in texts:
        names.extend(names_in_expression(text.replace("~", "+").replace("@", " ")))
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=1024)
def _imported_by_package(package_file: str, child: str) -> bool:
    """Whether a package's ``__init__`` mentions the child (and so very likely imports it)."""
    try:
        with open(package_file, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return True
    return re.search(r"\b" + re.escape(child) + r"\b", text) is not None


def _chains(tree: ast.AST) -> list[tuple[str, tuple[str, ...]]]:
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
    return out


def submodule_imports(trees: list[ast.AST], modules: Mapping[str, str]) -> tuple[str, ...]:
    """Dotted names of submodules reached by attribute from the captured modules ``modules``
    ({bound name: module name}) that their package does not import itself (see above)."""
    found: set[str] = set()
    for tree in trees:
        for name, attrs in _chains(tree):
            module = sys.modules.get(modules.get(name, ""))
            for attr in attrs:
                child = getattr(module, attr, None)
                if not isinstance(child, types.ModuleType):
                    break
                package_file = getattr(module, "__file__", None) or ""
                if (child.__name__ == f"{module.__name__}.{attr}" and package_file.endswith("__init__.py")
                        and not _imported_by_package(package_file, attr)):
                    found.add(child.__name__)
                module = child
    return tuple(sorted(found))
