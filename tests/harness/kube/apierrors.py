"""Status error objects, worded like a real API server's (the client code parses them)."""

from __future__ import annotations

from .resources import ResourceType

_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "AlreadyExists", 410: "Expired", 415: "UnsupportedMediaType",
            422: "Invalid", 429: "TooManyRequests", 500: "InternalError"}


class ApiError(Exception):
    """An error the server answers with a ``Status`` object."""

    def __init__(self, code: int, message: str, reason: str = "", details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        return status_object(self.code, self.message, self.reason, self.details)


def status_object(code: int, message: str, reason: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def success_status(t: ResourceType, name: str, uid: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": t.group, "kind": t.plural, "uid": uid}}


def _details(t: ResourceType, name: str) -> dict:
    return {"name": name, "group": t.group, "kind": t.plural}


def not_found(t: ResourceType, name: str) -> ApiError:
    return ApiError(404, f'{t.qualified} "{name}" not found', "NotFound", _details(t, name))


def already_exists(t: ResourceType, name: str) -> ApiError:
    return ApiError(409, f'{t.qualified} "{name}" already exists', "AlreadyExists",
                    _details(t, name))


def conflict(t: ResourceType, name: str) -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {t.qualified} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try "
                    "again", "Conflict", _details(t, name))


def invalid(t: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422: ``causes`` are (field, message) pairs, e.g. ("metadata.name", 'Invalid value: ...')."""
    text = ", ".join(f"{f}: {m}" for f, m in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    details = _details(t, name)
    details["kind"] = t.kind
    details["causes"] = [{"reason": "FieldValueInvalid" if "Invalid value" in m else
                          "FieldValueRequired", "message": m, "field": f} for f, m in causes]
    return ApiError(422, f'{t.kind_in_messages} "{name}" is invalid: {text}', "Invalid", details)


def forbidden(t: ResourceType, user: str, verb: str, namespace: str, name: str = "",
              subresource: str = "") -> ApiError:
    what = f'{t.qualified} "{name}"' if name else t.qualified
    resource = f"{t.plural}/{subresource}" if subresource else t.plural
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
               f'in API group "{t.group}"{where}')
    return ApiError(403, message, "Forbidden", _details(t, name))


def gone(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")
