"""The notebook-job tests' shell fixture (a local run storage folder of the test's own)."""

from tests.notebook_jobs.conftest import shell  # noqa: F401 - a fixture
