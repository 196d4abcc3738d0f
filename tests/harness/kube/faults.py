"""Fault hooks for reliability tests: failing requests, held requests, RBAC deny rules.

Log-stream drops and watch expiry act on live streams, so they live on the emulator
(:meth:`KubeEmulator.drop_log_streams`, :meth:`KubeEmulator.expire_watches`); this module holds
the request-level rules the server consults before it answers.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from .apierrors import ApiError


@dataclass
class FailureRule:
    status: int
    remaining: int
    path: re.Pattern
    method: str | None
    retry_after: int | None


@dataclass
class HoldRule:
    seconds: float
    remaining: int
    path: re.Pattern
    method: str | None
    when: str  # "before": the request waits before it is acted on; "after": it was acted on (the
    # object exists) and the answer waits


@dataclass(frozen=True)
class DenyRule:
    verb: str  # "*" for all
    resource: str  # plural, e.g. "tfjobs"; "*" for all
    group: str | None  # None: any group
    namespace: str | None  # None: any namespace
    subresource: str  # e.g. "log"; "" only the resource itself


class Faults:
    """Injected request failures (429/500) and access deny rules."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failures: list[FailureRule] = []
        self.deny_rules: list[DenyRule] = []
        self.failed_requests = 0
        self._holds: list[HoldRule] = []
        self.holding = threading.Event()  # set while a request is held (tests act then)

    def fail_requests(self, status: int = 500, count: int = 1, path: str = ".*",
                      method: str | None = None, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests whose path matches the regex ``path`` (and
        ``method``, e.g. "GET") with ``status`` (429 carries ``Retry-After``)."""
        with self._lock:
            self._failures.append(FailureRule(status, count, re.compile(path),
                                              method.upper() if method else None, retry_after))

    def check_request(self, method: str, path: str) -> None:
        with self._lock:
            for rule in self._failures:
                if rule.remaining > 0 and (rule.method in (None, method)) \
                        and rule.path.search(path):
                    rule.remaining -= 1
                    self.failed_requests += 1
                    self._failures = [r for r in self._failures if r.remaining > 0]
                    raise _failure(rule)

    def hold_requests(self, seconds: float, path: str = ".*", method: str | None = None,
                      count: int = 1, when: str = "before") -> None:
        """Hold the next ``count`` requests matching ``path`` (regex) and ``method`` for
        ``seconds``: ``when="before"`` acting on them, or ``"after"`` (the object is created,
        its answer is late). :attr:`holding` is set while one is held; a client that gives up
        meanwhile does not undo what the request did, as with a real API server."""
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        with self._lock:
            self._holds.append(HoldRule(seconds, count, re.compile(path),
                                        method.upper() if method else None, when))

    def hold(self, method: str, path: str, when: str) -> None:
        """Called by the server before acting on a request and before answering it."""
        with self._lock:
            rule = next((r for r in self._holds if r.remaining > 0 and r.when == when
                         and r.method in (None, method) and r.path.search(path)), None)
            if rule is None:
                return
            rule.remaining -= 1
            self._holds = [r for r in self._holds if r.remaining > 0]
        self.holding.set()
        try:
            time.sleep(rule.seconds)
        finally:
            self.holding.clear()

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self.deny_rules.clear()
            self._holds.clear()

    def deny(self, verb: str, resource: str, group: str | None = None,
             namespace: str | None = None, subresource: str = "") -> None:
        """Make the user lack ``verb`` on ``resource`` (both for requests and for
        SelfSubjectAccessReview), e.g. ``deny("create", "tfjobs")`` or
        ``deny("get", "pods", subresource="log")``."""
        self.deny_rules.append(DenyRule(verb, resource, group, namespace, subresource))

    def allowed(self, verb: str, resource: str, group: str, namespace: str,
                subresource: str = "") -> bool:
        for r in self.deny_rules:
            if r.verb not in ("*", verb) or r.resource not in ("*", resource):
                continue
            if r.group is not None and r.group != group:
                continue
            if r.namespace is not None and r.namespace != namespace:
                continue
            if r.subresource != subresource:
                continue
            return False
        return True


def _failure(rule: FailureRule) -> ApiError:
    if rule.status == 429:
        seconds = rule.retry_after if rule.retry_after is not None else 1
        return ApiError(429, "Too many requests, please try again later.", "TooManyRequests",
                        {"retryAfterSeconds": seconds}, headers={"Retry-After": str(seconds)})
    return ApiError(rule.status, "Internal error occurred: injected fault", "InternalError")
