"""Hardening tests reuse the real IPython shell of tests/core (``shell``: extension loaded, runs
recorded under the test's own FAIRING_HOME, text panel)."""

from tests.core.conftest import _session_shell, shell  # noqa: F401 - fixtures
