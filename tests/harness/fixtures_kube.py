"""pytest fixtures for the kube services (loaded as a plugin by tests/conftest.py)."""
