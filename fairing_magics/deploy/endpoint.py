"""The Endpoint: what ``%fairing_deploy`` returns, and the kernel's book of endpoints.

An :class:`Endpoint` is a handle on a running model server, local or on a cluster::

    ep = deploy(model, name="linreg", backend="local", settings=settings)
    ep.url                     # http://127.0.0.1:40123
    ep.predict([[1.0, 2.0]])   # array([3.1]) -- lists, numpy arrays, DataFrames
    ep.logs()                  # the server's output
    ep.status                  # 'Ready'
    ep.delete()                # nothing is left running

It speaks the KServe V1 protocol (``POST /v1/models/NAME:predict`` with ``{"instances": ...}``).
Deploying the same name again rolls the new model out behind the same object. A request the
server refuses raises :class:`PredictionError` with its status and message.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

from fairing_magics.errors import DeployError, FairingTimeout

READY = "Ready"
ROLLING_OUT = "RollingOut"
DELETED = "Deleted"
FAILED = "Failed"


class PredictionError(DeployError):
    """The endpoint answered a prediction request with an error (``status`` 4xx/5xx)."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class Server(Protocol):
    """What a deployer hands to an :class:`Endpoint`: one running server and how to reach it."""

    backend: str
    url: str  # where the kernel reaches it, e.g. http://127.0.0.1:40123

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]: ...

    def logs(self, tail: int | None = None) -> str: ...

    def status(self) -> str: ...

    def stop(self) -> None: ...


SHOWN_LINES = 20
_SERVER_REFUSAL = re.compile(r"fairing-serve: cannot serve model '[^']*': (.+)")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?_*[A-Z]\w*"
                             r"(?:Error|Exception|Exit|Interrupt|Failed)\b.*")


def crash_cause(lines: list[str]) -> str:
    """Why a model server died, from its last lines: its own ``cannot serve model`` line, else
    the last ``SomeError: message`` line of a traceback; "" when the log does not say."""
    for line in reversed(lines):
        found = _SERVER_REFUSAL.search(line)
        if found:
            return found.group(1).strip()
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()):
            return line.strip()
    return ""


def server_failure(subject: str, what: str, lines: list[str], *, hint: str = "",
                   timeout: bool = False) -> DeployError:
    """The one error for a model server that crashed or never got ready (every deployer uses it).

    The first line says what happened, why (:func:`crash_cause`) and what to do (``hint``, or
    advice that fits); the server's last lines follow and stay on ``error.last_lines``.
    """
    lines = [line.rstrip() for line in lines if line.strip()][-SHOWN_LINES:]
    cause = crash_cause(lines).rstrip(".")
    if hint:
        advice = hint
    elif timeout:
        advice = "if the model loads slowly, raise --timeout; else read its log below"
    elif cause:
        advice = "fix that and deploy again"
    else:
        advice = "read its log below, fix the model or its packages and deploy again"
    first = (f"{subject} {what}" + (f": {cause}" if cause else "")
             + f". {advice[0].upper()}{advice[1:]}.")
    shown = "\n".join("  " + line for line in lines) or "  (no output)"
    error = (FairingTimeout if timeout else DeployError)(f"{first}\nIts last lines:\n{shown}")
    error.last_lines = tuple(lines)
    return error


def wait_until_ready(request, model_name: str, *, deadline: float, timeout: float,
                     ended: Callable[[], str], pause: Callable[[float], None],
                     failure: Callable[..., DeployError],
                     emit: Callable[[object], None] | None = None) -> None:
    """Probe ``GET /v1/models/NAME`` with ``request`` until it answers 200 (the local and docker
    deployers share it), as the ``ready`` stage: ``emit`` gets it ``running`` with the attempt
    count and the last answer (``attempt 3: 503``) after each probe, then ``done`` or ``failed``
    (the panel shows that instead of one access-log line per probe).

    ``ended()``: why the server is gone for good ("exited with code 2"), "" while it runs;
    ``pause(seconds)``: wait between probes (backing off), returning early when the server ends.
    Raises ``failure(what, timeout=...)`` when the server ends first, or after ``deadline``
    (``time.monotonic()``).
    """
    from fairing_magics import events as ev

    emit = emit or (lambda event: None)
    started = time.perf_counter()
    emit(ev.StageChanged("ready", "running"))
    try:
        _probe_until_ready(request, model_name, deadline=deadline, timeout=timeout, ended=ended,
                           pause=pause, failure=failure, emit=emit)
    except BaseException:
        emit(ev.StageChanged("ready", "failed", time.perf_counter() - started))
        raise


