"""Shared test configuration.

Service fixtures live in ``tests/harness/fixtures_*.py`` and are loaded here as plugins, so that
every test folder can use them. In CI (``CI=true``) a skipped e2e test fails the run: see
:func:`tests.harness.need` and the hook below.
"""

from __future__ import annotations

import pytest

from tests.harness import in_ci

pytest_plugins = [
    "tests.harness.fixtures_registry",
    "tests.harness.fixtures_kube",
    "tests.harness.fixtures_aws",
    "tests.harness.fixtures_docker",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, an e2e test that skipped (for any reason) is reported as a failure."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and item.get_closest_marker("e2e") is not None:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"e2e test skipped in CI (not allowed): {reason}"
