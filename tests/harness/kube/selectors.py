"""Label and field selectors with the syntax of a real API server.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``,
joined by commas. Field selectors: ``path=value``, ``path==value``, ``path!=value``, where
``path`` is a dotted path into the object (the allowed paths depend on the type).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .apierrors import bad_request

Matcher = Callable[[dict], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict], bool]:
    m = _EQ_RE.match(term)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _SET_RE.match(term)
    if m:
        bang, key, op, values = m.groups()
        if op:
            if bang:
                raise bad_request(f"unable to parse requirement: {term!r}")
            wanted = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                return lambda labels: labels.get(key) in wanted
            return lambda labels: labels.get(key) not in wanted
        if bang:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: found '{term}', expected: valid selector")


def parse_label_selector(text: str | None) -> Matcher:
    """Return a predicate on objects; raises a 400 ApiError for bad syntax."""
    if not text:
        return lambda obj: True
    terms = [_label_term(t) for t in _split_terms(text)]

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)
    return matches


def lookup_field(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and path == "source":
        return str(value.get("component", ""))
    return str(value)


def parse_field_selector(text: str | None, allows: Callable[[str], bool]) -> Matcher:
    """Return a predicate; ``allows(path)`` says whether the type supports a field label."""
    if not text:
        return lambda obj: True
    terms = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.groups()
        if not allows(path):
            raise bad_request(f'field label not supported: {path}')
        terms.append((path, op == "!=", value))

    def matches(obj: dict) -> bool:
        for path, negate, value in terms:
            if (lookup_field(obj, path) == value) == negate:
                return False
        return True
    return matches


def selector_from_match_labels(selector: dict | None) -> Matcher:
    """A predicate for a LabelSelector object (``matchLabels`` + ``matchExpressions``)."""
    selector = selector or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in match_labels.items()):
            return False
        for e in expressions:
            key, op, values = e["key"], e["operator"], set(e.get("values") or ())
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if (op == "Exists") != (key in labels) and op in ("Exists", "DoesNotExist"):
                return False
        return True
    return matches