def _probe_until_ready(request, model_name, *, deadline, timeout, ended, pause, failure,
                       emit) -> None:
    from fairing_magics import events as ev

    delay = 0.05
    attempt = 0
    started = time.perf_counter()
    while True:
        why = ended()
        if why:
            raise failure(f"{why} before it was ready", timeout=False)
        attempt += 1
        try:
            status, _ = request("GET", f"/v1/models/{model_name}", timeout=5)
        except OSError:
            status = None
        if status == 200:
            emit(ev.StageChanged("ready", "done", time.perf_counter() - started,
                                 f"{attempt} attempt{'s' if attempt > 1 else ''}"))
            return
        emit(ev.StageChanged("ready", "running", 0.0,
                             f"attempt {attempt}: {status if status is not None else 'no answer'}"))
        if time.monotonic() > deadline:
            raise failure(f"was not ready within {timeout:g} s", timeout=True)
        pause(delay)
        delay = min(delay * 1.6, 0.5)


def http_request(url: str, method: str, path: str, body: bytes | None = None,
                 timeout: float = 60.0) -> tuple[int, bytes]:
    """One plain HTTP request; returns (status, body) for any status; OSError when unreachable."""
    request = urllib.request.Request(url.rstrip("/") + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"}
                                     if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, OSError) else OSError(str(exc.reason))
        raise reason from exc


def encode_instances(x: Any) -> list | dict:
    """``x`` as the JSON ``instances`` value: numpy arrays and pandas objects become lists
    (a DataFrame becomes records, so the server can order columns as the model was fitted)."""
    module = type(x).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(x, pd.DataFrame):
            frame = x.astype(object).where(x.notna(), None)
            if all(isinstance(column, str) for column in frame.columns):
                return frame.to_dict(orient="records")
            return frame.values.tolist()  # unnamed columns: plain rows
        if isinstance(x, (pd.Series, pd.Index)):
            return [None if v != v else v for v in x.astype(object).tolist()]  # NaN -> null
    if hasattr(x, "tolist") and module == "numpy":
        return x.tolist()
    if isinstance(x, (list, dict)):
        return x
    if isinstance(x, tuple):
        return list(x)
    raise TypeError("predict() takes a list, a numpy array or a pandas DataFrame, "
                    f"not a {type(x).__name__}")


