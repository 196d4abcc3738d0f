"""The error model: one ``FairingError`` subclass per stage of the pipeline.

Every message reads outer to inner and ends by saying what to do next. The magics turn a
``FairingError`` into one clear line and a failed cell; anything else is a bug and keeps its
traceback. Messages never hold credentials: build them with :func:`redact` when they quote a
URL, a header or a command line.
"""

from __future__ import annotations

import re

# Patterns for things that must never reach a message, a log or a label.
_SECRET_PATTERNS = [
    # user:password@ in URLs
    (re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\g<scheme>***@"),
    # Authorization headers and bearer tokens
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(basic|bearer)\s+[A-Za-z0-9._~+/=-]+"),
     r"\1\2 ***"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer ***"),
    # AWS access key ids and secret keys
    (re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), "***AWS-KEY***"),
    (re.compile(r"(?i)(aws_secret_access_key|secretaccesskey|aws_session_token|sessiontoken)"
                r"([\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{16,}"), r"\1\2***"),
    # password=..., token=..., in query strings or key/value text
    (re.compile(r"(?i)\b(password|passwd|token|access_token|secret)=([^&\s\"']+)"), r"\1=***"),
    # docker config "auth": "base64"
    (re.compile(r"(?i)(\"auth\"\s*:\s*\")[A-Za-z0-9+/=]{4,}(\")"), r"\1***\2"),
    # JWTs (Kubernetes service-account tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), "***JWT***"),
]


def redact(text: str) -> str:
    """Return ``text`` with credentials (URL passwords, auth headers, AWS keys, tokens) masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def connection_failure(error: BaseException) -> str:
    """Why a connection could not be *opened*, in a few words ("connection refused", "DNS lookup
    failed", "no route to host", "network unreachable", "connection timed out", "could not
    connect"), or "" when ``error`` is something else (a reset or a timeout mid-transfer).

    ``error`` is what requests, urllib3 or botocore raised; the reason is found by walking its
    wrapped errors (``reason``, ``args``, ``__cause__``, ``__context__``), so messages can name it
    without quoting urllib3's object reprs. Retry policies use it to give up early on a server
    that is not there (retrying does not make it appear) and keep retrying a flaky one.
    """
    import errno
    import socket

    seen: set[int] = set()
    todo: list[BaseException] = [error]
    connecting = timed_out = False
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        name = type(e).__name__
        if isinstance(e, socket.gaierror) or name == "NameResolutionError":
            return "DNS lookup failed"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, OSError) and e.errno == errno.EHOSTUNREACH:
            return "no route to host"
        if isinstance(e, OSError) and e.errno == errno.ENETUNREACH:
            return "network unreachable"
        if name in ("NewConnectionError", "EndpointConnectionError"):
            connecting = True
        elif name in ("ConnectTimeoutError", "ConnectTimeout"):
            connecting = timed_out = True
        wrapped = [getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ()),
                   *(getattr(e, "kwargs", None) or {}).values()]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))
    if connecting:
        return "connection timed out" if timed_out else "could not connect"
    return ""


class FairingError(Exception):
    """Base of every error the user is meant to read. The message says what to do next."""

    def __init__(self, message: str):
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)

    def _render_traceback_(self) -> list[str]:
        """How IPython shows this error: the message (and a remote traceback), not our stack.

        IPython calls this for any exception that has it; the cell still fails.
        """
        lines = []
        remote = getattr(self, "remote_traceback", "")
        if remote and not getattr(self, "shown_in_log", False):
            lines.append("Remote traceback:")
            lines.extend(remote.rstrip("\n").splitlines())
        lines.append(f"{type(self).__name__}: {self}")
        return lines


class ConfigError(FairingError):
    """A setting or a flag has a value we cannot use."""


class CaptureError(FairingError):
    """The cell or what it depends on cannot be captured into a bundle."""


class BuildError(FairingError):
    """The image cannot be built (base image, dependency layer, code layer)."""


class RegistryError(FairingError):
    """A registry refused or failed a request.

    ``status`` is the HTTP status (None for connection errors), ``codes`` the OCI error codes of
    the response body, ``url`` the (redacted) URL, and ``temporary`` whether trying again may help.
    """

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[str, ...] = (),
                 url: str = "", temporary: bool = False):
        super().__init__(message)
        self.status = status
        self.codes = tuple(codes)
        self.url = redact(url)
        self.temporary = temporary


class ClusterError(FairingError):
    """The Kubernetes API cannot be reached or refused a request (RBAC, missing CRD, ...).

    ``status`` and ``reason`` are the HTTP status and reason phrase of the refusal (None and ""
    when no answer came, or the error is not about one request).
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class JobFailed(FairingError):
    """The training run ended in failure. Holds the phase, the reason and the last log lines."""

    def __init__(self, message: str, *, phase: str = "Failed", reason: str = "",
                 last_lines: tuple[str, ...] = (), remote_traceback: str = ""):
        super().__init__(message)
        self.phase = phase
        self.reason = reason
        self.last_lines = tuple(redact(line) for line in last_lines)
        self.remote_traceback = redact(remote_traceback)


class RunCancelled(JobFailed):
    """The run was stopped by the user (Cancel button, ``%fairing_cancel``, a kernel interrupt)."""


class DeployError(FairingError):
    """A model cannot be served, or its endpoint did not become ready."""


class FairingTimeout(FairingError):
    """Something took longer than the user allowed (``--timeout``)."""
