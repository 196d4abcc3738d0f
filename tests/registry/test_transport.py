"""The retry policy's decisions (pure) and error messages."""

from __future__ import annotations

import requests

from fairing_magics.registry.transport import RetryPolicy, error_codes, is_temporary, response_error


def fake_response(status: int, body: bytes = b"", headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    response.url = "https://user:hunter2@registry.example/v2/a/b/blobs/uploads/?token=abc"
    return response


def test_what_is_temporary():
    for status in (408, 429, 500, 502, 503, 504):
        assert is_temporary(status, ())
    for status in (400, 401, 403, 404, 405):
        assert not is_temporary(status, ())
    assert is_temporary(None, ())  # connection errors
    assert is_temporary(400, ("TOOMANYREQUESTS",)) and is_temporary(403, ("UNAVAILABLE",))
    assert not is_temporary(400, ("MANIFEST_INVALID",))


def test_backoff_doubles_is_capped_and_honours_retry_after():
    policy = RetryPolicy(attempts=5, backoff=0.1, max_backoff=1.0)
    for attempt, ceiling in ((0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0)):
        delay = policy.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(0, retry_after=0.7) == 0.7
    assert policy.delay(0, retry_after=60) == 1.0


def test_error_carries_codes_and_redacts_the_url():
    body = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
    response = fake_response(403, body)
    assert error_codes(response) == ("DENIED",)
    error = response_error(response, "uploading blob sha256:abc")
    assert error.status == 403 and error.codes == ("DENIED",) and not error.temporary
    assert "hunter2" not in str(error)
    assert "hunter2" not in error.url and "token=abc" not in error.url
    assert "push rights" in str(error)
    assert error_codes(fake_response(502, b"<html>bad gateway</html>")) == ()
    assert response_error(fake_response(502, b"<html>"), "x").temporary
