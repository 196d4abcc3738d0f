"""The OpenAPI dialect of the API server's validation, on the ``jsonschema`` library.

Draft 4 (the JSON Schema of OpenAPI 2.0 and 3.0) extended as the API server reads schemas:
``nullable`` (OpenAPI 3.0), ``null`` as any field's zero value (the Go decoder of built-in kinds),
``x-kubernetes-list-type`` (``set``: no duplicates; ``map``: no two items with the same
``x-kubernetes-list-map-keys``), and the formats Kubernetes checks that we meet (``int32``,
``int64``, ``date-time``, ``byte``, a Quantity). A failure becomes a :class:`Cause`: a JSON path
(``spec.containers[0].name``) and a message worded like the API server's (``Required value``,
``Unsupported value: ...``, ``Invalid value: ...``, ``Duplicate value: ...``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import jsonschema
from jsonschema import Draft4Validator, FormatChecker, ValidationError

from .objectmeta import quote

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Cause:
    """One validation failure: ``field`` (a JSON path, ``spec.containers[0].name``) and what is
    wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class Admission:
    """An object as the API server would store it, what was dropped and what is invalid."""

    object: dict
    unknown: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.causes

    def problems(self) -> list[str]:
        """Every problem on one line each: dropped fields first."""
        return ([f"{path}: unknown field, dropped by the API server" for path in self.unknown]
                + [str(c) for c in self.causes])


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def format_path(parts: Iterable) -> str:
    """``["spec", "containers", 0, "name"]`` -> ``spec.containers[0].name``."""
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else join(text, str(part))
    return text


# -- the jsonschema validator: OpenAPI's dialect ----------------------------------------------

_draft4_type = Draft4Validator.VALIDATORS["type"]


def _type_nullable(validator, types, instance, schema):
    """OpenAPI 3.0 ``nullable``."""
    if instance is None and schema.get("nullable"):
        return
    yield from _draft4_type(validator, types, instance, schema)


def _type_go(validator, types, instance, schema):
    """The Go decoder reads ``null`` as any field's zero value."""
    if instance is None:
        return
    yield from _draft4_type(validator, types, instance, schema)


def _list_type(validator, list_type, instance, schema):
    """``x-kubernetes-list-type``: a ``set`` has no duplicates, a ``map`` no two items with the
    same ``x-kubernetes-list-map-keys``."""
    if not isinstance(instance, list):
        return
    seen: dict = {}
    keys = schema.get("x-kubernetes-list-map-keys") or []
    for index, item in enumerate(instance):
        if list_type == "set":
            key = json.dumps(item, sort_keys=True)
        elif list_type == "map" and isinstance(item, dict):
            key = json.dumps([item.get(k) for k in keys])
        else:
            continue
        if key in seen:
            shown = {k: item.get(k) for k in keys} if list_type == "map" else item
            yield ValidationError(f"Duplicate value: {quote(shown)}", path=[index],
                                  validator="x-kubernetes-list-type", validator_value=list_type)
        seen[key] = index


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("int32")
    def _int32(value) -> bool:
        return not isinstance(value, int) or -2**31 <= value < 2**31

    @checker.checks("int64")
    def _int64(value) -> bool:
        return not isinstance(value, int) or -2**63 <= value < 2**63

    @checker.checks("date-time")
    def _date_time(value) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return False
        return True

    @checker.checks("byte")
    def _byte(value) -> bool:
        if not isinstance(value, str):
            return True
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return False
        return True

    @checker.checks("quantity")
    def _quantity(value) -> bool:
        from .corevalidation import is_quantity

        return is_quantity(value)

    return checker


FORMATS = _formats()
_OpenApiValidator = jsonschema.validators.extend(
    Draft4Validator, {"type": _type_nullable, "x-kubernetes-list-type": _list_type})
_GoDecoderValidator = jsonschema.validators.extend(
    Draft4Validator, {"type": _type_go, "x-kubernetes-list-type": _list_type})


def validator(schema: dict, *, go_decoder: bool):
    """A validator of ``schema`` in the API server's dialect (``go_decoder``: built-in kinds)."""
    cls = _GoDecoderValidator if go_decoder else _OpenApiValidator
    return cls(schema, format_checker=FORMATS)


def causes_of(errors: Iterable[ValidationError], prefix: str = "") -> list[Cause]:
    causes: list[Cause] = []
    for error in errors:
        path = format_path(list(error.absolute_path))
        path = join(prefix, path) if prefix and path else (prefix or path)
        kind = error.validator
        if kind == "required":
            missing = re.match(r"^'(.+)' is a required property$", error.message)
            name = missing.group(1) if missing else str(error.validator_value)
            causes.append(Cause(join(path, name), "Required value"))
        elif kind == "enum":
            allowed = ", ".join(quote(v) for v in error.validator_value)
            causes.append(Cause(path, f"Unsupported value: {quote(error.instance)}: supported "
                                      f"values: {allowed}"))
        elif kind == "type":
            causes.append(Cause(path, f"Invalid value: {quote(error.instance)}: must be of type "
                                      f"{error.validator_value}"))
        elif kind == "x-kubernetes-list-type":
            causes.append(Cause(path, error.message))
        else:
            causes.append(Cause(path, f"Invalid value: {quote(error.instance)}: {error.message}"))
    return list(dict.fromkeys(causes))