def _json_default(value):
    if hasattr(value, "tolist"):  # numpy scalars inside lists
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def decode_predictions(predictions: Any) -> Any:
    """The server's ``predictions`` as a numpy array when numpy is installed, else as is."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is everywhere models are
        return predictions
    try:
        return np.asarray(predictions)
    except ValueError:  # ragged: keep the list
        return predictions


class Endpoint:
    """A live prediction endpoint (see the module docstring). Made by
    :func:`fairing_magics.deploy.deploy`."""

    def __init__(self, name: str, server: Server, *, model: str = "", source: str = "",
                 on_delete=None):
        self.name = name
        self.model = model  # what is served, e.g. "LinearRegression (sklearn)"
        self.source = source  # where it came from: "the kernel", "run linreg-ab12cd"
        self.created_at = time.time()
        self.revision = 1
        self._server: Server | None = server
        self._lock = threading.Lock()
        self._on_delete = on_delete

    # -- what users call -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the server (``POST {url}/v1/models/{name}:predict``); empty once deleted."""
        server = self._server
        return server.url if server is not None else ""

    @property
    def predict_url(self) -> str:
        return f"{self.url}/v1/models/{self.name}:predict" if self.url else ""

    @property
    def backend(self) -> str:
        server = self._server
        return server.backend if server is not None else ""

    @property
    def status(self) -> str:
        """``Ready``, ``Deleted``, or what is wrong (``Stopped (exit 1)``,
        ``Unavailable (0/2 ready)``)."""
        server = self._server
        return DELETED if server is None else server.status()

    def predict(self, x: Any, *, timeout: float = 60.0) -> Any:
        """Predictions for ``x`` (rows as a list, a numpy array or a DataFrame).

        Returns a numpy array (a list when numpy is missing or rows are ragged). A refused request
        raises :class:`PredictionError` with the server's message.
        """
        reply = self.request({"instances": encode_instances(x)}, timeout=timeout)
        if not isinstance(reply, dict) or "predictions" not in reply:
            raise PredictionError(f"endpoint {self.name} answered without predictions: "
                                  f"{str(reply)[:200]}")
        return decode_predictions(reply["predictions"])

    def request(self, body: Any, *, timeout: float = 60.0) -> Any:
        """POST ``body`` (any JSON value, or raw bytes) to ``:predict``; return the decoded
        reply."""
        server = self._require_server()
        data = body if isinstance(body, bytes) else json.dumps(body, default=_json_default,
                                                               allow_nan=False).encode()
        try:
            status, reply = server.request("POST", f"/v1/models/{self.name}:predict", data, timeout)
        except OSError as exc:
            raise PredictionError(f"endpoint {self.name} at {server.url} cannot be reached: {exc}. "
                                  f"Its status is {server.status()}; see .logs()") from exc
        try:
            decoded = json.loads(reply) if reply else None
        except ValueError:
            decoded = reply.decode("utf-8", "replace")
        if status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else str(decoded)[:300]
            raise PredictionError(f"endpoint {self.name} refused the request ({status}): {message}",
                                  status=status, body=decoded)
        return decoded

    def logs(self, tail: int | None = None) -> str:
        """The server's output (every replica's, each line prefixed by its pod on a cluster)."""
        server = self._server
        return server.logs(tail) if server is not None else ""

    def delete(self) -> None:
        """Stop the server and remove everything it used. Deleting twice is harmless. Its panel
        then says ``Deleted``."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._on_delete is not None:
            self._on_delete(self)
        view = getattr(self, "view", None)
        if server is not None and view is not None:
            from fairing_magics import events as ev

            view.handle(ev.PhaseChanged(DELETED, f"removed {time.strftime('%H:%M:%S')}; "
                                                 "%fairing_deploy serves it again"))
            refresh = getattr(view, "refresh_display", None)
            if refresh is not None:
                refresh()

    # -- what deployers call ---------------------------------------------------------------
    @property
    def server(self) -> Server | None:
        return self._server

    def replace_server(self, server: Server, *, model: str = "", source: str = "") -> Server | None:
        """Point this endpoint at a new server (a rollout); return the previous one."""
        with self._lock:
            old, self._server = self._server, server
            self.model = model or self.model
            self.source = source or self.source
            self.revision += 1
        return old

    def _require_server(self) -> Server:
        server = self._server
        if server is None:
            raise DeployError(f"endpoint {self.name} was deleted; "
                              "deploy it again with %fairing_deploy")
        return server

    # -- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        where = self.url or "-"
        return (f"<Endpoint {self.name} ({self.backend or 'deleted'}) {self.status} at {where}; "
                f"model {self.model or '?'}>")

    def _repr_html_(self) -> str:
        status = self.status
        colour = "#1a7f37" if status == READY else "#cf222e" if status != ROLLING_OUT else "#1f6feb"
        url = html.escape(self.predict_url)
        link = f'<code>POST {url}</code>' if url else "-"
        rows = [("status", f'<b style="color:{colour}">{html.escape(status)}</b>'),
                ("backend", html.escape(self.backend or "-")),
                ("model", html.escape(self.model or "?")),
                ("from", html.escape(self.source or "-")), ("predict", link),
                ("revision", str(self.revision))]
        cells = "".join(f'<tr><td style="text-align:left;color:#555">{k}</td>'
                        f'<td style="text-align:left">{v}</td></tr>' for k, v in rows)
        return (f'<div class="fairing-endpoint"><b>Endpoint {html.escape(self.name)}</b>'
                f"<table>{cells}</table></div>")


class EndpointBook:
    """This kernel's endpoints, by name. Thread-safe."""

    def __init__(self):
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Endpoint | None:
        with self._lock:
            return self._endpoints.get(name)

    def add(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._endpoints[endpoint.name] = endpoint

    def discard(self, endpoint: Endpoint) -> None:
        with self._lock:
            if self._endpoints.get(endpoint.name) is endpoint:
                del self._endpoints[endpoint.name]

    def all(self) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints.values())
