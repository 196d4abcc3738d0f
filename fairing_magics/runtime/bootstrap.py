"""Run a captured bundle: ``python fairing_bootstrap.py [BUNDLE_DIR]``.

This file is copied into every bundle and runs in a fresh process (a local subprocess or a
container). It uses the standard library and cloudpickle only.

What it does, in order:

1. Reads ``fairing_manifest.json``; when the bundle holds pickles, refuses a Python whose minor
   version differs from the kernel's (unpickling across versions fails in obscure ways).
2. Copies ``files/`` (local modules, ``--include`` data) into the working folder and puts that
   folder first on ``sys.path``.
3. Loads ``values/*.pkl`` and runs ``main.py`` as ``__main__``, with stdout and stderr line
   buffered so that every line is seen as soon as it is written.
4. On success writes the named outputs to ``$FAIRING_OUTPUT_DIR/outputs.pkl`` (a cloudpickled
   dict) and exits 0. On failure writes ``$FAIRING_OUTPUT_DIR/error.json`` (type, message,
   traceback) and exits non-zero, after saving the failing frames' variables to
   ``frames.pkl`` (the bundle's ``fairing_frames.py``, for ``%fairing_debug``).

5. When ``FAIRING_STORAGE`` is an ``s3://`` URI, uploads the output folder (outputs, error,
   files the program wrote there) to ``<storage>/runs/<run>/`` with the bundle's
   ``fairing_storage_upload.py`` (boto3; credentials from the pod, never from the image).

Environment: ``FAIRING_OUTPUT_DIR`` (default ``./fairing-output``), ``FAIRING_RUN_NAME``,
``FAIRING_STORAGE``.
Exit codes: 0 success, 1 the cell raised, 2 the bundle cannot run here, 130/143 interrupted.
"""

import json
import os
import shutil
import signal
import sys
import traceback
import types

EXIT_OK = 0
EXIT_CELL_FAILED = 1
EXIT_BUNDLE_ERROR = 2

OUTPUTS_FILE = "outputs.pkl"
ERROR_FILE = "error.json"
FRAMES_MODULE = "fairing_frames.py"
LIVE_FILE = "fairing_live.py"


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
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != main_path:
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
    path = os.path.join(bundle_dir, FRAMES_MODULE)
    if not os.path.exists(path):
        return tb_text
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("fairing_frames", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not isinstance(exc, KeyboardInterrupt):
            module.save_frames(exc, output_dir)
        return module.failure_traceback(exc, tb_text)
    except Exception as err:  # noqa: BLE001 - never hide the program's own error
        sys.stderr.write("fairing: could not inspect the failure: %s\n" % err)
        return tb_text


def _live(bundle_dir):
    """The bundle's ``fairing_live`` module (log_metric, live progress frames, stage markers),
    loaded once; None for a bundle without it."""
    module = sys.modules.get("fairing_live")
    path = os.path.join(bundle_dir, LIVE_FILE)
    if module is None and os.path.exists(path):
        import importlib.util

        spec = importlib.util.spec_from_file_location("fairing_live", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["fairing_live"] = module
    return module


def _live_stage(bundle_dir, name):
    """``with``-able marker of a runtime stage for the kernel's timeline (a no-op without it)."""
    import contextlib

    live = _live(bundle_dir)
    return live.stage(name) if live is not None else contextlib.nullcontext()


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("terminated (SIGTERM)")


def main(argv):
    bundle_dir = os.path.abspath(argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    output_dir = os.path.abspath(os.environ.get("FAIRING_OUTPUT_DIR") or "fairing-output")
    os.makedirs(output_dir, exist_ok=True)
    for stale in (OUTPUTS_FILE, ERROR_FILE):
        if os.path.exists(os.path.join(output_dir, stale)):
            os.remove(os.path.join(output_dir, stale))

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    signal.signal(signal.SIGTERM, _on_sigterm)
    live = _live(bundle_dir)
    if live is not None:
        live.install()

    try:
        with open(os.path.join(bundle_dir, "fairing_manifest.json"), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        _fail_bundle(output_dir, "cannot read the bundle manifest in %s: %s" % (bundle_dir, exc))

    here = "%d.%d" % sys.version_info[:2]
    wanted = manifest.get("python", "")
    if manifest.get("values") and wanted and ".".join(wanted.split(".")[:2]) != here:
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

    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
        if manifest.get("values") or manifest.get("outputs"):
            _fail_bundle(output_dir, "cloudpickle is not installed here; add it to the image's requirements")

    module = types.ModuleType("__main__")
    main_path = os.path.join(bundle_dir, "main.py")
    module.__file__ = main_path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    namespace = module.__dict__

    for name in manifest.get("values", []):
        path = os.path.join(bundle_dir, "values", name + ".pkl")
        try:
            with open(path, "rb") as fh:
                namespace[name] = cloudpickle.loads(fh.read())
        except Exception as exc:  # noqa: BLE001 - report any unpickling failure clearly
            _fail_bundle(output_dir, "cannot load the captured value %r: %s: %s" % (name, type(exc).__name__, exc))

    with open(main_path, encoding="utf-8") as fh:
        source = fh.read()
    try:
        code = compile(source, main_path, "exec")
        exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 - every failure of the cell is recorded
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            pass
        else:
            tb_text = _inspect_failure(bundle_dir, output_dir, exc, _user_traceback(exc, main_path))
            sys.stderr.write(tb_text)
            sys.stderr.flush()
            kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cell"
            _record_error(output_dir, type(exc).__name__, str(exc), tb_text, kind)
            if isinstance(exc, KeyboardInterrupt):
                sys.exit(130)
            sys.exit(EXIT_CELL_FAILED)

    outputs = {}
    missing = [name for name in manifest.get("outputs", []) if name not in namespace]
    if missing:
        _fail_bundle(output_dir, "the cell did not define the output(s) %s" % ", ".join(missing))
    for name in manifest.get("outputs", []):
        outputs[name] = namespace[name]
    if outputs:
        try:
            data = cloudpickle.dumps(outputs)
        except Exception as exc:  # noqa: BLE001
            _fail_bundle(output_dir, "cannot pickle the outputs: %s: %s" % (type(exc).__name__, exc))
        _write_atomic(os.path.join(output_dir, OUTPUTS_FILE), data)
    sys.stdout.flush()
    sys.stderr.flush()
    return EXIT_OK


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
