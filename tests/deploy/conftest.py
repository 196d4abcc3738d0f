"""Fixtures of the deploy tests: settings with a private home, an endpoint book per test, and a
check that every local server a test started is gone when it ends."""

from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from fairing_magics.config import Settings
from fairing_magics.deploy import EndpointBook


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home", ui="text", backend="local")


@pytest.fixture
def book():
    """A private endpoint book; whatever a test leaves in it is deleted afterwards."""
    endpoints = EndpointBook()
    yield endpoints
    for endpoint in endpoints.all():
        endpoint.delete()


@pytest.fixture(scope="session")
def linreg():
    """A fitted scikit-learn model and held-out rows."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.25 + rng.normal(scale=0.01, size=60)
    return LinearRegression().fit(x[:50], y[:50]), x[50:]


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
