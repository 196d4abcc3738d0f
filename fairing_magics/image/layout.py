"""Where our files live inside an image, and :class:`Payload`: what a source puts there.

Our files go to paths of our own, so that any Python base works (Debian's ``/usr/bin/python3``,
``python:3.11-slim``'s ``/usr/local/bin/python3``, large framework images)::

    /fairing/bundle   the bundle (main.py, values/, files/, fairing_bootstrap.py, ...)
    /fairing/deps     the pinned requirements, installed from wheels (on PYTHONPATH)
    /fairing/work     the working folder of the run (WorkingDir)
    /fairing/output   where the bootstrap writes outputs.pkl / error.json (FAIRING_OUTPUT_DIR)

A training image runs ``python3 /fairing/bundle/fairing_bootstrap.py /fairing/bundle`` and is
labelled with the bundle's digest (``fairing.capture.digest``); a serving image puts a model
folder at its own path (:mod:`.serving`).

A :class:`Payload` is a source (a bundle, a model) as every builder sees it: the requirements
of its dependency layer, the files of its own layer and the config that runs it. The builders
render the same image from it, so what an image holds and how it starts is said once, here and
in :mod:`.serving`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

import cloudpickle

from fairing_magics.capture.bundle import Bundle
from fairing_magics.oci.layer import Layer, TarEntry, entries_from_members, layer_from_entries

ROOT_DIR = "/fairing"
BUNDLE_DIR = "/fairing/bundle"
DEPS_DIR = "/fairing/deps"
WORK_DIR = "/fairing/work"
OUTPUT_DIR = "/fairing/output"
CMD = ("python3", f"{BUNDLE_DIR}/fairing_bootstrap.py", BUNDLE_DIR)
DIGEST_LABEL = "fairing.capture.digest"
# The run may not be root (Kubernetes securityContext): let anyone write these two folders.
_SHARED_MODE = 0o1777


@dataclass(frozen=True)
class Payload:
    """What a source adds on top of a base image (pure values).

    ``requirements``: the pinned packages of the dependency layer (at :data:`DEPS_DIR`);
    ``python``: the Python the source was made with (``3.11.7``), used for the wheels when
    neither ``--python`` nor the base image says; ``entries`` and ``description``: its own
    layer; ``env``, ``cmd``, ``workdir``, ``labels``: the config that runs it (``PYTHONPATH``
    is added by the builder when there are requirements, see :func:`deps_pythonpath`).
    """

    requirements: tuple[str, ...]
    python: str
    entries: tuple[TarEntry, ...]
    description: str
    env: tuple[tuple[str, str], ...]
    cmd: tuple[str, ...]
    workdir: str
    labels: tuple[tuple[str, str], ...]

    def layer(self) -> Layer:
        """The payload's own layer (small: built in memory)."""
        return layer_from_entries(self.entries, self.description)

    def config(self, base_env: Mapping[str, str], *, with_deps: bool) -> dict:
        """The config changes of :func:`~fairing_magics.oci.image.append_layers` that run the
        payload on a base whose environment is ``base_env``."""
        env = dict(self.env)
        if with_deps:
            env["PYTHONPATH"] = deps_pythonpath(base_env.get("PYTHONPATH", ""))
        return {"env": env, "cmd": list(self.cmd), "workdir": self.workdir,
                "labels": dict(self.labels)}


def deps_pythonpath(base_pythonpath: str) -> str:
    """``PYTHONPATH`` with the dependency layer first and the base's own entries kept after it."""
    kept = [p for p in base_pythonpath.split(":") if p and p != DEPS_DIR]
    return ":".join([DEPS_DIR, *kept])


def _requirement_name(requirement: str) -> str:
    name = requirement.strip()
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " ", "@"):
        name = name.split(sep, 1)[0]
    return name.strip().lower().replace("_", "-")


def runtime_requirements(bundle: Bundle) -> tuple[str, ...]:
    """The bundle's requirements, plus this kernel's cloudpickle when the bundle pickles
    anything (the bootstrap unpickles with it)."""
    reqs = [r for r in bundle.requirements if r.strip()]
    pickles = bool(bundle.pickle or bundle.outputs)
    if pickles and "cloudpickle" not in {_requirement_name(r) for r in reqs}:
        reqs.append(f"cloudpickle=={cloudpickle.__version__}")
    return tuple(reqs)


def bundle_entries(bundle: Bundle) -> tuple[TarEntry, ...]:
    """The files of the code layer: the bundle at /fairing/bundle, the work and output folders."""
    entries = entries_from_members(bundle.members(), BUNDLE_DIR)
    entries += [TarEntry(WORK_DIR.lstrip("/"), kind="dir", mode=_SHARED_MODE),
                TarEntry(OUTPUT_DIR.lstrip("/"), kind="dir", mode=_SHARED_MODE)]
    return tuple(entries)


def bundle_payload(bundle: Bundle) -> Payload:
    """A training bundle as a :class:`Payload`: the code layer, and the bootstrap as Cmd."""
    short = bundle.digest.split(":", 1)[1][:12]
    default_python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return Payload(
        requirements=runtime_requirements(bundle),
        python=bundle.python or default_python,
        entries=bundle_entries(bundle),
        description=f"fairing-magics: code layer, bundle {short} at {BUNDLE_DIR}",
        env=(("FAIRING_OUTPUT_DIR", OUTPUT_DIR), ("PYTHONUNBUFFERED", "1")),
        cmd=CMD,
        workdir=WORK_DIR,
        labels=((DIGEST_LABEL, bundle.digest),),
    )


def code_layer(bundle: Bundle) -> Layer:
    """The small layer holding ``bundle`` at /fairing/bundle, plus the work and output folders."""
    return bundle_payload(bundle).layer()
