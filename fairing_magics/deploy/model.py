"""A model becomes a model folder: what ``serve.py`` loads, locally or in an image.

The folder (``MODEL_DIR``) holds::

    model.pkl              the model (anything with predict(), or a callable), cloudpickled
    predictor.pkl          optional pre/post-processing (a function or a class), cloudpickled
    requirements.txt       the packages the pickles refer to, pinned to the kernel's versions
    serve.py               the serving runtime (fairing_magics/runtime/serve.py)
    fairing_model.json     what is inside: the model's type, requirements, Python, digest

:func:`package_model` makes the :class:`ModelPackage` value (pure, in memory);
:func:`write_model_folder` puts it on disk. The requirements come from the pickles themselves:
every module a pickle refers to by reference (``sklearn.linear_model._base``, ``numpy``) is
mapped to its distribution with the capture engine's requirement mapper, so a scikit-learn model
brings ``scikit-learn``, ``numpy`` and ``scipy`` at the kernel's versions, and ``cloudpickle``
always (serve.py unpickles with it).

Where a model comes from (:func:`resolve_model`): a value of the kernel, the ``outputs.pkl`` of a
run (``from_run``, in run storage), or a URI (``s3://bucket/prefix/runs/RUN/``, a ``.pkl`` on S3,
a local path).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickletools
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fairing_magics.capture.bundle import runtime_source
from fairing_magics.errors import ConfigError, DeployError

MODEL_FILE = "model.pkl"
PREDICTOR_FILE = "predictor.pkl"
REQUIREMENTS_FILE = "requirements.txt"
SERVER_FILE = "serve.py"
MANIFEST_FILE = "fairing_model.json"
OUTPUTS_FILE = "outputs.pkl"

# Pickle opcodes that load a module attribute by reference.
_GLOBAL_OPS = {"GLOBAL", "INST"}
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
               "BINSTRING", "SHORT_BINSTRING"}
_MEMO_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_MEMO_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
# cloudpickle ships a module a function uses by value as subimport("name").
_SUBIMPORTS = {"subimport", "dynamic_subimport"}


@dataclass(frozen=True)
class ModelPackage:
    """A model ready to serve: the files of its model folder, in memory.

    ``members`` maps file names to bytes (see the module docstring); ``requirements`` are the
    pinned packages; ``description`` says what the model is, for people (``LinearRegression``).
    """

    members: Mapping[str, bytes]
    requirements: tuple[str, ...] = ()
    description: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def digest(self) -> str:
        """``sha256:...`` of the folder's content (the manifest aside): same model, same digest."""
        h = hashlib.sha256()
        for name in sorted(self.members):
            if name == MANIFEST_FILE:
                continue
            data = self.members[name]
            h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        return "sha256:" + h.hexdigest()

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.members.values())


def describe_object(obj: Any) -> str:
    """``LinearRegression (sklearn)``, ``function predict``: what a model is, in a few words."""
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    kind = type(obj)
    module = (kind.__module__ or "").split(".")[0]
    if callable(obj) and not hasattr(obj, "predict") and hasattr(obj, "__qualname__"):
        return f"function {obj.__qualname__}"
    return (f"{kind.__qualname__} ({module})" if module not in ("builtins", "__main__")
            else kind.__qualname__)


def check_servable(model: Any) -> None:
    """Refuse what serve.py could not call: neither a ``predict`` method nor a callable."""
    if isinstance(model, type):
        raise ConfigError(f"the model is the {describe_object(model)} itself, which has no "
                          "predict() of its own: create and fit one "
                          "(model = LinearRegression().fit(x, y)), then deploy that")
    if callable(getattr(model, "predict", None)) or (callable(model)
                                                     and not isinstance(model, type)):
        return
    raise ConfigError(f"the model is a {describe_object(model)}, which has no predict() method "
                      "and is not callable: deploy a fitted estimator, a pipeline, or a function "
                      "f(x)")


