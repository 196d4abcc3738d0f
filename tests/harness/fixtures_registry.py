"""pytest fixtures for the registry services (loaded as a plugin by tests/conftest.py)."""
