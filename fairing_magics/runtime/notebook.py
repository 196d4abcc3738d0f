"""Run a whole notebook headless: the program of a notebook job (``%fairing_notebook``).

This file's text is the body of the job's ``main.py`` (followed by one call of
:func:`run_notebook`); the bootstrap runs it like any captured cell, so logs, outputs, errors,
the upload to storage and the saved frames of a failure work the same. Beyond the standard
library it needs what a notebook job pins into its image: ``nbclient``, ``nbformat`` and
``ipykernel`` (and ``cloudpickle`` for ``--outputs``).

What it does:

1. starts a kernel of *this* Python (a kernelspec of its own, so the notebook never runs in
   another interpreter that happens to be called ``python3``), in the working folder, where the
   bundle's files (the notebook's local modules, ``--include`` files) were copied;
2. executes the code cells in order, as papermill does (``skip-execution`` cells skipped,
   ``raises-exception`` cells may raise); each cell's output streams into the run's log as the
   kernel sends it, under a ``--- cell N (In [k]) ---`` line;
3. writes the executed notebook, outputs included, to ``$FAIRING_OUTPUT_DIR/<NAME>.ipynb``
   after every cell (a stopped run leaves what had run) and at the end;
4. when a cell raises: saves the failing frames' variables *from the kernel* (the bundle's
   ``fairing_frames.py``), then raises :class:`NotebookCellError` naming the cell, whose traceback
   is the cell's own (the bootstrap records it);
5. with outputs asked for: takes those variables from the kernel (cloudpickle) into this
   program's namespace, where the bootstrap finds them.
"""

import json
import os
import re
import sys
import tempfile

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
KERNEL_NAME = "fairing-python"


class NotebookCellError(Exception):
    """A cell of the notebook raised. ``fairing_traceback`` is the cell's traceback (no colours),
    ``fairing_frames_saved`` that its frames were saved from the kernel already."""

    def __init__(self, message, traceback_text, frames_saved):
        super().__init__(message)
        self.fairing_traceback = traceback_text
        self.fairing_frames_saved = frames_saved


def _strip(text):
    return _ANSI.sub("", text)


def _kernelspec_folder():
    """A kernelspec running this very interpreter, under a folder of our own (JUPYTER_PATH)."""
    root = tempfile.mkdtemp(prefix="fairing-jupyter-")
    spec_dir = os.path.join(root, "kernels", KERNEL_NAME)
    os.makedirs(spec_dir)
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as fh:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "Python (fairing job)", "language": "python"}, fh)
    return root


def _prepare_environment(root):
    os.environ["JUPYTER_PATH"] = root + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    # The kernel may run as a user without a writable home (a pod's securityContext).
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", os.path.join(root, "runtime"))
    os.environ.setdefault("IPYTHONDIR", os.path.join(root, "ipython"))
    os.environ.setdefault("MPLBACKEND", "agg")
    # debugpy's warning about frozen modules would open every log.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def _echo(output):
    """Write one output of the running cell to the log, as it arrives."""
    kind = output.get("output_type")
    if kind == "stream":
        stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
        stream.write(output.get("text", ""))
        stream.flush()
    elif kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        if "text/plain" in data:
            sys.stdout.write(str(data["text/plain"]).rstrip("\n") + "\n")
        elif data:
            sys.stdout.write("[%s]\n" % ", ".join(sorted(data)))
        sys.stdout.flush()


def _first_line(source):
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def _write_notebook(nb, path):
    import nbformat

    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)
    os.replace(tmp, path)


def _kernel_snippet(client, code):
    """Run ``code`` in the kernel, in a cell that is not kept in the notebook; return its error
    or None. (nbclient stores every executed cell at its index: it is there only meanwhile.)"""
    import nbformat

    cell = nbformat.v4.new_code_cell(code)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return str(exc)
    finally:
        client.nb.cells.pop()
    return None


def _save_frames_from_kernel(client, output_dir):
    frames = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fairing_frames.py")
    if not os.path.exists(frames):
        return False
    code = ("def __fairing_save__():\n"
            "    import importlib.util, sys\n"
            "    spec = importlib.util.spec_from_file_location('fairing_frames', %r)\n"
            "    module = importlib.util.module_from_spec(spec)\n"
            "    spec.loader.exec_module(module)\n"
            "    module.save_frames(sys.last_value, %r, in_kernel=True)\n"
            "__fairing_save__()\n"
            "del __fairing_save__\n" % (frames, output_dir))
    return _kernel_snippet(client, code) is None


def _take_outputs(client, names, output_dir):
    """The notebook's variables ``names``, pickled in the kernel and loaded here."""
    import cloudpickle

    path = os.path.join(output_dir, ".notebook-outputs.pkl")
    code = ("def __fairing_outputs__():\n"
            "    import cloudpickle\n"
            "    names = %r\n"
            "    missing = [n for n in names if n not in globals()]\n"
            "    if missing:\n"
            "        raise NameError('the notebook did not define the output(s) ' + ', '.join(missing))\n"
            "    with open(%r, 'wb') as fh:\n"
            "        fh.write(cloudpickle.dumps({n: globals()[n] for n in names}))\n"
            "__fairing_outputs__()\n"
            "del __fairing_outputs__\n" % (list(names), path))
    problem = _kernel_snippet(client, code)
    if problem is not None:
        raise RuntimeError("cannot take the outputs from the notebook's kernel: %s"
                           % _strip(problem).strip().splitlines()[-1])
    with open(path, "rb") as fh:
        values = cloudpickle.loads(fh.read())
    os.remove(path)
    return values


def run_notebook(notebook_file, output_name, outputs=(), cell_timeout=None):
    """Execute ``notebook_file`` (in the working folder); see the module docstring."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    output_dir = os.path.abspath(os.environ.get("FAIRING_OUTPUT_DIR") or "fairing-output")
    os.makedirs(output_dir, exist_ok=True)
    executed_path = os.path.join(output_dir, output_name)
    nb = nbformat.read(notebook_file, as_version=4)
    root = _kernelspec_folder()
    _prepare_environment(root)

    class StreamingClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None and out.get("output_type") != "error":
                _echo(out)
            return out

    from traitlets.config import Config

    # IPC: the kernel talks over sockets in a folder of ours, not TCP ports (no network needed,
    # nothing to eavesdrop on, no port to collide with on a host-network pod).
    config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(root, "kernel")}})
    client = StreamingClient(nb, config=config, timeout=cell_timeout, kernel_name=KERNEL_NAME,
                             shutdown_kernel="immediate",
                             resources={"metadata": {"path": os.getcwd()}})
    code_cells = 0
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            code_cells += 1
            sys.stdout.write("--- cell %d (In [%d]) %s\n" % (index + 1, code_cells, _first_line(cell.source)))
            sys.stdout.flush()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                _write_notebook(nb, executed_path)
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                tb_text = _strip("\n".join(errors[-1].get("traceback", []))) if errors else str(exc)
                saved = _save_frames_from_kernel(client, output_dir)
                raise NotebookCellError(
                    "cell %d (In [%d]: %s) raised %s: %s"
                    % (index + 1, code_cells, _first_line(cell.source), exc.ename, exc.evalue),
                    tb_text.rstrip("\n") + "\n", saved) from None
            _write_notebook(nb, executed_path)
        values = _take_outputs(client, outputs, output_dir) if outputs else {}
    _write_notebook(nb, executed_path)
    sys.modules["__main__"].__dict__.update(values)
    sys.stdout.write("--- %s: all %d code cells ran\n" % (os.path.basename(notebook_file), code_cells))
    sys.stdout.flush()