def pickle_modules(data: bytes) -> set[str]:
    """The modules a pickle refers to by reference (its GLOBAL/STACK_GLOBAL opcodes, and the
    modules cloudpickle re-imports with ``subimport``)."""
    modules: set[str] = set()
    memo: dict[int, object] = {}
    pushed: list[object] = []  # the values of the last push opcodes (strings and memo gets)
    want_subimport = False
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in _STRING_OPS:
                value = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                if want_subimport and isinstance(value, str):
                    modules.add(value)
                    want_subimport = False
                pushed.append(value)
            elif name in _MEMO_GET_OPS:
                pushed.append(memo.get(arg))
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in _MEMO_PUT_OPS:
                memo[arg] = pushed[-1] if pushed else None
            elif name in _GLOBAL_OPS:
                module, _, attr = str(arg).partition(" ")
                modules.add(module)
                want_subimport = attr in _SUBIMPORTS
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                module, attr = ((pushed[-2:] + [None, None])[:2] if len(pushed) >= 2
                                else (None, None))
                if isinstance(module, str):
                    modules.add(module)
                want_subimport = attr in _SUBIMPORTS
                pushed.append(None)
            else:
                pushed.append(None)
            if len(pushed) > 64:
                del pushed[:-8]
    # a pickle we cannot walk still serves; requirements are a help
    except Exception:  # noqa: BLE001
        pass
    return {m for m in modules if m and not m.startswith("__")}


