"""What runs INSIDE the subprocess or container: the standard library and cloudpickle only.

``bootstrap.py`` is copied into every bundle and started as ``python fairing_bootstrap.py``.
Nothing in this package may import the rest of ``fairing_magics``.
"""
