"""The one HTTP transport to registries: TLS, authentication, and the retry policy.

Every registry request of fairing_magics goes through :meth:`Transport.request`, and this is the
only place that retries (DESIGN section 3). What is retried, with exponential backoff and
jitter (``Retry-After`` honoured, capped):

- resets and timeouts mid-transfer (not TLS verification failures: retrying cannot help);
- HTTP 408, 429 and every 5xx;
- any answer whose OCI error body holds ``UNAVAILABLE`` or ``TOOMANYREQUESTS``.

A connection that cannot be opened at all (refused, DNS failure, no route) gets only
``unreachable_attempts`` quick tries: a registry that is not there does not appear by waiting,
and the user should hear so in a second, not after 18 s of backoff. The message then names the
host and the reason and asks whether ``--registry`` is right.

A request body is bytes or a callable returning a fresh stream, so that it can be sent again.

TLS is verified, unless the registry host is listed in ``insecure_registries``: then HTTPS is
tried without verification and, when the registry speaks plain HTTP, HTTP is used. Requests'
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` silently replace ``Session.verify``; we therefore pass
``verify`` on each request (``ca_bundle`` trusts one more CA file for every host).

Authentication follows the registry's ``WWW-Authenticate`` challenge (see :mod:`.auth`): after
a first 401 from a host, later requests carry credentials (Basic) or a token for their scope
(Bearer) from the start, so a steady state costs no extra round trip.
"""

from __future__ import annotations

import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from fairing_magics.errors import RegistryError, connection_failure, redact
from fairing_magics.registry.auth import (
    Challenge,
    Keychain,
    basic_header,
    normalise_host,
    parse_challenge,
)

RETRY_STATUSES = frozenset({408, 429})
RETRY_CODES = frozenset({"UNAVAILABLE", "TOOMANYREQUESTS"})
USER_AGENT = "fairing-magics/0.1"

