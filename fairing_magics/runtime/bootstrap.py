"""Run a captured bundle: ``python fairing_bootstrap.py [BUNDLE_DIR]``.

This file is copied into every bundle and runs in a fresh process (a local subprocess or a
container). It uses the standard library and cloudpickle only.

What it does, in order:

1. Reads ``fairing_manifest.json``; when the bundle holds pickled values, refuses a Python
   whose minor version differs from the kernel's (unpickling across versions fails in obscure
   ways).
2. Copies ``files/`` (local modules, files the code names, ``--include`` data) into the working
   folder and puts that folder first on ``sys.path``.
3. Runs ``main.py`` as ``__main__`` (with the kernel's ``__doc__`` and ``__name__``), part by
   part, each definition and the cell compiled under the file name and line numbers IPython
   gave them (their text registered in ``linecache``), so warnings and tracebacks read as in
   the kernel. The one pickle (``values.pkl``) loads where the manifest says, from frames whose
   globals are ``__main__`` (libraries that look up their caller's names while unpickling, such
   as formula models, find the notebook's); the definitions' live state and the library
   settings are put back just before the cell. stdout and stderr are line buffered.
   The cell's rich outputs (``display()``, its final value, matplotlib figures) go to the kernel
   through ``fairing_display.py`` (:mod:`fairing_magics.runtime.display`): the cell part is
   compiled with its final expression apart, so that its value is shown (and kept as
   ``result.pkl``).
4. On success writes the named outputs to ``$FAIRING_OUTPUT_DIR/outputs.pkl`` (a cloudpickled
   dict) and exits 0. On failure writes ``$FAIRING_OUTPUT_DIR/error.json`` (type, message,
   traceback, replica, time) and exits non-zero; a FileNotFoundError for a path the notebook's
   folder has says so and names ``--include``; before exiting it saves the failing frames'
   variables to ``frames.pkl`` (the bundle's ``fairing_frames.py``, for ``%fairing_debug``).

   **Replicas** (a TFJob's, PyTorchJob's or TrainJob's pods, told apart by ``TF_CONFIG``,
   ``RANK``, ``PET_NODE_RANK``: :func:`replica_of`): the chief (rank 0) writes as above; every
   other replica's ``FAIRING_OUTPUT_DIR`` is ``<output>/replicas/<replica>/``, so no replica
   overwrites another's files or ``error.json``. Only the chief's displays and outputs are sent
   unless ``FAIRING_OUTPUTS_FROM=all`` (``--outputs-from all``): then every replica sends its
   displays and writes ``<output>/replicas/<replica>/outputs.pkl``.

5. When ``FAIRING_STORAGE`` is an ``s3://`` URI, uploads the output folder (outputs, error,
   files the program wrote there) to ``<storage>/runs/<run>/`` with the bundle's
   ``fairing_storage_upload.py`` (boto3; credentials from the pod, never from the image).

Environment: ``FAIRING_OUTPUT_DIR`` (default ``./fairing-output``), ``FAIRING_RUN_NAME``,
``FAIRING_STORAGE``, ``FAIRING_KERNEL_CELLS`` (the kernel's cell folder, for its file names),
``FAIRING_INPUT_<hash>`` (a cell's execution count), ``FAIRING_KERNEL_FOLDER`` and
``FAIRING_KERNEL_PATHS`` (the kernel's working folder and hashes of its paths, for absolute paths
and the missing-file hint), ``FAIRING_OUTPUTS_FROM``; the displays' (``FAIRING_DISPLAYS`` ...)
are read by ``fairing_display.py``; a sweep's trial also gets ``FAIRING_PARAM_<name>`` for each
parameter the manifest lists (set as a plain name before the cell runs).
Exit codes: 0 success, 1 the cell raised, 2 the bundle cannot run here, 130/143 interrupted.
"""

import base64
import binascii
import hashlib
import json
import linecache
import os
import pickle
import shutil
import signal
import sys
import time
import traceback
import types

EXIT_OK = 0
EXIT_CELL_FAILED = 1
EXIT_BUNDLE_ERROR = 2

