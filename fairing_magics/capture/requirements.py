"""Third-party imports -> pinned requirements (``dist==version``).

An import name is mapped to the distribution that installed it with
``importlib.metadata.packages_distributions()`` (``sklearn`` -> scikit-learn, ``yaml`` ->
PyYAML, ``cv2`` -> whichever opencv-python variant is installed), with a small table of
well-known names as a fallback for packages whose metadata does not list their top-level
modules. The standard library is left out. Editable and local (``file://``) installs are
reported as not reproducible and left out of ``requirements.txt``: a container cannot install
them from an index.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import sys
from functools import lru_cache

from fairing_magics.capture.bundle import PackageInfo

# import name -> distribution, for metadata that does not say (old sdists, some wheels)
KNOWN_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
    "cv2": "opencv-python",
    "PIL": "Pillow",
    "bs4": "beautifulsoup4",
    "attr": "attrs",
    "dateutil": "python-dateutil",
    "google.protobuf": "protobuf",
    "jwt": "PyJWT",
    "OpenSSL": "pyOpenSSL",
    "Crypto": "pycryptodome",
    "dotenv": "python-dotenv",
    "magic": "python-magic",
    "serial": "pyserial",
    "usb": "pyusb",
    "zmq": "pyzmq",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "tensorflow": "tensorflow",
    "torch": "torch",
}

# Modules a fresh interpreter has without installing anything.
STDLIB = (frozenset(getattr(sys, "stdlib_module_names", ()))
          | frozenset(sys.builtin_module_names) | {"__future__", "__main__"})


def is_stdlib(module: str) -> bool:
    """True when ``module`` (or its top-level package) is part of the standard library."""
    return module.split(".")[0] in STDLIB


@lru_cache(maxsize=1)
def _distributions_by_import() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@lru_cache(maxsize=256)
def _dist_facts(dist: str) -> tuple[str, str, bool, str] | None:
    """(canonical name, version, reproducible, note) of an installed distribution."""
    try:
        found = list(metadata.distributions(name=dist))
    except Exception:  # noqa: BLE001 - broken metadata is treated as not installed
        found = []
    if not found:
        return None
    name = found[0].metadata["Name"] or dist
    version = found[0].version
    for dist_obj in found:
        text = dist_obj.read_text("direct_url.json")
        if not text:
            continue
        try:
            direct = json.loads(text)
        except ValueError:
            continue
        if direct.get("dir_info", {}).get("editable"):
            return (name, version, False,
                    "editable install from " + direct.get("url", "a local folder"))
        if str(direct.get("url", "")).startswith("file:"):
            return name, version, False, "installed from local path " + direct["url"]
    return name, version, True, ""


@lru_cache(maxsize=256)
def _guess_distribution(top: str) -> str | None:
    """The distribution named like ``top`` (or known for it) when it really provides ``top``.

    Much faster than ``packages_distributions()``, which reads every installed RECORD file.
    """
    for name in (KNOWN_DISTRIBUTIONS.get(top), top):
        if not name:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        top_level = dist.read_text("top_level.txt")
        if top_level is not None:
            if top in top_level.split():
                return name
            continue
        located = [dist.locate_file(top), dist.locate_file(top + ".py")]
        if any(os.path.exists(str(path)) for path in located):
            return name
    return None


def _owns(dist: str, module: str) -> bool:
    """True when distribution ``dist`` installed files of ``module`` (a dotted name)."""
    prefix = module.replace(".", "/")
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return False
    return any(str(f).startswith((prefix + "/", prefix + ".")) for f in files)


def _is_namespace_package(top: str) -> bool:
    module = sys.modules.get(top)
    return (module is not None and getattr(module, "__file__", None) is None
            and hasattr(module, "__path__"))


def find_package(module: str) -> PackageInfo | None:
    """The distribution providing ``module`` (a dotted import name), or None if unknown/stdlib.

    For a namespace package shared by several distributions (``google``), pass the dotted name
    (``google.protobuf``): the distribution that installed that part is chosen.
    """
    if is_stdlib(module):
        return None
    top = module.split(".")[0]
    known = KNOWN_DISTRIBUTIONS.get(module)
    guessed = known if known and _dist_facts(known) else _guess_distribution(top)
    dists = [guessed] if guessed else sorted(set(_distributions_by_import().get(top) or []))
    if len(dists) > 1 and "." in module:
        owners = [d for d in dists if _owns(d, module)]
        dists = owners or dists
    if not dists:
        fallback = KNOWN_DISTRIBUTIONS.get(top)
        dists = [fallback] if fallback else [top]
    for dist in dists:
        facts = _dist_facts(dist)
        if facts is not None:
            name, version, reproducible, note = facts
            return PackageInfo(module if "." in module and _is_namespace_package(top) else top,
                               name, version, reproducible, note)
    return None


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=256)
def _required_distributions(dist: str) -> frozenset[str]:
    """The (normalized) distributions ``dist`` requires unconditionally, extras left out."""
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return frozenset()
    found = set()
    for line in requires:
        marker = line.partition(";")[2]
        if "extra" in marker:
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match:
            found.add(_normalized(match.group(1)))
    return frozenset(found)


def loaded_with(modules: set[str], candidates: set[str]) -> set[str]:
    """The ``candidates`` (top-level import names) whose distributions the distributions of
    ``modules`` require, transitively: what importing ``modules`` loads too (statsmodels loads
    pandas, seaborn loads matplotlib), so the settings of those libraries matter to the code."""
    tops = frozenset(m.split(".")[0] for m in modules if not is_stdlib(m))
    return set(_loaded_with(tops, frozenset(candidates)))


@lru_cache(maxsize=256)
def _loaded_with(modules: frozenset[str], candidates: frozenset[str]) -> frozenset[str]:
    queue = [info.dist for module in sorted(modules)
             for info in [find_package(module)] if info is not None]
    seen = {_normalized(d) for d in queue}
    while queue:
        for required in _required_distributions(queue.pop()):
            if required not in seen:
                seen.add(required)
                queue.append(required)
    return frozenset(name for name in candidates if not is_stdlib(name)
                     for info in [find_package(name)]
                     if info is not None and _normalized(info.dist) in seen)


def is_runtime_module(name: str) -> bool:
    """True for a private module an extension made at run time rather than one imported from a
    file: Cython's shared-types module (``_cython_3_3_1``), which compiled functions of pandas or
    scikit-learn name as their ``__module__``. It has no spec, no file and no path; the
    package whose extension made it is pinned already, so there is nothing to install or say.
    (A public module made at run time, e.g. by the notebook, still gets its note.)"""
    module = sys.modules.get(name)
    return (name.startswith("_") and module is not None
            and getattr(module, "__spec__", None) is None
            and getattr(module, "__file__", None) is None and not hasattr(module, "__path__"))


def pin_requirements(modules: set[str]) -> tuple[tuple[PackageInfo, ...], tuple[str, ...]]:
    """Packages for the imported ``modules`` and the notes about modules no package provides.

    Modules are looked up by their top-level package, except inside namespace packages
    (``google.cloud.storage``), where the first two parts decide.
    """
    packages: dict[str, PackageInfo] = {}
    notes = []
    keys = set()
    for module in modules:
        parts = module.split(".")
        keys.add(".".join(parts[:2]) if len(parts) > 1 and _is_namespace_package(parts[0])
                 else parts[0])
    for key in sorted(keys):
        if is_stdlib(key) or key in packages or is_runtime_module(key):
            continue
        info = find_package(key)
        if info is None:
            notes.append(f"module {key!r} comes from no installed distribution; "
                         "it is not in requirements.txt")
            continue
        packages[key] = info
    return tuple(packages.values()), tuple(notes)


def requirement_lines(packages: tuple[PackageInfo, ...]) -> tuple[str, ...]:
    """``dist==version`` for every reproducible package, sorted by distribution name,
    deduplicated."""
    return tuple(sorted({f"{p.dist}=={p.version}" for p in packages if p.reproducible},
                        key=str.lower))
