"""The CEL rules of a CRD (``x-kubernetes-validations``), evaluated as the API server does.

We use cel-python (``celpy``, Cloud Custodian's pure-Python CEL, maintained since 2020) rather
than the Rust-backed ``common-expression-language`` bindings: it is pure Python (no platform
wheel to match), implements the CEL spec's standard functions, and its ``matches()`` uses
RE2 (``google-re2``), the same regular-expression dialect the API server's cel-go uses, so a
pattern means here what it means on a cluster.

Semantics kept from ``apiextensions-apiserver/pkg/apiserver/schema/cel``: each rule runs with
``self`` bound to the value at its schema node; a rule that names ``oldSelf`` is a transition
rule and runs only on an update, where the old object has a value at the same place; a rule
that evaluates to false gives ``Invalid value: "<type>": <message>`` at that node's path (or at
``fieldPath`` when the rule names one); an error while evaluating is reported the same way.
"""

from __future__ import annotations

import re
from functools import cache

import celpy

_OLD_SELF = re.compile(r"\boldSelf\b")
_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number"}


@cache
def _program(rule: str):
    env = celpy.Environment()
    return env.program(env.compile(rule))


def is_transition_rule(rule: dict) -> bool:
    """True for rules comparing against ``oldSelf`` (they only run on updates)."""
    return bool(_OLD_SELF.search(str(rule.get("rule", ""))))


def evaluate(rule: dict, value, old=None, *, has_old: bool = False) -> str:
    """The failure message of ``rule`` on ``value`` ("" when it holds or does not apply)."""
    if is_transition_rule(rule) and not has_old:
        return ""
    activation = {"self": celpy.json_to_cel(value)}
    if has_old:
        activation["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = _program(rule["rule"]).evaluate(activation)
    except celpy.CELEvalError as exc:
        return f"rule {rule['rule']!r} could not be evaluated: {exc}"
    if isinstance(result, celpy.CELEvalError):
        return f"rule {rule['rule']!r} could not be evaluated: {result}"
    if bool(result):
        return ""
    return str(rule.get("message") or f"failed rule: {rule['rule']}")


def type_name(value) -> str:
    """The OpenAPI type of a JSON value, as CEL failure messages name it."""
    return _TYPE_NAMES.get(type(value), "null" if value is None else type(value).__name__)
