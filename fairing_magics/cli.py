"""``fairing-magics``: headless use.

``fairing-magics run NOTEBOOK`` executes a notebook in a fresh Jupyter kernel (nbclient), as
papermill or CI would, and prints each cell's source and outputs as the cells finish. The panel
is plain text there (``FAIRING_UI=text``). A failing cell stops the run with exit code 1.
``--output FILE`` saves the executed notebook. The kernel is reached over Unix sockets in a
private folder (IPC), not TCP: nothing else on the machine can connect to it.

``fairing-magics copy-image SRC DEST [--platform P | --all-platforms]`` copies an image from one
registry to another with digests kept (:mod:`fairing_magics.copy_image`), e.g. a base image into
an ECR repository that builds in the China regions can reach::

    fairing-magics copy-image python:3.11-slim 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/python:3.11-slim

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
import tempfile


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
    sockets = tempfile.TemporaryDirectory(prefix="fairing-kernel-")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, config=_kernel_config(sockets.name),
                            resources={"metadata": {"path": folder}})

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
        sockets.cleanup()
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
    from fairing_magics.magics import FairingMagics

    parser = notebook_parser("fairing-magics submit", FairingMagics.fairing_train.parser)
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


def _kernel_config(folder: str):
    """Kernel manager settings: the kernel listens on Unix sockets in ``folder`` (TCP on Windows,
    which has no IPC transport), private to this user, so ipykernel has nothing to warn about."""
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "kernel")}})


def copy_image_command(args, out=sys.stdout) -> int:
    """``fairing-magics copy-image``: print each blob as it lands, then the copy by digest and the
    setting that builds on it."""
    from fairing_magics.aws import complete_ecr_reference, ecr_credentials
    from fairing_magics.copy_image import copy_image
    from fairing_magics.registry import Keychain, RegistryClient, Transport

    insecure = [*args.insecure_registry,
                *(h.strip() for h in os.environ.get("FAIRING_INSECURE_REGISTRIES", "").split(",") if h.strip())]
    client = RegistryClient(Transport(Keychain(hooks=[ecr_credentials]), insecure_registries=insecure))
    target = complete_ecr_reference(args.dest)

    def on_blob(what: str, digest: str, size: int, outcome: str) -> None:
        out.write(f"  {what:<12} {digest[:19]}  {size / 1e6:8.1f} MB  {outcome}\n")
        out.flush()

    out.write(f"Copying {args.source} to {target}\n")
    result = copy_image(client, args.source, target, platform=args.platform,
                        all_platforms=args.all_platforms, parallel=args.parallel, on_blob=on_blob)
    platforms = ", ".join(p for p in result.platforms if p) or "one platform"
    out.write(f"Copied {result.source} ({platforms}) to {result.target}"
              + (f", tagged {result.tag}" if result.tag else "") + "\n")
    out.write(f"  {result.summary()}\n")
    use = f"{result.target.split('@', 1)[0]}:{result.tag}" if result.tag else result.target
    out.write(f"Build on it: %fairing_config --base-image {use}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    from fairing_magics.errors import FairingError

    parser = argparse.ArgumentParser(prog="fairing-magics", description=__doc__.split("\n\n")[0],
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a notebook headless and print its outputs", allow_abbrev=False)
    run.add_argument("notebook")
    run.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    run.add_argument("--output", help="save the executed notebook here")
    run.add_argument("--kernel", default="python3", help="kernel name")
    copy = sub.add_parser(
        "copy-image", allow_abbrev=False,
        help="copy an image to another registry, digests kept (e.g. a base image into your ECR)",
        description="Copy image SRC (REGISTRY/REPOSITORY[:TAG|@DIGEST]; Docker Hub names such as "
                    "python:3.11-slim work) to DEST (REGISTRY/REPOSITORY[:TAG]; ecr/NAME[:TAG] is your "
                    "account's ECR in AWS_REGION). Blobs DEST already has are skipped; on one registry "
                    "they are mounted. An ECR repository is created when missing. Credentials: AWS for "
                    "ECR, else ~/.docker/config.json (docker login).")
    copy.add_argument("source", metavar="SRC")
    copy.add_argument("dest", metavar="DEST")
    which = copy.add_mutually_exclusive_group()
    which.add_argument("--platform", help="from a multi-platform image, copy this one "
                                          "(OS/ARCH[/VARIANT]; default linux/amd64)")
    which.add_argument("--all-platforms", action="store_true",
                       help="copy every platform and the index itself (the tag keeps the index digest)")
    copy.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                      help="a registry reached without TLS verification, or over plain HTTP (repeatable; "
                           "also FAIRING_INSECURE_REGISTRIES)")
    copy.add_argument("--parallel", type=int, default=4, help="blobs in flight at once (default 4)")
    submit = sub.add_parser("submit", help="run a notebook as a job (or on a schedule), as "
                            "%%fairing_notebook does", add_help=False)
    submit.add_argument("rest", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["submit"]:
        return submit_notebook(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_notebook(args.notebook, timeout=args.timeout, output=args.output, kernel=args.kernel)
    if args.command == "copy-image":
        try:
            return copy_image_command(args)
        except FairingError as exc:
            sys.stderr.write(f"fairing-magics copy-image: {exc}\n")
            return 1
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