OUTPUTS_FILE = "outputs.pkl"
ERROR_FILE = "error.json"
FRAMES_MODULE = "fairing_frames.py"
REPLICAS_DIR = "replicas"
LIVE_FILE = "fairing_live.py"
DISPLAY_FILE = "fairing_display.py"
KERNEL_CELLS_TOKEN = "<kernel-cells>"
KERNEL_CELLS_ENV = "FAIRING_KERNEL_CELLS"
KERNEL_INPUT_PREFIX = "<ipython-input-#-"  # + hash + ">": its count is in FAIRING_INPUT_<hash>
KERNEL_INPUT_ENV = "FAIRING_INPUT_"
KERNEL_FOLDER_ENV = "FAIRING_KERNEL_FOLDER"
KERNEL_PATHS_ENV = "FAIRING_KERNEL_PATHS"  # base64 of 4-byte sha256 prefixes (capture/paths.py)
HINT_BYTES = 4


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _record_error(output_dir, exc_type, message, tb_text, kind):
    body = {
        "type": exc_type,
        "message": message,
        "traceback": tb_text,
        "kind": kind,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "replica": os.environ.get("FAIRING_REPLICA", ""),
        "time": time.time(),
    }
    _write_atomic(os.path.join(output_dir, ERROR_FILE), json.dumps(body, indent=2).encode("utf-8"))


def _fail_bundle(output_dir, message):
    sys.stderr.write("fairing: " + message + "\n")
    _record_error(output_dir, "BundleError", message, "", "bundle")
    sys.exit(EXIT_BUNDLE_ERROR)


def _copy_files(files_dir, workdir):
    if not os.path.isdir(files_dir):
        return
    for root, dirs, names in os.walk(files_dir):
        dirs.sort()
        rel = os.path.relpath(root, files_dir)
        target_root = workdir if rel == "." else os.path.join(workdir, rel)
        os.makedirs(target_root, exist_ok=True)
        for name in sorted(names):
            target = os.path.join(target_root, name)
            if not os.path.exists(target):
                shutil.copyfile(os.path.join(root, name), target)


