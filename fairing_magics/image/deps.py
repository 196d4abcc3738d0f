"""The dependency layer: the pinned requirements, installed from wheels for the image's Python.

Nothing runs inside the image. The requirements are installed here, into a folder of our own,
with wheels chosen for the *target*: the Python minor version (read from the base image or given
with ``--python``), the platform (the base's, or ``--platform``) and the base's C library::

    uv pip install --target DIR --python-version 3.11 --python-platform x86_64-manylinux_2_36 \\
        --only-binary :all: --no-compile REQ...
    pip install --target DIR --python-version 3.11 --platform manylinux_2_36_x86_64 ... \\
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 ... \\
        --implementation cp --only-binary=:all: --no-compile --no-input REQ...

**Which wheels** (:class:`Target`): the base's libc is read from its layers once per base digest
(:mod:`.libc`, cached under ``<cache>/libc/``). glibc 2.NN -> ``manylinux_2_NN`` and older tags,
so a wheel that needs a newer glibc than the base has (and would fail at import in the container)
is never chosen; uv knows a fixed set of NN (:data:`UV_MANYLINUX`), the newest not above the
base's is used. musl (Alpine) -> ``musllinux_1_N`` (uv: ``<arch>-unknown-linux-musl``). When the
libc cannot be read (no libc in the layers: distroless, scratch) the default, glibc
:data:`DEFAULT_GLIBC`, is used and the build says so in a notice.

**Which index** (:mod:`.package_index`): ``%fairing_config --index-url URL [--extra-index-url
URL]``, else pip's own ``index-url`` (``PIP_INDEX_URL`` or pip.conf, read, not run), else the
installer's default. It reaches the installer through the environment (``UV_INDEX_URL``,
``PIP_INDEX_URL``...), never the command line; pip runs isolated from its configuration so pip and
uv use the same indexes. Credentials in a URL never reach a message, the panel or the image.
The index being down, or refusing the credentials, is one line naming the index (redacted).

``uv`` is used when it is on PATH (it is several times faster, see ``benchmarks/bench_deps.py``),
else pip. The folder becomes a layer at ``/fairing/deps`` (on ``PYTHONPATH`` through the image
config's Env). Scripts (``bin/``) are dropped: their ``#!`` line names this machine's Python;
so is the ``.lock`` file uv leaves in the target folder.

The layer is cached under ``~/.cache/fairing-magics/deps/<key>/`` where ``key`` hashes the
requirements, the Python version, the platform, the libc and the index URLs *without* their user
info (see :func:`cache_key`): an unchanged set is never installed nor compressed again, and,
having the same digest, never uploaded again either; a rotated index token keeps the cache. A
requirement with no wheel for the target raises :class:`BuildError` naming it.
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
from fairing_magics.image.layout import DEPS_DIR
from fairing_magics.image.package_index import PackageIndex
from fairing_magics.oci.layer import Layer, layer_from_folder

CACHE_FORMAT = 1
# manylinux_2_28: Debian 10+, Ubuntu 18.10+, RHEL 8+; what current wheels target
DEFAULT_GLIBC = "2.28"
#: The glibc minors uv 0.5-0.13 names in ``--python-platform <arch>-manylinux_2_NN``.
UV_MANYLINUX = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64",
         "ppc64le": "ppc64le", "s390x": "s390x"}


def cache_root() -> Path:
    """``$FAIRING_CACHE_DIR``, else ``$XDG_CACHE_HOME/fairing-magics``
    (``~/.cache/fairing-magics``)."""
    if os.environ.get("FAIRING_CACHE_DIR"):
        return Path(os.environ["FAIRING_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairing-magics"


@dataclass(frozen=True)
class Target:
    """What the wheels must fit: a Python minor version and a Linux platform with its C library:
    glibc ``glibc`` (``manylinux_2_NN`` wheels, NN <= its minor) or, when ``musl`` is set (``1.2``),
    musl (``musllinux_1_N`` wheels)."""

    python: str  # "3.11"
    platform: str = "linux/amd64"  # OCI os/arch[/variant]
    glibc: str = DEFAULT_GLIBC
    musl: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"3\.\d+", self.python):
            raise BuildError(f"--python {self.python!r} is not a Python minor version such "
                             "as 3.11.")
        if self.arch is None:
            raise BuildError(f"--platform {self.platform!r} is not a Linux platform we can install "
                             "wheels for: use linux/amd64, linux/arm64, linux/ppc64le or "
                             "linux/s390x.")

    @property
    def arch(self) -> str | None:
        parts = self.platform.split("/")
        return _ARCH.get(parts[1]) if len(parts) >= 2 and parts[0] == "linux" else None

    @property
    def _minor(self) -> int:
        return int((self.musl or self.glibc).split(".")[1])

    @property
    def pip_platforms(self) -> list[str]:
        """pip's ``--platform`` values, newest first: pip does not widen ``manylinux_2_NN`` to the
        older tags a glibc 2.NN also runs (PEP 600), so every one is named."""
        if self.musl:
            return [f"musllinux_1_{n}_{self.arch}" for n in range(self._minor, 0, -1)]
        tags = [f"manylinux_2_{n}_{self.arch}" for n in range(self._minor, 16, -1)]
        legacy = [f"manylinux2014_{self.arch}"]
        if self.arch == "x86_64":
            legacy += [f"manylinux2010_{self.arch}", f"manylinux1_{self.arch}"]
        return tags + (legacy if self._minor >= 17 else [])

    @property
    def pip_platform(self) -> str:
        return self.pip_platforms[0]

    @property
    def uv_platform(self) -> str:
        """uv's ``--python-platform``: ``<arch>-unknown-linux-musl`` for musl, else the newest
        ``<arch>-manylinux_2_NN`` uv knows that the glibc runs (uv widens it to older tags)."""
        if self.musl:
            return f"{self.arch}-unknown-linux-musl"
        fitting = [n for n in UV_MANYLINUX if n <= self._minor] or [min(UV_MANYLINUX)]
        return f"{self.arch}-manylinux_2_{max(fitting)}"

    def describe(self) -> str:
        libc = f"musllinux {self.musl}" if self.musl else f"manylinux {self.glibc}"
        return f"Python {self.python} on {self.platform} ({libc})"


def python_minor(version: str) -> str:
    """``3.11.7`` -> ``3.11``."""
    return ".".join(version.split(".")[:2])


def cache_key(requirements: Sequence[str], target: Target,
              index: PackageIndex | None = None) -> str:
    """The dependency cache entry: requirements, Python, platform, libc, and the index's URLs
    without credentials (a pin may name a different file on a private index than on PyPI; a
    mirror of PyPI costs one install, not an upload: its wheels give the same layer digest)."""
    body = json.dumps({"format": CACHE_FORMAT, "requirements": sorted(set(requirements)),
                       "python": target.python,
                       "platform": target.platform, "glibc": target.glibc, "musl": target.musl,
                       **(index.key() if index is not None else {})}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def choose_installer(preference: str = "auto") -> str:
    """``uv`` when asked for or available (``auto``), else ``pip``."""
    if preference == "pip":
        return "pip"
    if preference in ("uv", "auto") and shutil.which("uv"):
        return "uv"
    if preference == "uv":
        raise BuildError("The uv installer was asked for but is not on PATH: pip install uv, "
                         "or use pip.")
    return "pip"


def install_command(installer: str, requirements: Sequence[str], target: Target,
                    dest: Path) -> list[str]:
    """The command line that installs ``requirements`` for ``target`` into ``dest`` (the index
    goes through :func:`install_environment`, never the command line)."""
    if installer == "uv":
        return ["uv", "pip", "install", "--quiet", "--target", str(dest),
                "--python-version", target.python, "--python-platform", target.uv_platform,
                "--only-binary", ":all:", "--no-compile", *requirements]
    platforms = [arg for platform in target.pip_platforms for arg in ("--platform", platform)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-input", "--no-warn-script-location", "--target", str(dest),
            "--python-version", target.python, *platforms, "--implementation", "cp",
            "--only-binary=:all:", "--no-compile", *requirements]


# pip variables that say how to reach an index, not which packages to take: kept.
_PIP_TRANSPORT = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TIMEOUT", "PIP_DEFAULT_TIMEOUT",
                  "PIP_RETRIES", "PIP_TRUSTED_HOST"}


def install_environment(installer: str, index: PackageIndex | None = None,
                        environ: dict[str, str] | None = None) -> dict[str, str]:
    """The installer's environment: this one, minus what would send files elsewhere (``PIP_TARGET``,
    ``PIP_PREFIX``), with the index of :mod:`.package_index`. pip runs isolated from its own
    configuration (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*`` but the transport ones: cert, proxy,
    timeout, retries, trusted host), so it uses the same indexes as uv;
    uv loses ``UV_DEFAULT_INDEX``/``UV_INDEX`` when an index was chosen (ours must win)."""
    env = dict(os.environ if environ is None else environ)
    env.pop("PIP_TARGET", None)
    env.pop("PIP_PREFIX", None)
    index = index or PackageIndex()
    if installer == "pip":
        env = {k: v for k, v in env.items() if not k.startswith("PIP_") or k in _PIP_TRANSPORT}
        env["PIP_CONFIG_FILE"] = os.devnull
    elif index.url or index.extra_urls:
        for name in ("UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL"):
            env.pop(name, None)
    chosen = index.environment(installer)
    if env.get("PIP_TRUSTED_HOST") and "PIP_TRUSTED_HOST" in chosen:
        chosen["PIP_TRUSTED_HOST"] = f"{env['PIP_TRUSTED_HOST']} {chosen['PIP_TRUSTED_HOST']}"
    env.update(chosen)
    return env


_NO_WHEEL = [
    re.compile(r"No matching distribution found for ([^\s]+)"),
    re.compile(r"Because (?:only )?([A-Za-z0-9._-]+)(?:[<>=!~]=?[^\s]*)? (?:==[^\s]+ )?"
               r"has no wheels"),
    re.compile(r"([A-Za-z0-9._-]+)(?:==[^\s]+)? has no (?:usable )?wheels"),
    re.compile(r"Because there (?:are|is) no versions of ([A-Za-z0-9._-]+)"),
]
_NOT_FOUND = re.compile(r"Because ([A-Za-z0-9._-]+) was not found in the package registry")
_REFUSED = re.compile(r"(?i)\b(401|403)\b[^\n]*(?:unauthorized|forbidden|credentials)|lack of "
                      r"valid authentication|credentials not correct")
_UNREACHABLE = [
    (re.compile(r"(?i)connection refused|Failed to establish a new connection|tcp connect error"),
     "connection refused"),
    (re.compile(r"(?i)dns error|failed to lookup address|Name or service not known|getaddrinfo "
                r"failed|Temporary failure in name resolution"), "DNS lookup failed"),
    (re.compile(r"(?i)timed out|operation timed out"), "timed out"),
    (re.compile(r"(?i)certificate verify failed|invalid peer certificate|UnknownIssuer"),
     "TLS certificate not trusted"),
]
_INDEX_STATUS = re.compile(r"(?i)HTTP status (?:server|client) error \((\d{3})|\b(\d{3}) "
                           r"(?:Server|Client) Error")


def _explain_failure(stderr: str, requirements: Sequence[str], target: Target, installer: str,
                     index: PackageIndex | None = None) -> BuildError:
    text = redact(stderr)
    index = index or PackageIndex()
    where = redact(index.shown)
    if _REFUSED.search(text):
        status = "403" if re.search(r"\b403\b", text) else "401"
        return BuildError(f"The package index {where} refused the credentials ({status}) while "
                          "installing the requirements: check the user and token in --index-url "
                          "(or the pip config it came from).")
    for pattern, reason in _UNREACHABLE:
        if pattern.search(text) and ("http" in text.lower() or "index" in text.lower()):
            return BuildError(f"The package index {where} cannot be reached ({reason}) while "
                              "installing the requirements: check the URL (%fairing_config "
                              "--index-url) and that the index is up.")
    status = _INDEX_STATUS.search(text)
    if status:
        return BuildError(f"The package index {where} answered HTTP "
                          f"{status.group(1) or status.group(2)} while installing the "
                          "requirements: check the URL (%fairing_config --index-url), or try "
                          "again later.")
    missing = _NOT_FOUND.search(text)
    if missing:
        return BuildError(f"{missing.group(1)} is not on the package index ({where}). Check its "
                          "name in the requirements (--requirements FILE) or the index "
                          "(--index-url).")
    for pattern in _NO_WHEEL:
        match = pattern.search(text)
        if match:
            package = match.group(1).rstrip(",.")
            return BuildError(
                f"No wheel of {package} fits {target.describe()}, and the dependency layer is "
                f"built from wheels only. Pin a version of {package} that publishes one, choose "
                "another --python or --platform, or use --builder docker to build it in the image.")
    tail = "\n".join(text.strip().splitlines()[-8:])
    return BuildError(f"Installing the requirements for {target.describe()} from {where} with "
                      f"{installer} failed:\n{tail}\nCheck the pins in requirements.txt "
                      "(--requirements FILE) and the package index.")


def install_requirements(requirements: Sequence[str], target: Target, dest: Path,
                         installer: str = "auto", index: PackageIndex | None = None) -> str:
    """Install ``requirements`` for ``target`` into ``dest`` from ``index``; return the
    installer used."""
    chosen = choose_installer(installer)
    command = install_command(chosen, requirements, target, dest)
    env = install_environment(chosen, index)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise _explain_failure(proc.stderr + proc.stdout, requirements, target, chosen, index)
    shutil.rmtree(dest / "bin", ignore_errors=True)
    (dest / ".lock").unlink(missing_ok=True)  # uv's lock on the target folder, not a file to ship
    return chosen


def dependency_layer(requirements: Sequence[str], target: Target, *,
                     cache_dir: str | os.PathLike | None = None,
                     installer: str = "auto", index: PackageIndex | None = None) -> Layer | None:
    """The cached dependency layer for ``requirements`` (None when there are none), installed
    from ``index`` (default: the installer's default index; see :mod:`.package_index`)."""
    reqs = sorted({r.strip() for r in requirements if r.strip() and not r.strip().startswith("#")})
    if not reqs:
        return None
    folder = Path(cache_dir) if cache_dir is not None else cache_root()
    entry = folder / "deps" / cache_key(reqs, target, index)
    entry.mkdir(parents=True, exist_ok=True)
    blob, meta_path = entry / "layer.tar.gz", entry / "meta.json"
    description = (f"fairing-magics: dependency layer at {DEPS_DIR} ({', '.join(reqs)}) for "
                   f"{target.describe()}")
    with open(entry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two kernels building the same set wait for one another
        if meta_path.exists() and blob.exists():
            meta = json.loads(meta_path.read_text())
            if blob.stat().st_size == meta["size"]:
                return Layer(description=description, path=blob,
                             known=(meta["digest"], meta["diff_id"], meta["size"]))
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="install-", dir=entry) as tmp:
            site = Path(tmp) / "site"
            used = install_requirements(reqs, target, site, installer, index)
            layer = layer_from_folder(site, DEPS_DIR, description, blob)
        meta = {"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
                "requirements": reqs, "python": target.python, "platform": target.platform,
                "glibc": target.glibc, "musl": target.musl, "installer": used,
                "index": redact((index or PackageIndex()).shown),
                "seconds": round(time.monotonic() - started, 2)}
        tmp_meta = meta_path.with_suffix(".tmp")
        tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.replace(tmp_meta, meta_path)
        return layer
