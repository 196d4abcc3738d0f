"""The sweep tests use the real IPython shell of tests/core (``shell``)."""

from tests.core.conftest import _session_shell, shell  # noqa: F401 - fixtures
