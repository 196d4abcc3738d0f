"""The sweep tests use the real IPython shell of tests/core (``shell``) and the offline kernel
environment of the example notebooks."""

from tests.core.conftest import _session_shell, shell  # noqa: F401 - fixtures
from tests.deploy.test_examples import offline_kernel_env  # noqa: F401 - fixture