def _user_traceback(exc, main_path):
    """The traceback from the first frame of the user's program on (our frames are noise)."""
    here = os.path.abspath(__file__)
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) in (here, "<fairing>"):
        tb = tb.tb_next
    if tb is None:
        tb = exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _upload_outputs(bundle_dir, output_dir):
    """Upload the output folder when FAIRING_STORAGE is s3://; False (after saying why) on failure."""
    storage = os.environ.get("FAIRING_STORAGE", "")
    if not storage.startswith("s3://"):
        return True
    import importlib.util

    path = os.path.join(bundle_dir, "fairing_storage_upload.py")
    try:
        spec = importlib.util.spec_from_file_location("fairing_storage_upload", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with _live_stage(bundle_dir, "upload"):
            module.upload_output_dir(output_dir, storage, os.environ.get("FAIRING_RUN_NAME") or "run")
    except Exception as exc:  # noqa: BLE001 - any failure to upload is reported the same way
        sys.stderr.write("fairing: cannot upload the outputs to %s: %s\n" % (storage, exc))
        return False
    return True


def _inspect_failure(bundle_dir, output_dir, exc, tb_text):
    """Save the failing frames' variables (``fairing_frames.py``, for ``%fairing_debug``) and
    return the traceback to record: ``tb_text``, or a notebook cell's own."""
    try:
        module = _runtime_module(bundle_dir, "fairing_frames", FRAMES_MODULE)
        if module is None:
            return tb_text
        if not isinstance(exc, KeyboardInterrupt):
            module.save_frames(exc, output_dir)
        return module.failure_traceback(exc, tb_text)
    except Exception as err:  # noqa: BLE001 - never hide the program's own error
        sys.stderr.write("fairing: could not inspect the failure: %s\\n" % err)
        return tb_text


def _runtime_module(bundle_dir, name, filename):
    """The bundle's runtime module ``name`` (``filename`` in the bundle), loaded once and
    importable by its name; None for a bundle without it."""
    module = sys.modules.get(name)
    path = os.path.join(bundle_dir, filename)
    if module is None and os.path.exists(path):
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return module


def _live(bundle_dir):
    """The bundle's ``fairing_live`` module (log_metric, live progress frames, stage markers)."""
    return _runtime_module(bundle_dir, "fairing_live", LIVE_FILE)


def replica_of(environ):
    """``(name, chief)`` of this process among the replicas of a distributed job, from the env
    the training operators set: ``TF_CONFIG``'s task (``chief-0``, ``worker-1``; without a chief
    or master, worker 0 is the chief), a PyTorchJob's ``RANK`` (0: ``master-0``, then
    ``worker-N``), a TrainJob's ``PET_NODE_RANK`` (``node-N``), a Job's
    ``JOB_COMPLETION_INDEX``. ``("", True)`` for a single process."""
    tf_config = environ.get("TF_CONFIG", "")
    if tf_config:
        try:
            config = json.loads(tf_config)
            task = config.get("task") or {}
            kind, index = str(task.get("type", "")).lower(), int(task.get("index", 0))
        except (ValueError, TypeError, AttributeError):
            kind, index, config = "", 0, {}
        if kind:
            cluster = {str(k).lower() for k in (config.get("cluster") or {})}
            chief = kind in ("chief", "master") or (
                kind == "worker" and index == 0 and not cluster & {"chief", "master"})
            return "%s-%d" % (kind, index), chief
    for variable, name in (("RANK", None), ("PET_NODE_RANK", "node"),
                           ("JOB_COMPLETION_INDEX", "index")):
        value = environ.get(variable, "")
        if value.isdigit():
            rank = int(value)
            if name is None:
                return ("master-0" if rank == 0 else "worker-%d" % (rank - 1)), rank == 0
            return "%s-%d" % (name, rank), rank == 0
    return "", True


def _flush_figures(rich):
    if rich is not None:
        try:
            rich.flush_figures()
        except Exception as exc:  # noqa: BLE001 - figures never fail the run
            sys.stderr.write("fairing: could not show the open figures: %s: %s\n"
                             % (type(exc).__name__, exc))


def _live_stage(bundle_dir, name):
    """``with``-able marker of a runtime stage for the kernel's timeline (a no-op without it)."""
    import contextlib

    live = _live(bundle_dir)
    return live.stage(name) if live is not None else contextlib.nullcontext()


PARAM_ENV_PREFIX = "FAIRING_PARAM_"


def _parameter_value(text, kind):
    """A sweep parameter from its environment text: ``float``, ``int``, ``bool`` or ``str``."""
    if kind == "float":
        return float(text)
    if kind == "int":
        return int(float(text)) if "." in text or "e" in text.lower() else int(text)
    if kind == "bool":
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise ValueError("not true or false")
    return text


def _set_parameters(parameters, namespace, output_dir):
    """A sweep's trial: each parameter the cell reads comes from ``FAIRING_PARAM_<name>``."""
    for name, kind in sorted(parameters.items()):
        text = os.environ.get(PARAM_ENV_PREFIX + name)
        if text is None:
            _fail_bundle(output_dir, "the cell reads the sweep parameter %r, but this run was given "
                         "no value for it (environment variable %s%s); run it with %%%%fairing_sweep"
                         % (name, PARAM_ENV_PREFIX, name))
        try:
            namespace[name] = _parameter_value(text, kind)
        except ValueError:
            _fail_bundle(output_dir, "the sweep parameter %s=%r is not a %s" % (name, text, kind))


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("terminated (SIGTERM)")


def main(argv):
    bundle_dir = os.path.abspath(argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    root_output = os.path.abspath(os.environ.get("FAIRING_OUTPUT_DIR") or "fairing-output")
    replica, chief = replica_of(os.environ)
    every = os.environ.get("FAIRING_OUTPUTS_FROM", "") == "all"
    output_dir = root_output if chief else os.path.join(root_output, REPLICAS_DIR, replica)
    os.environ["FAIRING_OUTPUT_DIR"] = output_dir  # the cell's files: a replica's own folder
    if replica:
        os.environ["FAIRING_REPLICA"] = replica
    if every and replica:  # --outputs-from all: every replica's under its name, the chief's too
        outputs_path = os.path.join(root_output, REPLICAS_DIR, replica, OUTPUTS_FILE)
    else:
        outputs_path = os.path.join(output_dir, OUTPUTS_FILE)
    os.makedirs(os.path.dirname(outputs_path), exist_ok=True)
    os.makedirs(output_dir, exist_ok=True)
    for stale in (outputs_path, os.path.join(output_dir, ERROR_FILE)):
        if os.path.exists(stale):
            os.remove(stale)

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    signal.signal(signal.SIGTERM, _on_sigterm)
    live = _live(bundle_dir)
    if live is not None:
        live.install()
    rich = _runtime_module(bundle_dir, "fairing_display", DISPLAY_FILE)
    if rich is not None:
        rich.install(output_dir if chief else "", send=chief or every)

    try:
        with open(os.path.join(bundle_dir, "fairing_manifest.json"), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        _fail_bundle(output_dir, "cannot read the bundle manifest in %s: %s" % (bundle_dir, exc))

    here = "%d.%d" % sys.version_info[:2]
    wanted = manifest.get("python", "")
    if _holds_kernel_objects(manifest) and wanted and ".".join(wanted.split(".")[:2]) != here:
        _fail_bundle(
            output_dir,
            "this bundle was captured on Python %s and holds pickled values, but this is Python %s. "
            "Use a base image with Python %s (--base-image), or run the kernel on Python %s."
            % (wanted, here, wanted, here),
        )

    workdir = os.getcwd()
    _copy_files(os.path.join(bundle_dir, "files"), workdir)
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    sys.path.append(bundle_dir)  # last: fairing_shell for !cmd lines, never before the user's modules

    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
        if manifest.get("pickle") or manifest.get("outputs"):
            _fail_bundle(output_dir, "cloudpickle is not installed here; add it to the image's requirements")

    program = manifest.get("program") or {}
    module = types.ModuleType(program.get("name") or "__main__", program.get("doc"))
    main_path = os.path.join(bundle_dir, "main.py")
    if program.get("file", True) or not program:
        module.__file__ = main_path
    module.__builtins__ = __builtins__
    if program and not program.get("has_doc", True):
        del module.__doc__  # the kernel's namespace had none: the name falls through to builtins
    sys.modules["__main__"] = module
    namespace = module.__dict__
    _link_kernel_folder(workdir, program)

    _set_parameters(manifest.get("parameters") or {}, namespace, output_dir)

    try:
        try:
            _run_program(bundle_dir, main_path, manifest, namespace, cloudpickle, rich)
        finally:
            if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
                _flush_figures(rich)  # what the cell drew, also when it failed (as IPython shows)
            if live is not None and hasattr(live, "finish"):
                live.finish()  # the cell's last line ends as it ended in the kernel
    except _BundleLoadError as exc:
        _fail_bundle(output_dir, str(exc))
    except BaseException as exc:  # noqa: BLE001 - every failure of the cell is recorded
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            pass
        else:
            tb_text = _inspect_failure(bundle_dir, output_dir, exc, _user_traceback(exc, main_path))
            sys.stderr.write(tb_text)
            hint = _missing_file_hint(workdir, exc)
            if hint:
                sys.stderr.write("fairing: " + hint + "\n")
            sys.stderr.flush()
            kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cell"
            message = str(exc) + ("\n" + hint if hint else "")
            _record_error(output_dir, type(exc).__name__, message, tb_text, kind)
            if isinstance(exc, KeyboardInterrupt):
                sys.exit(130)
            sys.exit(EXIT_CELL_FAILED)

    outputs = {}
    # another replica's outputs only with --outputs-from all
    wanted = manifest.get("outputs", []) if chief or every else []
    missing = [name for name in wanted if name not in namespace]
    if missing:
        _fail_bundle(output_dir, "the cell did not define the output(s) %s" % ", ".join(missing))
    for name in wanted:
        outputs[name] = namespace[name]
    if outputs:
        try:
            data = cloudpickle.dumps(outputs)
        except Exception as exc:  # noqa: BLE001
            _fail_bundle(output_dir, "cannot pickle the outputs: %s: %s" % (type(exc).__name__, exc))
        _write_atomic(outputs_path, data)
    sys.stdout.flush()
    sys.stderr.flush()
    return EXIT_OK


# --- running main.py the way the kernel ran its parts ------------------------------------------

class _BundleLoadError(Exception):
    """The bundle's pickle or settings cannot be loaded here (not the cell's fault)."""


def _holds_kernel_objects(manifest):
    """True when the pickle holds values or live state (not only library settings)."""
    order = (manifest.get("program") or {}).get("pickle_order", [])
    return bool(manifest.get("values")) or "live" in order


def _kernel_filename(name, main_path):
    if not name:
        return main_path
    if name.startswith(KERNEL_CELLS_TOKEN):
        folder = os.environ.get(KERNEL_CELLS_ENV) or os.path.join(os.sep + "tmp", "ipykernel")
        return folder + name[len(KERNEL_CELLS_TOKEN):]
    if name.startswith(KERNEL_INPUT_PREFIX) and name.endswith(">"):
        cell_hash = name[len(KERNEL_INPUT_PREFIX):-1]
        number = os.environ.get(KERNEL_INPUT_ENV + cell_hash, "0")
        return "<ipython-input-%s-%s>" % (number, cell_hash)
    return name


def _future_flags(lines):
    import __future__

    flags = 0
    for line in lines:
        for feature in line.split("import", 1)[-1].replace("(", " ").replace(")", " ").split(","):
            feature = feature.strip().split(" as ")[0].strip()
            if feature and hasattr(__future__, feature):
                flags |= getattr(__future__, feature).compiler_flag
    return flags


def _register_lines(cache, filename, line, text):
    """Put ``text`` at ``line`` of ``filename`` in linecache, for warnings and tracebacks."""
    lines = cache.setdefault(filename, [])
    body = text.splitlines(True)
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    need = line - 1 + len(body)
    if len(lines) < need:
        lines.extend(["\n"] * (need - len(lines)))
    lines[line - 1: need] = body
    linecache.cache[filename] = (sum(len(x) for x in lines), None, lines, filename)


def _load_pickle(path, namespace, order, cloudpickle):
    """The stream of pickles in ``path``, loaded from frames whose globals are ``__main__``."""
    loader = ("def __fairing_load__(__fairing_read__, __fairing_depth__):\n"
              "    if __fairing_depth__:\n"
              "        return __fairing_load__(__fairing_read__, __fairing_depth__ - 1)\n"
              "    return __fairing_read__()\n")
    exec(compile(loader, "<fairing>", "exec"), namespace)
    load = namespace["__fairing_load__"]
    loaded = {"live": {}, "settings": []}
    try:
        _load_entries(path, namespace, order, load, loaded)
    finally:
        namespace.pop("__fairing_load__", None)
    return loaded


def _load_entries(path, namespace, order, load, loaded):
    with open(path, "rb") as fh:
        unpickler = pickle.Unpickler(fh)
        for entry in order:
            try:
                value = load(unpickler.load, 8)
            except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported clearly
                what = entry.split(":", 1)[1] if entry.startswith("value:") else "the " + entry + " state"
                raise _BundleLoadError("cannot load the captured value %r: %s: %s"
                                       % (what, type(exc).__name__, exc)) from exc
            if entry.startswith("value:"):
                namespace[entry.split(":", 1)[1]] = value
            else:
                loaded[entry] = value


def _restore_live_state(live, namespace):
    """Put the kernel's defaults, closure contents and class attributes back."""
    for name, patch in live.items():
        obj = namespace.get(name)
        if obj is None:
            continue
        if "attrs" in patch:
            for key, value in patch["attrs"].items():
                setattr(obj, key, value)
            continue
        if "defaults" in patch and obj.__defaults__:
            defaults = list(obj.__defaults__)
            for index, value in patch["defaults"].items():
                defaults[index] = value
            obj.__defaults__ = tuple(defaults)
        if "kwdefaults" in patch and obj.__kwdefaults__ is not None:
            obj.__kwdefaults__.update(patch["kwdefaults"])
        for index, value in patch.get("closure", {}).items():
            if obj.__closure__ and index < len(obj.__closure__):
                obj.__closure__[index].cell_contents = value


def _restore_settings(bundle_dir, snapshots, encoded):
    if not snapshots and not encoded:
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location("fairing_settings", os.path.join(bundle_dir, "fairing_settings.py"))
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    settings.restore_settings(snapshots, encoded)


def _run_program(bundle_dir, main_path, manifest, namespace, cloudpickle, rich=None):
    """Run main.py part by part (see the module docstring); the cell's final expression is shown
    by ``rich`` (``fairing_display``), as IPython shows it."""
    with open(main_path, encoding="utf-8") as fh:
        source = fh.read()
    program = manifest.get("program") or {}
    segments = program.get("segments") or [{"kind": "cell", "first": 1, "last": source.count("\n") + 1,
                                            "filename": "", "line": 1}]
    lines = source.splitlines(True)
    flags = _future_flags(program.get("future", []))
    cache = {}
    loaded = {"live": {}, "settings": []}
    load_at = program.get("load_at", 0)
    for index, segment in enumerate(segments):
        if index == load_at and manifest.get("pickle"):
            order = program.get("pickle_order") or ["value:" + name for name in manifest.get("values", [])]
            loaded = _load_pickle(os.path.join(bundle_dir, manifest["pickle"]), namespace, order, cloudpickle)
        if segment["kind"] == "cell":
            _restore_live_state(loaded["live"], namespace)
            _restore_settings(bundle_dir, loaded["settings"], program.get("settings") or [])
        text = "".join(lines[segment["first"] - 1: segment["last"]])
        filename = _kernel_filename(segment.get("filename"), main_path)
        line = segment.get("line") or segment["first"]
        if filename != main_path:
            _register_lines(cache, filename, line, text)
        if segment["kind"] == "cell" and rich is not None:
            code, final = rich.compile_cell("\n" * (line - 1) + text, filename, flags)
            exec(code, namespace)
            if final is not None:
                rich.show_result(eval(final, namespace))
            continue
        code = compile("\n" * (line - 1) + text, filename, "exec", flags=flags, dont_inherit=True)
        exec(code, namespace)


def _link_kernel_folder(workdir, program):
    """Absolute paths into the notebook's folder: make that folder lead to the working folder
    when it does not exist here (a container), so they find the shipped files."""
    if not program.get("absolute_paths"):
        return
    folder = os.environ.get(KERNEL_FOLDER_ENV, "")
    if folder and not os.path.exists(folder):
        try:
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            os.symlink(workdir, folder)
        except OSError:
            pass


def _kernel_path_hashes():
    """The hashes of the paths in the kernel's folder (``FAIRING_KERNEL_PATHS``)."""
    try:
        raw = base64.b64decode(os.environ.get(KERNEL_PATHS_ENV, ""), validate=True)
    except (binascii.Error, ValueError):
        return set()
    return {raw[i:i + HINT_BYTES] for i in range(0, len(raw) - HINT_BYTES + 1, HINT_BYTES)}


def _missing_file_hint(workdir, exc):
    """For a FileNotFoundError of a path the notebook's folder has: say so and name --include."""
    if not isinstance(exc, FileNotFoundError) or not exc.filename:
        return ""
    name = os.fspath(exc.filename)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    folder = os.environ.get(KERNEL_FOLDER_ENV, "")
    if os.path.isabs(name):
        base = folder if folder and (name + os.sep).startswith(folder + os.sep) else workdir
        rel = os.path.relpath(name, base)
    else:
        rel = os.path.normpath(name)
    rel = rel.replace(os.sep, "/")
    if rel.startswith("../") or hashlib.sha256(rel.encode("utf-8")).digest()[:HINT_BYTES] not in _kernel_path_hashes():
        return ""
    return ("%r exists in the notebook's folder but was not sent with the job (it was not named by a "
            "string in the code, or it was too large); add --include %s, or put it in storage" % (rel, rel))


def run(argv):
    """main() plus the upload of the output folder, whatever the outcome."""
    bundle_dir = os.path.abspath(argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    output_dir = os.path.abspath(os.environ.get("FAIRING_OUTPUT_DIR") or "fairing-output")
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_BUNDLE_ERROR
    uploaded = _upload_outputs(bundle_dir, output_dir)
    if code == EXIT_OK and not uploaded:
        return EXIT_BUNDLE_ERROR
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv))
