"""``fairing-magics``: headless use.

``fairing-magics run NOTEBOOK`` executes a notebook in a fresh Jupyter kernel (nbclient), as
papermill or CI would, and prints each cell's source and outputs as the cells finish. The panel
is plain text there (``FAIRING_UI=text``). A failing cell stops the run with exit code 1.
``--output FILE`` saves the executed notebook.

``fairing-magics submit NOTEBOOK [-p NAME=VALUE]... [--backend ...] [--schedule CRON] [flags]``
runs the notebook as a job, exactly as ``%fairing_notebook`` does (the same flags, the settings
from the environment: ``FAIRING_BACKEND``, ``FAIRING_REGISTRY``, ``FAIRING_STORAGE``, ...),
prints the run's log as it goes and where the executed notebook went; it exits 1 when the run
fails (naming the cell), 2 on bad input. With ``--schedule`` it creates the CronJob and exits.
"""

from __future__ import annotations

import argparse
import os
import sys


def _print_outputs(cell, out) -> None:
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            out.write(output.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/plain" in data:
                out.write(data["text/plain"].rstrip("\n") + "\n")
        elif kind == "error":
            out.write("\n".join(output.get("traceback", [])) + "\n")
    out.flush()


def run_notebook(path: str, *, timeout: int = 1800, output: str | None = None, kernel: str = "python3",
                 out=sys.stdout) -> int:
    """Execute the notebook at ``path``, printing cells as they finish; 0 on success, 1 on failure."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ.setdefault("FAIRING_UI", "text")
    nb = nbformat.read(path, as_version=4)
    folder = os.path.dirname(os.path.abspath(path))
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": folder}})

    def on_cell_executed(cell, cell_index, execute_reply=None, **_):
        if cell.get("cell_type") != "code":
            return
        out.write(f"\n--- In [{cell.get('execution_count')}]:\n{cell.get('source')}\n--- Out:\n")
        _print_outputs(cell, out)

    client.on_cell_executed = on_cell_executed
    status = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        out.write(f"\nThe notebook failed:\n{exc}\n")
        status = 1
    finally:
        if output:
            nbformat.write(nb, output)
    if status == 0:
        out.write(f"\n{os.path.basename(path)}: all cells ran.\n")
    return status


def submit_notebook(argv: list[str], out=None) -> int:
    """``fairing-magics submit``: see the module docstring."""
    out = out or sys.stdout
    from fairing_magics import pipeline
    from fairing_magics.config import FairingSettings
    from fairing_magics.errors import FairingError
    from fairing_magics.notebook import job
    from fairing_magics.notebook.flags import notebook_parser, parse_notebook_args
    from fairing_magics.notebook.source import parse_parameters
    from fairing_magics.run import RunBook

    os.environ.setdefault("FAIRING_UI", "text")
    parser = notebook_parser("fairing-magics submit")
    try:
        args = parse_notebook_args(parser, argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    try:
        if not args.notebook:
            raise FairingError("name the notebook to run: fairing-magics submit NOTEBOOK.ipynb "
                               "[-p NAME=VALUE]... [--schedule CRON]")
        settings = FairingSettings().snapshot()
        options = pipeline.options_from_args(args, settings)
        parameters = parse_parameters(args.parameter)
        if args.dry_run:
            out.write(job.plan_notebook(args.notebook, parameters, options, settings,
                                        schedule=args.schedule) + "\n")
            return 0
        if args.schedule:
            from fairing_magics.ui.textview import TextView

            view = TextView(title=args.notebook, stream=out)
            scheduled = job.schedule_notebook(args.notebook, parameters, options, settings,
                                              schedule=args.schedule, emit=view.handle)
            out.write(scheduled.describe() + "\n")
            return 0
        run = job.submit_notebook(args.notebook, parameters, options, settings, RunBook())
    except FairingError as exc:
        out.write(f"fairing-magics submit: {exc}\n")
        return 2
    try:
        run.wait()
    except FairingError as exc:
        out.write(f"\n{exc}\n")
        return 1
    finally:
        if getattr(run, "notebook", None) is not None:
            out.write(f"executed notebook: {run.notebook}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fairing-magics", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a notebook headless and print its outputs")
    run.add_argument("notebook")
    run.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    run.add_argument("--output", help="save the executed notebook here")
    run.add_argument("--kernel", default="python3", help="kernel name")
    submit = sub.add_parser("submit", help="run a notebook as a job (or on a schedule), as "
                            "%%fairing_notebook does", add_help=False)
    submit.add_argument("rest", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["submit"]:
        return submit_notebook(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_notebook(args.notebook, timeout=args.timeout, output=args.output, kernel=args.kernel)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
