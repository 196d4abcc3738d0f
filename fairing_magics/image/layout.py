"""Where a bundle lives inside the image, and the code layer that puts it there.

Our files go to paths of our own, so that any Python base works (Debian's ``/usr/bin/python3``,
``python:3.11-slim``'s ``/usr/local/bin/python3``, large framework images)::

    /fairing/bundle   the bundle (main.py, values/, files/, fairing_bootstrap.py, ...)
    /fairing/deps     the pinned requirements, installed from wheels (on PYTHONPATH)
    /fairing/work     the working folder of the run (WorkingDir)
    /fairing/output   where the bootstrap writes outputs.pkl / error.json (FAIRING_OUTPUT_DIR)

The container runs ``python3 /fairing/bundle/fairing_bootstrap.py /fairing/bundle``; the image
is labelled with the bundle's digest (``fairing.capture.digest``).
"""

from __future__ import annotations

from fairing_magics.capture.bundle import Bundle
from fairing_magics.image.layer import Layer, TarEntry, entries_from_members, layer_from_entries

ROOT_DIR = "/fairing"
BUNDLE_DIR = "/fairing/bundle"
DEPS_DIR = "/fairing/deps"
WORK_DIR = "/fairing/work"
OUTPUT_DIR = "/fairing/output"
CMD = ("python3", f"{BUNDLE_DIR}/fairing_bootstrap.py", BUNDLE_DIR)
DIGEST_LABEL = "fairing.capture.digest"
# The run may not be root (Kubernetes securityContext): let anyone write these two folders.
_SHARED_MODE = 0o1777


def code_layer(bundle: Bundle) -> Layer:
    """The small layer holding ``bundle`` at /fairing/bundle, plus the work and output folders."""
    entries = entries_from_members(bundle.members(), BUNDLE_DIR)
    entries += [TarEntry(WORK_DIR.lstrip("/"), kind="dir", mode=_SHARED_MODE),
                TarEntry(OUTPUT_DIR.lstrip("/"), kind="dir", mode=_SHARED_MODE)]
    short = bundle.digest.split(":", 1)[1][:12]
    return layer_from_entries(entries, f"fairing-magics: code layer, bundle {short} at {BUNDLE_DIR}")


def runtime_changes(bundle: Bundle, base_env: dict[str, str], *, with_deps: bool) -> dict:
    """The config changes (for :func:`~fairing_magics.image.image.append_layers`) that make the
    image run ``bundle``: Env, Cmd, WorkingDir, labels."""
    env = {"FAIRING_OUTPUT_DIR": OUTPUT_DIR, "PYTHONUNBUFFERED": "1"}
    if with_deps:
        kept = [p for p in base_env.get("PYTHONPATH", "").split(":") if p and p != DEPS_DIR]
        env["PYTHONPATH"] = ":".join([DEPS_DIR, *kept])
    return {
        "env": env,
        "cmd": list(CMD),
        "workdir": WORK_DIR,
        "labels": {DIGEST_LABEL: bundle.digest},
    }
