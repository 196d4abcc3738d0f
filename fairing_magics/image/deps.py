"""The dependency layer: the pinned requirements, installed from wheels for the image's Python.

Nothing runs inside the image. The requirements are installed here, into a folder of our own,
with wheels chosen for the *target* (Python minor version and platform, read from the base
image or given with ``--python``/``--platform``)::

    uv pip install --target DIR --python-version 3.11 --python-platform x86_64-manylinux_2_28 \\
        --only-binary :all: --no-compile REQ...
    pip install --target DIR --python-version 3.11 --platform manylinux_2_28_x86_64 \\
        --implementation cp --only-binary=:all: --no-compile REQ...

``uv`` is used when it is on PATH (it is several times faster, see ``benchmarks/bench_deps.py``),
else pip. The folder becomes a layer at ``/fairing/deps`` (on ``PYTHONPATH`` through the image
config's Env). Scripts (``bin/``) are dropped: their ``#!`` line names this machine's Python;
so is the ``.lock`` file uv leaves in the target folder.

The layer is cached under ``~/.cache/fairing-magics/deps/<key>/`` where ``key`` hashes the
requirements, the Python version and the platform: an unchanged set is never installed nor
compressed again, and, having the same digest, never uploaded again either. A requirement with
no wheel for the target raises :class:`BuildError` naming it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairing_magics.errors import BuildError, redact
from fairing_magics.image.layer import Layer, layer_from_folder
from fairing_magics.image.layout import DEPS_DIR

CACHE_FORMAT = 1
DEFAULT_GLIBC = "2.28"  # manylinux_2_28: Debian 10+, Ubuntu 18.10+, RHEL 8+; what current wheels target
_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64",
         "ppc64le": "ppc64le", "s390x": "s390x"}


def cache_root() -> Path:
    """``$FAIRING_CACHE_DIR`` or ``$XDG_CACHE_HOME/fairing-magics`` (``~/.cache/fairing-magics``)."""
    if os.environ.get("FAIRING_CACHE_DIR"):
        return Path(os.environ["FAIRING_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairing-magics"


@dataclass(frozen=True)
class Target:
    """What the wheels must fit: a Python minor version and a Linux platform."""

    python: str  # "3.11"
    platform: str = "linux/amd64"  # OCI os/arch[/variant]
    glibc: str = DEFAULT_GLIBC

    def __post_init__(self):
        if not re.fullmatch(r"3\.\d+", self.python):
            raise BuildError(f"--python {self.python!r} is not a Python minor version such as 3.11.")
        if self.arch is None:
            raise BuildError(f"--platform {self.platform!r} is not a Linux platform we can install wheels for: "
                             "use linux/amd64, linux/arm64, linux/ppc64le or linux/s390x.")

    @property
    def arch(self) -> str | None:
        parts = self.platform.split("/")
        return _ARCH.get(parts[1]) if len(parts) >= 2 and parts[0] == "linux" else None

    @property
    def pip_platform(self) -> str:
        return f"manylinux_{self.glibc.replace('.', '_')}_{self.arch}"

    @property
    def uv_platform(self) -> str:
        return f"{self.arch}-manylinux_{self.glibc.replace('.', '_')}"

    def describe(self) -> str:
        return f"Python {self.python} on {self.platform} (manylinux {self.glibc})"


def python_minor(version: str) -> str:
    """``3.11.7`` -> ``3.11``."""
    return ".".join(version.split(".")[:2])


def cache_key(requirements: Sequence[str], target: Target) -> str:
    body = json.dumps({"format": CACHE_FORMAT, "requirements": sorted(set(requirements)), "python": target.python,
                       "platform": target.platform, "glibc": target.glibc}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def choose_installer(preference: str = "auto") -> str:
    """``uv`` when asked for or available (``auto``), else ``pip``."""
    if preference == "pip":
        return "pip"
    if preference in ("uv", "auto") and shutil.which("uv"):
        return "uv"
    if preference == "uv":
        raise BuildError("The uv installer was asked for but is not on PATH: pip install uv, or use pip.")
    return "pip"


def install_command(installer: str, requirements: Sequence[str], target: Target, dest: Path) -> list[str]:
    """The command line that installs ``requirements`` for ``target`` into ``dest``."""
    if installer == "uv":
        return ["uv", "pip", "install", "--quiet", "--target", str(dest), "--python-version", target.python,
                "--python-platform", target.uv_platform, "--only-binary", ":all:", "--no-compile",
                *requirements]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-warn-script-location", "--target", str(dest), "--python-version", target.python,
            "--platform", target.pip_platform, "--implementation", "cp", "--only-binary=:all:", "--no-compile",
            *requirements]


_NO_WHEEL = [
    re.compile(r"No matching distribution found for ([^\s]+)"),
    re.compile(r"Because (?:only )?([A-Za-z0-9._-]+)(?:[<>=!~]=?[^\s]*)? (?:==[^\s]+ )?has no wheels"),
    re.compile(r"([A-Za-z0-9._-]+)(?:==[^\s]+)? has no (?:usable )?wheels"),
    re.compile(r"Because there (?:are|is) no versions of ([A-Za-z0-9._-]+)"),
]
_NOT_FOUND = re.compile(r"Because ([A-Za-z0-9._-]+) was not found in the package registry")


def _explain_failure(stderr: str, requirements: Sequence[str], target: Target, installer: str) -> BuildError:
    text = redact(stderr)
    missing = _NOT_FOUND.search(text)
    if missing:
        return BuildError(f"{missing.group(1)} is not on the package index. Check its name in the requirements "
                          "(--requirements FILE).")
    for pattern in _NO_WHEEL:
        match = pattern.search(text)
        if match:
            package = match.group(1).rstrip(",.")
            return BuildError(
                f"No wheel of {package} fits {target.describe()}, and the dependency layer is built from "
                f"wheels only. Pin a version of {package} that publishes one, choose another --python or "
                f"--platform, or use --builder docker to build it in the image.")
    tail = "\n".join(text.strip().splitlines()[-8:])
    return BuildError(f"Installing the requirements for {target.describe()} with {installer} failed:\n{tail}\n"
                      "Check the pins in requirements.txt (--requirements FILE) and the package index.")


def install_requirements(requirements: Sequence[str], target: Target, dest: Path, installer: str = "auto") -> str:
    """Install ``requirements`` for ``target`` into ``dest``; return the installer used."""
    chosen = choose_installer(installer)
    command = install_command(chosen, requirements, target, dest)
    env = dict(os.environ)
    env.pop("PIP_TARGET", None)
    env.pop("PIP_PREFIX", None)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise _explain_failure(proc.stderr + proc.stdout, requirements, target, chosen)
    shutil.rmtree(dest / "bin", ignore_errors=True)
    (dest / ".lock").unlink(missing_ok=True)  # uv's lock on the target folder, not a file to ship
    return chosen


def dependency_layer(requirements: Sequence[str], target: Target, *, cache_dir: str | os.PathLike | None = None,
                     installer: str = "auto") -> Layer | None:
    """The cached dependency layer for ``requirements`` (None when there are none)."""
    reqs = sorted({r.strip() for r in requirements if r.strip() and not r.strip().startswith("#")})
    if not reqs:
        return None
    folder = Path(cache_dir) if cache_dir is not None else cache_root()
    entry = folder / "deps" / cache_key(reqs, target)
    entry.mkdir(parents=True, exist_ok=True)
    blob, meta_path = entry / "layer.tar.gz", entry / "meta.json"
    description = f"fairing-magics: dependency layer at {DEPS_DIR} ({', '.join(reqs)}) for {target.describe()}"
    with open(entry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two kernels building the same set wait for one another
        if meta_path.exists() and blob.exists():
            meta = json.loads(meta_path.read_text())
            if blob.stat().st_size == meta["size"]:
                return Layer(description=description, path=blob, known=(meta["digest"], meta["diff_id"], meta["size"]))
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="install-", dir=entry) as tmp:
            site = Path(tmp) / "site"
            used = install_requirements(reqs, target, site, installer)
            layer = layer_from_folder(site, DEPS_DIR, description, blob)
        meta = {"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size, "requirements": reqs,
                "python": target.python, "platform": target.platform, "glibc": target.glibc, "installer": used,
                "seconds": round(time.monotonic() - started, 2)}
        tmp_meta = meta_path.with_suffix(".tmp")
        tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.replace(tmp_meta, meta_path)
        return layer
