"""Wheels made here, so that the image installs its requirements without any package index.

:func:`wheel_from_installed` packs an installed pure-Python distribution (cloudpickle) into a
wheel; :func:`make_wheel` writes a tiny package of our own. Both are real wheels pip installs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A ``py3-none-any`` wheel of ``files`` (paths in the wheel) with its dist-info."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = dict(files)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{dist}.dist-info/METADATA"] = metadata.encode()
    files[f"{dist}.dist-info/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: fairing-tests\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [_record_line(path, data) for path, data in sorted(files.items())]
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in sorted(files.items()):
            zf.writestr(member, data)
    return path


def wheel_from_installed(folder: Path, name: str) -> Path:
    """A wheel of the installed distribution ``name`` (its Python files and license)."""
    dist = importlib.metadata.distribution(name)
    files = {}
    for entry in dist.files or ():
        text = str(entry)
        if "__pycache__" in text or ".dist-info/" in text:
            continue
        files[text] = Path(dist.locate_file(entry)).read_bytes()
    return write_wheel(folder, dist.metadata["Name"], dist.version, files)


def make_wheel(folder: Path, name: str = "fairing-e2e-shapes", version: str = "1.0") -> Path:
    """A tiny package ``fairing_e2e_shapes`` with ``area(w, h)`` and a ``VERSION``."""
    module = name.replace("-", "_")
    source = f"VERSION = {version!r}\n\ndef area(w, h):\n    return w * h\n".encode()
    return write_wheel(folder, name, version, {f"{module}/__init__.py": source})
