"""A Debian bookworm root filesystem with python3, made once with debootstrap and cached.

No public image can be pulled on our machines, so the tests make their own Python base.
:func:`ensure_python_rootfs` returns a gzip-free tar of the rootfs (mtimes kept: zeroing them
makes every ``.pyc`` stale), cached under ``~/.cache/fairing-magics-tests/<version>/``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

ROOTFS_VERSION = "bookworm-python3-v1"
CACHE_ROOT = Path(os.environ.get("FAIRING_TEST_CACHE",
                                 Path.home() / ".cache" / "fairing-magics-tests"))
MIRROR = os.environ.get("FAIRING_DEBIAN_MIRROR", "http://deb.debian.org/debian")
EXTRA_PACKAGES = "python3"
_PRUNE = ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
          "usr/share/locale", "usr/share/info", "dev"]


def debootstrap_available() -> bool:
    return shutil.which("debootstrap") is not None and os.geteuid() == 0


def ensure_python_rootfs() -> Path:
    """Return the path of the cached rootfs tar, building it (about 40 s) when missing."""
    folder = CACHE_ROOT / ROOTFS_VERSION
    folder.mkdir(parents=True, exist_ok=True)
    tar_path = folder / "rootfs.tar"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several test processes may ask at once
        if tar_path.exists():
            return tar_path
        rootfs = folder / "rootfs"
        if rootfs.exists():
            shutil.rmtree(rootfs)
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={EXTRA_PACKAGES}", "bookworm",
             str(rootfs), MIRROR],
            check=True, capture_output=True, timeout=900,
        )
        for rel in _PRUNE:
            target = rootfs / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        tmp = tar_path.with_suffix(".tmp")
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(rootfs)):
                tar.add(rootfs / entry, arcname=entry)
        os.replace(tmp, tar_path)
        shutil.rmtree(rootfs)
        return tar_path
