"""pytest fixtures for the aws services (loaded as a plugin by tests/conftest.py)."""