Body = bytes | Callable[[], BinaryIO | bytes] | None


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try a request, and how long to wait in between."""

    attempts: int = 8
    backoff: float = 0.2  # seconds before the 2nd attempt; doubled each time
    max_backoff: float = 10.0
    unreachable_attempts: int = 3  # when no connection can be opened (refused, DNS, no route)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = min(self.backoff * (2 ** attempt), self.max_backoff)
        return base * (0.5 + random.random() / 2)


@dataclass
class TransportStats:
    """What went on the wire: requests sent (retries, token and ping requests included) and
    body bytes."""

    requests: int = 0
    bytes_sent: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, sent: int, retry: bool) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_sent += sent
            self.retries += int(retry)

    def snapshot(self) -> tuple[int, int, int]:
        with self.lock:
            return self.requests, self.bytes_sent, self.retries


def error_codes(response: requests.Response) -> tuple[str, ...]:
    """The OCI error codes of a response body (``{"errors": [{"code": ...}]}``), if any."""
    try:
        body = response.json()
    except ValueError:
        return ()
    errors = body.get("errors") if isinstance(body, dict) else None
    return tuple(str(e.get("code", "")) for e in errors or () if isinstance(e, dict))


def _error_detail(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors)[:300]
    except (ValueError, AttributeError):
        return (response.text or "")[:200].strip()


def _short(error: BaseException | None) -> str:
    """``error`` without urllib3's object reprs
    (``<urllib3.connection.HTTPConnection object at 0x..>``)."""
    return re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>:? ?", "", str(error))[:300]


def is_temporary(status: int | None, codes: Iterable[str]) -> bool:
    return (status is None or status in RETRY_STATUSES or status >= 500
            or bool(RETRY_CODES & set(codes)))


_HINTS = {
    401: "Check the registry credentials (docker login, ~/.docker/config.json, or the AWS "
         "credentials for ECR).",
    403: "Your credentials may not push to this repository: ask for push rights or pick another "
         "--registry.",
    404: "Check the repository name (on ECR, the repository must exist).",
}


def response_error(response: requests.Response, what: str) -> RegistryError:
    """A :class:`RegistryError` for an unexpected answer, saying what to do next."""
    codes = error_codes(response)
    status = response.status_code
    temporary = is_temporary(status, codes)
    url = redact(response.request.url if response.request is not None else response.url)
    detail = _error_detail(response)
    hint = "The registry seems unwell; try again later." if temporary else _HINTS.get(status, "")
    answered = f"{status} ({detail})" if detail else f"{status}"
    message = f"{what}: the registry answered {answered} for {url}."
    return RegistryError(message + (" " + hint if hint else ""), status=status, codes=codes,
                         url=url, temporary=temporary)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class _Token:
    def __init__(self, header: str, expires: float):
        self.header = header
        self.expires = expires


class Transport:
    """HTTP to registries with auth, TLS policy and retries. Thread-safe; share one per process."""

    def __init__(self, keychain: Keychain | None = None, *, insecure_registries: Iterable[str] = (),
                 ca_bundle: str | None = None, retry: RetryPolicy | None = None,
                 timeout: tuple[float, float] = (10.0, 300.0), pool_size: int = 16,
                 sleep: Callable[[float], None] = time.sleep):
        self.keychain = keychain if keychain is not None else Keychain()
        self.insecure = {normalise_host(h) for h in insecure_registries if h}
        self.ca_bundle = ca_bundle
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.stats = TransportStats()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self._lock = threading.Lock()
        self._scheme: dict[str, str] = {}
        self._challenge: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}
        if self.insecure:
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)

    # -- TLS and scheme -----------------------------------------------------------------

    def is_insecure(self, host: str) -> bool:
        host = normalise_host(host)
        return host in self.insecure or host.rsplit(":", 1)[0] in self.insecure

    def verify_for(self, host: str) -> bool | str:
        if self.is_insecure(host):
            return False
        return self.ca_bundle or True

    def base_url(self, host: str) -> str:
        """``https://HOST``, or ``http://HOST`` for an insecure registry that speaks plain HTTP."""
        with self._lock:
            scheme = self._scheme.get(host)
        if scheme is None:
            scheme = "https"
            if self.is_insecure(host):
                scheme = self._probe_scheme(host)
            with self._lock:
                self._scheme[host] = scheme
        return f"{scheme}://{host}"

    def _probe_scheme(self, host: str) -> str:
        for _ in range(3):
            try:
                self.stats.add(0, False)
                self.session.get(f"https://{host}/v2/", verify=False, timeout=self.timeout).close()
                return "https"
            except requests.exceptions.SSLError:
                return "http"
            except requests.RequestException:
                continue
        return "http"

    def url(self, host: str, path: str) -> str:
        return self.base_url(host) + path

    # -- requests ----------------------------------------------------------------------

    def request(self, method: str, url: str, *, scopes: tuple[str, ...] = (),
                headers: dict | None = None,
                body: Body = None, params: dict | None = None, stream: bool = False,
                ok: Iterable[int] = (200,), what: str = "") -> requests.Response:
        """Send ``method url`` (retrying temporary failures, answering auth challenges) and return
        the response when its status is in ``ok``; otherwise raise :class:`RegistryError`."""
        host = urlsplit(url).netloc
        what = what or f"{method} {urlsplit(url).path}"
        expected = set(ok)
        sent_auth = False
        for _ in range(2):  # a second round only after a 401 that taught us the challenge
            auth = self._auth_header(host, scopes)
            all_headers = dict(headers or {})
            if auth:
                all_headers["Authorization"] = auth
            response = self._send(method, url, host, headers=all_headers, body=body, params=params,
                                  stream=stream, what=what)
            challenged = response.status_code == 401 and "WWW-Authenticate" in response.headers
            if challenged and not sent_auth:
                self._learn_challenge(host, response.headers["WWW-Authenticate"], scopes)
                response.close()
                sent_auth = True
                continue
            break
        if response.status_code not in expected:
            error = response_error(response, what)
            response.close()
            raise error
        return response

    def _send(self, method: str, url: str, host: str, *, headers: dict, body: Body,
              params: dict | None, stream: bool, what: str) -> requests.Response:
        verify = self.verify_for(host)
        last_error: Exception | None = None
        for attempt in range(self.retry.attempts):
            data = body() if callable(body) else body
            sized = isinstance(data, (bytes, bytearray))
            size = len(data) if sized else int(headers.get("Content-Length", 0))
            self.stats.add(size, attempt > 0)
            try:
                response = self.session.request(method, url, headers=headers, data=data,
                                                params=params,
                                                stream=stream, verify=verify, timeout=self.timeout,
                                                allow_redirects=method in ("GET", "HEAD"))
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"{what}: TLS verification of {host} failed ({type(exc).__name__}). Trust its "
                    "CA (REQUESTS_CA_BUNDLE) or, for a test registry, name it insecure "
                    f"(--insecure-registry {host}).", url=url) from exc
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                last_error = exc
                unreachable = connection_failure(exc)
                if unreachable and attempt + 1 >= min(self.retry.attempts,
                                                      self.retry.unreachable_attempts):
                    raise RegistryError(
                        f"cannot reach registry {host} ({unreachable}; tried {attempt + 1} times): "
                        f"is it running, and is --registry (or --base-image) right? ({what})",
                        url=url, temporary=True) from exc
                if attempt + 1 < self.retry.attempts:
                    self.sleep(self.retry.delay(attempt))
                continue
            finally:
                if hasattr(data, "close"):
                    data.close()
            codes = error_codes(response) if response.status_code >= 400 else ()
            if response.status_code >= 400 and is_temporary(response.status_code, codes) \
                    and attempt + 1 < self.retry.attempts:
                delay = self.retry.delay(attempt, _retry_after(response))
                response.close()
                self.sleep(delay)
                continue
            return response
        raise RegistryError(
            f"{what}: {host} could not be reached after {self.retry.attempts} attempts "
            f"({type(last_error).__name__}: {_short(last_error)}). Check that the registry is up "
            "and the address is right, then try again.", url=url, temporary=True) from last_error

    # -- authentication ----------------------------------------------------------------

    def _auth_header(self, host: str, scopes: tuple[str, ...]) -> str | None:
        with self._lock:
            challenge = self._challenge.get(host)
            token = self._tokens.get((host, scopes))
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self.keychain.credentials(host)
            return basic_header(creds) if creds else None
        if challenge.scheme == "bearer":
            if token is not None and token.expires > time.monotonic():
                return token.header
            return self._fetch_token(host, challenge, scopes)
        return None

    def _learn_challenge(self, host: str, header: str, scopes: tuple[str, ...]) -> None:
        challenge = parse_challenge(header)
        if challenge.scheme not in ("basic", "bearer"):
            raise RegistryError(f"{host} asks for {challenge.scheme!r} authentication, which is "
                                "not supported.")
        with self._lock:
            self._challenge[host] = challenge
            self._tokens.pop((host, scopes), None)

    def _fetch_token(self, host: str, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.get("realm")
        if not realm:
            raise RegistryError(f"{host} asks for a bearer token but names no realm to get it "
                                "from.")
        params: list[tuple[str, str]] = []
        if challenge.get("service"):
            params.append(("service", challenge.get("service")))
        wanted = list(scopes) or ([challenge.get("scope")] if challenge.get("scope") else [])
        params.extend(("scope", s) for s in wanted)
        creds = self.keychain.credentials(host)
        headers = {"Authorization": basic_header(creds)} if creds else {}
        realm_host = urlsplit(realm).netloc
        response = self._send("GET", realm, realm_host, headers=headers, body=None, params=params,
                              stream=False, what=f"getting a token for {host}")
        if response.status_code != 200:
            raise response_error(response, f"getting a token for {host}")
        try:
            body = response.json()
            token = body.get("token") or body["access_token"]
        except (ValueError, KeyError) as exc:
            raise RegistryError(f"The token service of {host} answered without a token.") from exc
        lifetime = float(body.get("expires_in") or 60)
        entry = _Token("Bearer " + token, time.monotonic() + max(lifetime - 10, 5))
        with self._lock:
            self._tokens[(host, scopes)] = entry
        return entry.header