def find_requirements(pickles: list[bytes], extra_modules: set[str] = frozenset()
                      ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Pinned requirements (``dist==version``) for the modules the pickles refer to, cloudpickle
    always included; and notes about modules no installed distribution provides."""
    from fairing_magics.capture.requirements import pin_requirements, requirement_lines

    modules = set(extra_modules) | {"cloudpickle"}
    for data in pickles:
        modules |= pickle_modules(data)
    packages, notes = pin_requirements(modules)
    notes = tuple(n for n in notes if "'__main__'" not in n)
    return requirement_lines(packages), notes


def _dumps(obj: Any, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the user's to fix
        raise DeployError(f"cannot pickle the {what} ({describe_object(obj)}): "
                          f"{type(exc).__name__}: {exc}. Deploy an object cloudpickle can save "
                          "(no open files, locks or connections in it).") from exc


def package_model(model: Any, *, predictor: Any = None) -> ModelPackage:
    """The model folder of ``model`` (and ``predictor``), with its requirements found."""
    check_servable(model)
    members = {MODEL_FILE: _dumps(model, "model")}
    if predictor is not None:
        if not (callable(predictor) or any(callable(getattr(predictor, n, None))
                                           for n in ("preprocess", "predict", "postprocess"))):
            raise ConfigError(f"the predictor is a {describe_object(predictor)}: give a function "
                              "predict(model, x) or a class with "
                              "preprocess/predict/postprocess methods")
        members[PREDICTOR_FILE] = _dumps(predictor, "predictor")
    extra = set()
    if getattr(model, "feature_names_in_", None) is not None:
        extra.add("pandas")  # fitted on a DataFrame: serve.py rebuilds one from the instances
    requirements, notes = find_requirements(list(members.values()), extra)
    members[REQUIREMENTS_FILE] = "".join(r + "\n" for r in requirements).encode()
    members[SERVER_FILE] = runtime_source("serve.py")
    description = describe_object(model)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    package = ModelPackage(members=members, requirements=requirements, description=description,
                           notes=notes)
    manifest = {"model": description,
                "predictor": describe_object(predictor) if predictor is not None else None,
                "requirements": list(requirements), "python": python, "digest": package.digest}
    members[MANIFEST_FILE] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return ModelPackage(members=dict(sorted(members.items())), requirements=requirements,
                        description=description, notes=notes)


def write_model_folder(package: ModelPackage, folder: str | os.PathLike) -> Path:
    """Write the package's files into ``folder`` (created); return it."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for name, data in package.members.items():
        (target / name).write_bytes(data)
    return target


# -- where a model comes from ---------------------------------------------------------------


def pick_output(outputs: Mapping[str, Any], where: str) -> Any:
    """The model among a run's outputs: the only one, or the one called ``model``."""
    if not isinstance(outputs, Mapping) or not outputs:
        raise DeployError(f"{where} holds no outputs: train with --outputs model")
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    if "model" in outputs:
        return outputs["model"]
    raise DeployError(f"{where} holds several outputs ({', '.join(sorted(outputs))}) and none is "
                      "called 'model': deploy the one you mean from the kernel, e.g. "
                      f"%fairing_deploy {sorted(outputs)[0]}")


def _unpickle(data: bytes, where: str) -> Any:
    import cloudpickle

    try:
        return cloudpickle.loads(data)
    except Exception as exc:  # noqa: BLE001
        raise DeployError(f"cannot load {where}: {type(exc).__name__}: {exc}. Use the same Python "
                          "and packages as the run that saved it.") from exc


def load_run_model(run: str, storage) -> Any:
    """The model a run stored (``runs/RUN/outputs.pkl`` in ``storage``).

    With local storage, ``run`` may also be the ``--name`` a run was started with: the latest
    such run that has outputs is taken.
    """
    from fairing_magics.storage import LocalStorage, MissingRunFile

    name = run
    if isinstance(storage, LocalStorage) and not (storage.run_dir(run) / OUTPUTS_FILE).is_file():
        candidates = sorted((p for p in storage.run_dir(run).parent.glob(f"{run}-*")
                             if (p / OUTPUTS_FILE).is_file()), key=lambda p: p.stat().st_mtime)
        if candidates:
            name = candidates[-1].name
    try:
        data = storage.read_bytes(name, OUTPUTS_FILE)
    except MissingRunFile as exc:
        raise DeployError(f"run {run} has no stored model: {exc} Train with --outputs model, and "
                          "check --storage (the run's storage).") from exc
    where = f"run {name} ({storage.run_uri(name)}{OUTPUTS_FILE})"
    return pick_output(_unpickle(data, where), where)


def load_uri_model(uri: str) -> Any:
    """The model at ``uri``: ``s3://bucket/prefix/runs/RUN/`` (its outputs.pkl), any ``.pkl``
    object or file (``s3://...``, ``file://...``, a path); an outputs.pkl gives its model."""
    from fairing_magics.storage import StorageError, storage_for

    parsed = urllib.parse.urlsplit(uri)
    path = parsed.path if parsed.scheme in ("s3", "file") else uri
    parts = [p for p in path.split("/") if p]
    if ("runs" in parts and parts.index("runs") + 1 < len(parts)
            and parsed.scheme in ("s3", "file", "")):
        at = parts.index("runs")
        run, rest = parts[at + 1], "/".join(parts[at + 2:]) or OUTPUTS_FILE
        root = "/".join(parts[:at])
        if parsed.scheme == "s3":
            storage = storage_for(f"s3://{parsed.netloc}/{root}"
                                  + (f"?{parsed.query}" if parsed.query else ""))
        else:
            storage = storage_for(("/" if path.startswith("/") else "") + root or ".")
        try:
            data = storage.read_bytes(run, rest)
        except StorageError as exc:
            raise DeployError(f"cannot read the model at {uri}: {exc}") from exc
        value = _unpickle(data, uri)
        return pick_output(value, uri) if rest.endswith(OUTPUTS_FILE) else value
    if parsed.scheme == "s3":
        raise ConfigError(f"{uri} is not a run folder of run storage "
                          "(s3://bucket/prefix/runs/RUN/): "
                          "deploy a run's model with --from-run RUN, or give its runs/RUN/ URI")
    file = Path(urllib.parse.unquote(path)).expanduser()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DeployError(f"cannot read the model file {file}: {exc}") from exc
    value = _unpickle(data, str(file))
    return pick_output(value, str(file)) if file.name == OUTPUTS_FILE else value


def resolve_model(model: Any, *, from_run: str | None = None, storage_uri: str | None = None,
                  settings=None) -> tuple[Any, str]:
    """The object to serve and where it came from, for messages.

    ``model`` is the object itself, or a URI string (``s3://...``, ``file://...``). With
    ``from_run``, the run's stored model is read from ``storage_uri``, else the configured
    storage, else the local run folder (``settings.home``).
    """
    from fairing_magics.storage import storage_for

    if from_run:
        if model is not None:
            raise ConfigError("give either a model or --from-run RUN, not both")
        root = storage_uri or (settings.storage if settings is not None else "") or \
            (str(settings.home) if settings is not None else "")
        if not root:
            raise ConfigError("--from-run needs run storage: set --storage (or FAIRING_STORAGE)")
        storage = storage_for(root)
        return load_run_model(from_run, storage), f"run {from_run}"
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if "://" in text or text.endswith(".pkl") or os.path.exists(text):
            return load_uri_model(text), text
        raise ConfigError(f"{text!r} is neither a model nor a model URI: pass the model object (a "
                          "variable), s3://bucket/prefix/runs/RUN/, or --from-run RUN")
    if model is None:
        raise ConfigError("nothing to deploy: give a model (a variable holding an estimator or a "
                          "function) or --from-run RUN")
    return model, "the kernel"
