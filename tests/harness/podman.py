"""podman with private configuration files, as TESTING.md describes.

Default settings fail on our machines (no cgroup v2, no CAP_SYS_RESOURCE), so every call goes
through :class:`Podman`, which points podman at its own ``containers.conf``, ``storage.conf``
and ``registries.conf`` under one folder. Registries listed in ``insecure`` are reached over
plain HTTP (or self-signed TLS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def podman_available() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None


class Podman:
    """Runs ``podman`` with configuration confined to ``root``."""

    def __init__(self, root: str | os.PathLike, insecure: tuple[str, ...] = ()):
        self.root = Path(root)
        for sub in ("tmp", "net", "root", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.insecure = tuple(insecure)
        self._write_config()

    def _write_config(self) -> None:
        r = self.root
        (r / "containers.conf").write_text(
            "[containers]\ndefault_ulimits = []\n"
            "[engine]\n"
            f'runtime = "runc"\ntmp_dir = "{r}/tmp"\nimage_copy_tmp_dir = "{r}/tmp"\n'
            "[network]\n"
            f'network_config_dir = "{r}/net"\n'
        )
        (r / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{r}/root"\nrunroot = "{r}/run"\n'
        )
        registries = "unqualified-search-registries = []\n"
        for host in self.insecure:
            registries += f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
        (r / "registries.conf").write_text(registries)

    def add_insecure(self, host: str) -> None:
        if host not in self.insecure:
            self.insecure = self.insecure + (host,)
            self._write_config()

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CONTAINERS_CONF"] = str(self.root / "containers.conf")
        env["CONTAINERS_STORAGE_CONF"] = str(self.root / "storage.conf")
        env["CONTAINERS_REGISTRIES_CONF"] = str(self.root / "registries.conf")
        return env

    def command(self, *args: str) -> list[str]:
        return ["podman", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 300,
            **kwargs) -> subprocess.CompletedProcess:
        """Run ``podman ARGS`` and return the completed process (text mode)."""
        kwargs.setdefault("cwd", self.root)  # conmon writes an 'oom' file into its cwd
        return subprocess.run(
            self.command(*args), env=self.env, check=check, timeout=timeout,
            capture_output=True, text=True, **kwargs,
        )

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("cwd", self.root)  # conmon writes an 'oom' file into its cwd
        return subprocess.Popen(self.command(*args), env=self.env, **kwargs)
