"""The magics: ``%fairing_config``, ``%%fairing_train``, ``%%fairing_sweep``, ``%fairing_deploy``,
``%fairing_undeploy``, ``%fairing_jobs``, ``%fairing_logs``, ``%fairing_cancel``. The only module that knows IPython.

Each magic parses its flags, calls :mod:`fairing_magics.pipeline` and shows the result. Bad flags
raise ``UsageError`` and every :class:`~fairing_magics.errors.FairingError` is shown as one clear
message; both fail the cell, so papermill, nbclient and CI see the failure.
"""

from __future__ import annotations

import contextlib
import html
import sys
import time
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from IPython.utils.process import arg_split
from traitlets import TraitError

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.capture.origin import remember_cell
from fairing_magics.config import FairingSettings
from fairing_magics.errors import ClusterError, ConfigError, JobFailed
from fairing_magics.run import RunBook, read_records
from fairing_magics.ui.format import format_seconds


def _parse(magic, line: str):
    """Parse a magic's flags; a value in quotes (``--name "linreg"``, ``--memory "2 Gi"``) loses
    its quotes, as in a shell (IPython's splitter keeps them).

    A flag must be written in full: argparse would take ``--output`` for ``--outputs`` (and an
    abbreviation that is unique today becomes ambiguous, or silently another flag, when a flag is
    added). An unknown flag is refused with the closest real one (``--cpus``: did you mean
    ``--cpu``?)."""
    parser = magic.parser
    parser.allow_abbrev = False
    try:
        argv = [_unquote(token) for token in arg_split(line)]
        args, extra = parser.parse_known_args(argv)
    except UsageError:
        raise
    except SystemExit as exc:  # argparse on --help and some errors
        raise UsageError(f"bad arguments: {line!r}") from exc
    if extra:
        raise UsageError(unknown_arguments_message(parser, extra))
    return args


def unknown_arguments_message(parser, extra: list[str]) -> str:
    """One line for arguments the parser does not know, with the closest flag for each."""
    import difflib

    usage = f"%{parser.prog}? lists every flag"
    flags = [option for action in parser._actions for option in action.option_strings]
    for token in extra:
        if not token.startswith("-"):
            continue
        given = token.split("=", 1)[0]
        starting = [flag for flag in flags if flag.startswith(given)]
        if len(starting) > 1:
            closest = difflib.get_close_matches(given, starting, n=2, cutoff=0.8)
            if len(closest) == 1:  # one much closer than the others is meant (--output: --outputs)
                starting = closest
        if len(starting) > 1:
            return f"unknown flag {given}: did you mean one of {', '.join(starting)}? ({usage})"
        close = starting or difflib.get_close_matches(given, flags, n=1, cutoff=0.6)
        if close:
            return f"unknown flag {given}: did you mean {close[0]}? ({usage})"
        return f"unknown flag {given} ({usage})"
    return f"unexpected argument{'s' if len(extra) > 1 else ''} {' '.join(extra)!r} ({usage})"


def _print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell, as kubectl prints them."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


@magics_class
class FairingMagics(Magics, FairingSettings):
    """Notebook cell -> training job -> prediction endpoint. Settings: ``%fairing_config``."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.runs = RunBook()
        self._shown: list = []  # panels displayed by the running cell

    # -- %fairing_config ----------------------------------------------------------------
    @magic_arguments()
    @argument("--registry", help="repository to push images to (e.g. 123456789012.dkr.ecr."
              "cn-northwest-1.amazonaws.com.cn/fairing-job)")
    @argument("--base-image", help="base image of training and serving images")
    @argument("--backend", help="where runs go: local, docker or kubernetes")
    @argument("--namespace", help="Kubernetes namespace")
    @argument("--context", help="kubeconfig context")
    @argument("--storage", help="where runs keep outputs and models: a folder or s3://bucket/prefix")
    @argument("--insecure-registry", action="append", default=None, metavar="HOST[:PORT]",
              help="a registry reached without TLS verification (repeatable)")
    @argument("--ui", help="panel kind: auto, widget or text")
    @argument("--index-url", metavar="URL", help="package index of the dependency layer (default: pip's "
              "index-url, else PyPI); may be https://user:token@host/simple (shown redacted)")
    @argument("--extra-index-url", action="append", default=None, metavar="URL",
              help="an extra package index (repeatable or comma separated; --extra-index-url '' clears them)")
    @argument("--service-account", help="Kubernetes service account KServe reads S3 models with "
              "(%%fairing_deploy --kserve --runtime)")
    @argument("--cache", help="on: every run reuses an earlier successful run with the same inputs "
              "(needs --storage); off")
    @argument("--show", action="store_true", help="print the settings (the default with no flags)")
    @line_magic
    def fairing_config(self, line=""):
        """Show or change fairing settings.

        Every setting also comes from the environment (FAIRING_REGISTRY, FAIRING_BASE_IMAGE,
        FAIRING_BACKEND, FAIRING_NAMESPACE, FAIRING_STORAGE, FAIRING_INSECURE_REGISTRIES,
        FAIRING_UI, FAIRING_HOME, FAIRING_SERVICE_ACCOUNT, FAIRING_INDEX_URL, FAIRING_EXTRA_INDEX_URL)
        and from ``%config FairingMagics.<name> = value``.

        The dependency layer is installed from --index-url, else from the index-url pip is
        configured with (PIP_INDEX_URL, pip.conf), else PyPI; pip's extra-index-url is not
        adopted (name extras with --extra-index-url).

        Example::

            %fairing_config --registry 127.0.0.1:5000/me --backend local
            %fairing_config --index-url https://pypi.tuna.tsinghua.edu.cn/simple
        """
        args = _parse(self.fairing_config, line)
        changes = {
            "registry": args.registry, "base_image": args.base_image, "backend": args.backend,
            "namespace": args.namespace, "context": args.context, "storage": args.storage,
            "ui": args.ui, "service_account": args.service_account, "index_url": args.index_url,
            "cache": args.cache,
        }
        changed = []
        for name, value in changes.items():
            if value is None:
                continue
            try:
                setattr(self, name, value)
            except TraitError:
                choices = ", ".join(self.traits()[name].values)
                raise UsageError(f"--{name.replace('_', '-')} {value!r} is not one of: {choices}") from None
            changed.append(name)
        if args.insecure_registry:
            self.insecure_registries = list(dict.fromkeys([*self.insecure_registries, *args.insecure_registry]))
            changed.append("insecure_registries")
        if args.extra_index_url is not None:
            from fairing_magics.image.package_index import split_urls

            self.extra_index_urls = list(split_urls(args.extra_index_url))
            changed.append("extra_index_urls")
        print(self.snapshot().describe())

    # -- %%fairing_train ----------------------------------------------------------------
    @magic_arguments(name="%fairing_train")  # help and errors say %%fairing_train: a cell magic
    @argument("--name", default="train", help="run name: lowercase letters, digits and '-' "
              "(a unique suffix is added)")
    @argument("--backend", default="", help="local (subprocess), docker or kubernetes; "
              "default: %%fairing_config's")
    @argument("--env", action="append", default=[], metavar="KEY=VALUE",
              help="environment variable for the run (repeatable)")
    @argument("--include", action="append", default=[], metavar="PATH",
              help="file or folder (relative to the notebook) to ship with the run (repeatable)")
    @argument("--requirements", default="auto", metavar="auto|none|FILE",
              help="third-party packages: detected (auto), none, or a requirements file")
    @argument("--outputs", default="", metavar="a,b",
              help="variables to bring back into the notebook after success")
    @argument("--timeout", type=float, default=None, metavar="SECONDS",
              help="stop the run and fail the cell after this many seconds")
    @argument("--outputs-from", default="chief", metavar="chief|all",
              help="kubernetes, several replicas: whose displays and --outputs come back: the "
              "chief (rank 0; default) or all (one set per replica, {replica: value})")
    @argument("--figure-format", default="", metavar="png|svg|png,svg",
              help="how matplotlib figures come back (default: %%config "
              "FairingMagics.figure_format, png)")
    @argument("--no-wait", action="store_true",
              help="return the run at once; the panel keeps streaming")
    @argument("--dry-run", action="store_true",
              help="print the capture report and the plan (image, Kubernetes YAML); touch nothing")
    @argument("--image-only", action="store_true",
              help="build and push the image, print repo@sha256:..., run nothing")
    @argument("--registry", default="", help="repository for the image (default: %%fairing_config's)")
    @argument("--base-image", default="", help="base image (default: %%fairing_config's)")
    @argument("--builder", default="", metavar="append|docker",
              help="who builds the image: append (no daemon; default) or docker (the Docker Engine at "
              "DOCKER_HOST; requirements installed with pip inside the image)")
    @argument("--platform", default=None, help="target platform of the image, e.g. linux/arm64")
    @argument("--python", default=None, help="target Python minor version of the dependency layer, e.g. 3.11")
    @argument("--kind", default="job", help="kubernetes: job, tfjob, pytorchjob or trainjob "
              "(Kubeflow Trainer v2)")
    @argument("--workers", type=int, default=0, help="kubernetes: worker replicas (tfjob, pytorchjob); "
              "nodes of a trainjob (numNodes, at least 1)")
    @argument("--runtime-ref", default="", metavar="NAME|NAMESPACE/NAME",
              help="trainjob: its ClusterTrainingRuntime NAME (default torch-distributed), or "
              "the TrainingRuntime NAME of the run's namespace as NAMESPACE/NAME")
    @argument("--cpu", default="", help="kubernetes: CPU per replica, e.g. 1 or 500m")
    @argument("--memory", default="", help="kubernetes: memory per replica, e.g. 2Gi")
    @argument("--gpus", type=int, default=0, help="kubernetes: nvidia.com/gpu per replica")
    @argument("--node-selector", action="append", default=[], metavar="KEY=VALUE",
              help="kubernetes: node label the pods must match (repeatable)")
    @argument("--toleration", action="append", default=[], metavar="KEY[=VALUE][:EFFECT]",
              help="kubernetes: taint the pods tolerate (repeatable)")
    @argument("--service-account", default="", help="kubernetes: service account of the pods (IRSA)")
    @argument("--aws-secret", default="", help="kubernetes: Secret holding AWS credentials for the pods")
    @argument("--image-pull-secret", action="append", default=[], help="kubernetes: pull secret (repeatable)")
    @argument("--volume", action="append", default=[], metavar="pvc|secret|configmap:NAME:/MOUNT",
              help="kubernetes: volume to mount (repeatable)")
    @argument("--namespace", default="", help="kubernetes: namespace (default: %%fairing_config's)")
    @argument("--context", default="", help="kubernetes: kubeconfig context")
    @argument("--cache", nargs="?", const="on", default=None, metavar="on|refresh|off",
              help="reuse an earlier successful run with the same inputs from run storage (its "
              "log, metrics and outputs, in milliseconds); refresh: run and record anew; "
              "default: %%fairing_config's (off)")
    @cell_magic
    def fairing_train(self, line, cell):
        """Run this cell as a training job, with everything it needs from the notebook.

        The cell and what it depends on (earlier definitions and imports, data values, local
        modules, pinned third-party packages) are captured into a bundle that runs in a fresh
        process: a subprocess here (``--backend local``), a container, or a Kubernetes Job
        (``--kind tfjob|pytorchjob``, or ``--kind trainjob`` for a Kubeflow Trainer v2 TrainJob
        on ``--runtime-ref``, with ``--workers`` nodes).
        Logs stream into the panel as they are written. What the cell shows comes back as in
        the kernel: its final expression's value, ``display(obj)`` (HTML, images, markdown, a
        DataFrame's table) and matplotlib figures (each ``plt.show()``, and every figure still
        open at the end; pandas and seaborn plots too), below the log while the run goes on,
        then as the cell's ordinary outputs (kept in the saved notebook). The cell's value is
        the run (``.status``, ``.logs()``, ``.outputs``, ``.displays``, ``.result`` -- the final
        expression's value --, ``.cancel()``, ``.wait()``); with ``--outputs`` the named
        variables come back into the notebook. If the cell raises, this cell fails with the
        remote traceback. Caps: ``%config FairingMagics.display_limit_mb`` (per display),
        ``displays_limit_mb`` (per run), ``result_limit_mb`` (``run.result``).

        With ``--cache`` (and ``--storage`` set), a cell whose inputs (the bundle, the image,
        the kind, resources and env) equal an earlier successful run's is not run again: its log,
        metrics and outputs come back from storage and the panel says ``cached: same inputs as
        run X``. When the cell raises, ``run.error.frames`` holds the failing frames' variables
        and ``%fairing_debug`` opens them.

        Example::

            %%fairing_train --name linreg --outputs w,b
            w, b = fit(x, y, epochs=200)
            print("loss", loss(w, b, x, y))

        A training curve drawn by the run appears below its log as it is made::

            %%fairing_train --name curve
            import matplotlib.pyplot as plt
            losses = train(epochs=20)
            plt.plot(losses); plt.show()
            min(losses)

        On Kubeflow Trainer v2, two nodes of the ``torch-distributed`` runtime (each pod's
        ``PET_NODE_RANK`` says which node it is; node 0 sends the displays and outputs, every
        node with ``--outputs-from all``)::

            %%fairing_train --backend kubernetes --kind trainjob --workers 2 --cpu 2
            print("node", os.environ["PET_NODE_RANK"], "of", os.environ["PET_NNODES"])
        """
        args = _parse(self.fairing_train, line)
        settings = self.snapshot()
        options = pipeline.options_from_args(args, settings)
        namespace = self.shell.user_ns
        history = list(self.shell.history_manager.input_hist_raw[1:])
        if options.dry_run:
            print(pipeline.plan_train(cell, namespace, history, options, settings, cwd=Path.cwd()))
            return None
        with self._refreshing():
            if options.image_only:
                ref = pipeline.publish_only(cell, namespace, history, options, settings,
                                            self._images(settings), cwd=Path.cwd(), show=self._show_view)
                print(ref)
                return None
            # The job runs the cell under the name IPython gives it here: say so to IPython, so
            # its frames read "Cell In[N], line L" in this kernel (%fairing_debug, run.error.frames)
            remember_cell(self.shell, cell)
            run = pipeline.train(cell, namespace, history, options, settings, self.runs, cwd=Path.cwd(),
                                 show=self._show_view, images=self._images(settings))
            if not options.wait:
                return self._value_shown_above(run)
            try:
                self._follow(run, settings.on_interrupt)
            except JobFailed as exc:
                exc.shown_in_log = True  # the panel's log (or the text view) showed it: once is enough
                raise
            namespace.update(run.outputs)
            return self._value_shown_above(run)

    def _value_shown_above(self, value) -> None:
        """Make ``value`` the cell's value (``_``, ``Out[n]``, ``ExecutionResult.result``)
        without displaying it: its panel is on screen above already. Returning it would have
        terminal IPython print an ``Out[n]:`` prompt with nothing after it (the prompt is written
        before the value is formatted), so the display hook's own bookkeeping is done here and
        the magic returns None."""
        hook = self.shell.displayhook
        hook.update_user_ns(value)
        hook.fill_exec_result(value)

    def _follow(self, run, on_interrupt: str):
        """:func:`pipeline.follow`, keeping the panel's Cancel button working while the cell
        blocks (a comm pump, ipykernel 6 and 7). Where no pump can work, the button is
        disabled and says how to stop the run instead of silently doing nothing."""
        from fairing_magics.ui import comm_pump

        view = getattr(run, "view", None)
        pump = comm_pump.open_comm_pump() if hasattr(view, "widget") else None
        if pump is None:
            if hasattr(view, "block_cancel"):
                if pipeline.interrupt_action(run, on_interrupt) == "cancel":
                    view.block_cancel("■ interrupt the kernel to stop")
                else:
                    view.block_cancel(f"■ interrupt the kernel, then %fairing_cancel {run.name}")
            return pipeline.follow(run, on_interrupt=on_interrupt)
        with pump:
            return pipeline.follow(run, on_interrupt=on_interrupt, poll=pump.poll)

    def _images(self, settings):
        """The kernel's ImageService (remembers bases, tokens and pushed blobs), made on first use."""
        from fairing_magics.image.publish import ImageService

        service = getattr(self, "_image_service", None)
        if service is None or service.insecure != tuple(settings.insecure_registries) or \
                service.index_settings != (settings.index_url, tuple(settings.extra_index_urls)):
            service = self._image_service = ImageService(settings)
        return service

    def _show_view(self, view) -> None:
        """Display the panel. Its ``text/plain`` is the text view's rendering, updated when the
        cell ends (a display id), so a notebook run headless keeps a readable log."""
        if hasattr(view, "widget"):
            view.display_handle = display(view, display_id=True)
            self._shown.append(view)

    @contextlib.contextmanager
    def _refreshing(self):
        """Panels shown during the cell get their final text into the output as the cell ends,
        and the displays of a run that ended become the cell's ordinary outputs."""
        self._shown = []
        try:
            yield
        finally:
            shown, self._shown = self._shown, []
            for view in shown:
                view.refresh_display()
                self._show_displays(view)

    def _show_displays(self, view) -> None:
        """Move the displays of an ended run out of its panel into this cell's outputs, in order:
        ``display_data`` (figures, ``display()``) and, for the cell's final value, an
        ``execute_result`` with the cell's prompt (its ``Out`` stays the run). A notebook saved,
        or executed headless (nbclient, papermill), keeps them like any cell's outputs."""
        from IPython.display import publish_display_data

        release = getattr(view, "release_displays", None)
        source = ""
        for shown in release() if release is not None else ():
            if shown.source and shown.source != source:  # --outputs-from all: whose they are
                label = f'<div style="color:#666;font-size:85%">{html.escape(shown.source)}</div>'
                publish_display_data({"text/plain": f"[{shown.source}]", "text/html": label})
            source = shown.source
            if shown.kind == "result":
                hook = self.shell.displayhook
                hook.start_displayhook()
                hook.write_output_prompt()
                hook.write_format_data(dict(shown.data), dict(shown.metadata))
                hook.finish_displayhook()
            else:
                publish_display_data(dict(shown.data), dict(shown.metadata))

    # -- %%fairing_sweep ----------------------------------------------------------------
    @magic_arguments(name="%fairing_sweep")
    @argument("--param", action="append", default=[], metavar="NAME=DIST:ARGS",
              help="a parameter of the search (repeatable): NAME=uniform:LOW:HIGH[:STEP], "
              "loguniform:LOW:HIGH, int:LOW:HIGH[:STEP] or choice:A,B,C")
    @argument("--objective", default="", metavar="METRIC",
              help="the metric each trial prints as METRIC=<number> (or log_metric)")
    @argument("--goal", default="minimize", help="minimize (default) or maximize the objective")
    @argument("--metric", action="append", default=[], metavar="METRIC",
              help="another metric to record per trial (repeatable)")
    @argument("--trials", type=int, default=10, metavar="N", help="how many trials (default 10)")
    @argument("--parallel", type=int, default=2, metavar="N",
              help="trials running at a time (default 2, at most --trials)")
    @argument("--algorithm", default="tpe", metavar="random|grid|tpe|bayesian",
              help="how parameters are picked (default tpe); on Katib: random, grid, tpe, "
              "bayesianoptimization")
    @argument("--early-stopping", default="", metavar="median",
              help="stop trials whose objective is worse than the median at the same step")
    @argument("--max-failed", type=int, default=3, metavar="N",
              help="end the sweep after N failed trials (default 3)")
    @argument("--seed", type=int, default=None, help="local: seed of the sampler (reproducible)")
    @argument("--name", default="sweep", help="sweep name: lowercase letters, digits and '-'")
    @argument("--backend", default="", help="local (subprocesses, Optuna) or kubernetes (a Katib "
              "Experiment); default: %%fairing_config's")
    @argument("--kind", default="job", help="kubernetes: each trial as a job, tfjob or pytorchjob")
    @argument("--workers", type=int, default=0, help="kubernetes: worker replicas (tfjob, pytorchjob)")
    @argument("--cpu", default="", help="kubernetes: CPU per trial replica, e.g. 1 or 500m")
    @argument("--memory", default="", help="kubernetes: memory per trial replica, e.g. 2Gi")
    @argument("--gpus", type=int, default=0, help="kubernetes: nvidia.com/gpu per trial replica")
    @argument("--env", action="append", default=[], metavar="KEY=VALUE",
              help="environment variable for every trial (repeatable)")
    @argument("--include", action="append", default=[], metavar="PATH",
              help="file or folder (relative to the notebook) to ship with the trials (repeatable)")
    @argument("--requirements", default="auto", metavar="auto|none|FILE",
              help="third-party packages: detected (auto), none, or a requirements file")
    @argument("--outputs", default="", metavar="a,b",
              help="variables of the best trial to bring back into the notebook")
    @argument("--timeout", type=float, default=None, metavar="SECONDS",
              help="stop a trial (it fails) after this many seconds")
    @argument("--dry-run", action="store_true",
              help="print the search space, the trial command and the Experiment YAML; touch nothing")
    @argument("--registry", default="", help="kubernetes: repository for the image")
    @argument("--base-image", default="", help="kubernetes: base image")
    @argument("--namespace", default="", help="kubernetes: namespace (default: %%fairing_config's)")
    @argument("--context", default="", help="kubernetes: kubeconfig context")
    @argument("--service-account", default="", help="kubernetes: service account of the trial pods")
    @argument("--image-pull-secret", action="append", default=[], help="kubernetes: pull secret (repeatable)")
    @cell_magic
    def fairing_sweep(self, line, cell):
        """Tune this cell's hyperparameters: run it many times, each with other parameters.

        The cell is captured once (and on Kubernetes built into one image); each trial runs it
        with its parameters set as plain names (``lr``, ``depth``). A trial reports its objective
        by printing ``val_loss=0.123`` (the name=value format Katib's StdOut collector reads) or
        with ``fairing_magics.log_metric("val_loss", v)``; its best value counts. Locally
        (``--backend local``) trials are parallel subprocesses driven by Optuna (``pip install
        'fairing-magics[sweep]'``); on Kubernetes the sweep is a Katib Experiment whose trials
        are Jobs (or TFJobs/PyTorchJobs with ``--kind``). The panel shows a table of trials (best
        highlighted), a chart of the objective per trial and each trial's log on demand. The
        cell's value is the sweep: ``.best_params``, ``.best_value``, ``.trials`` (a DataFrame),
        ``.best_run``; with ``--outputs`` the best trial's variables come back into the notebook.

        Example::

            %%fairing_sweep --param C=loguniform:1e-3:1e2 --param kernel=choice:rbf,linear --objective accuracy --goal maximize --trials 20 --parallel 4 --outputs model
            model = SVC(C=C, kernel=kernel).fit(x_train, y_train)
            print(f"accuracy={model.score(x_test, y_test)}")
        """
        from fairing_magics.sweep.launch import plan_sweep, start_sweep
        from fairing_magics.sweep.options import SweepOptions
        from fairing_magics.sweep.space import parse_space

        args = _parse(self.fairing_sweep, line)
        if not args.objective:
            raise UsageError("--objective METRIC is required: the metric each trial prints as "
                             "METRIC=<number>, e.g. --objective val_loss")
        settings = self.snapshot()
        train = pipeline.TrainOptions(
            name=args.name, backend=args.backend, env=pipeline.parse_env(args.env),
            includes=tuple(args.include), outputs=pipeline.parse_outputs(args.outputs),
            requirements=args.requirements, timeout=args.timeout, registry=args.registry,
            base_image=args.base_image, kind=args.kind, workers=args.workers, cpu=args.cpu,
            memory=args.memory, gpus=args.gpus, namespace=args.namespace, context=args.context,
            service_account=args.service_account,
            image_pull_secrets=tuple(args.image_pull_secret), dry_run=args.dry_run)
        options = SweepOptions(
            space=parse_space(args.param), objective=args.objective, goal=args.goal,
            metrics=tuple(args.metric), trials=args.trials, parallel=args.parallel,
            algorithm=args.algorithm, early_stopping=args.early_stopping,
            max_failed=args.max_failed, seed=args.seed, train=train)
        namespace = self.shell.user_ns
        history = list(self.shell.history_manager.input_hist_raw[1:])
        if args.dry_run:
            print(plan_sweep(cell, namespace, history, options, settings, cwd=Path.cwd()))
            return None
        with self._refreshing():
            sweep = start_sweep(cell, namespace, history, options, settings, self.runs,
                                cwd=Path.cwd(), show=self._show_view,
                                images=self._images(settings) if settings.backend != "local"
                                or args.backend == "kubernetes" else None)
            try:
                self._follow(sweep, settings.on_interrupt)
            except JobFailed as exc:
                exc.shown_in_log = True  # the panel shows each trial's problem
                raise
            namespace.update(sweep.outputs)
            return self._value_shown_above(sweep)

    # -- %fairing_deploy / %fairing_undeploy ------------------------------------------------
    @magic_arguments()
    @argument("model", nargs="?", default=None,
              help="variable holding the model (anything with predict(), or a function f(x)), or "
                   "s3://bucket/prefix/runs/RUN/ (omit with --from-run)")
    @argument("--name", default="", help="endpoint name: lowercase letters, digits and '-' "
              "(default: the variable's name)")
    @argument("--backend", default="", help="local (a subprocess), docker (a container of the image a "
              "cluster would run) or kubernetes; default: %%fairing_config's")
    @argument("--from-run", default=None, metavar="RUN",
              help="serve the model a run stored (its only output, or 'model')")
    @argument("--predictor", default=None, metavar="FUNC_OR_CLASS",
              help="variable holding predict(model, x), or a class with preprocess/predict/postprocess")
    @argument("--replicas", type=int, default=1, help="kubernetes: serving pods")
    @argument("--kserve", action="store_true", help="kubernetes: a KServe InferenceService instead of a "
              "Deployment and a Service")
    @argument("--runtime", default="", metavar="sklearn|xgboost",
              help="kubernetes --kserve: serve with KServe's stock runtime for this model format from a "
                   "storageUri (the model is saved in that format under --storage s3://...); default: our "
                   "predictor image")
    @argument("--expose", default="clusterip", metavar="clusterip|nodeport|loadbalancer",
              help="kubernetes: how the Service is reached (a LoadBalancer's hostname or IP is used)")
    @argument("--cpu", default="", help="kubernetes: CPU per pod, e.g. 500m")
    @argument("--memory", default="", help="kubernetes: memory per pod, e.g. 1Gi")
    @argument("--timeout", type=float, default=300.0, metavar="SECONDS",
              help="fail if the endpoint is not ready after this many seconds")
    @argument("--dry-run", action="store_true",
              help="print the model's packages, the image and the Kubernetes YAML; touch nothing")
    @line_magic
    def fairing_deploy(self, line=""):
        """Serve a model as a prediction endpoint (KServe V1 protocol) and wait until it is ready.

        The model is pickled with its packages found, and served by a small HTTP server: here in a
        subprocess (``--backend local``), or in an image built and pushed to ``--registry``, run
        in a container of the local Docker Engine (``--backend docker``, on 127.0.0.1) or on
        Kubernetes (a Deployment and a Service, or ``--kserve``). The panel shows the rollout,
        the pods' events and the server's log; if the server crashes, the cell fails with its
        log. The value is the endpoint: ``.predict(x)`` (lists, numpy arrays, DataFrames),
        ``.url``, ``.logs()``, ``.status``, ``.delete()``. Deploying the same name again rolls
        the new model out; ``%fairing_undeploy NAME`` removes it. With ``--kserve --runtime
        sklearn|xgboost`` no image is built: the model goes to ``--storage s3://...`` and KServe's
        stock runtime serves it (its S3 access: ``%fairing_config --service-account``).

        Example::

            %fairing_deploy model --name linreg
            ep = _
            ep.predict(x_test)
        """
        from fairing_magics.deploy import deploy, plan_deploy
        from fairing_magics.kube.naming import sanitize_name

        args = _parse(self.fairing_deploy, line)
        settings = self.snapshot()
        namespace = self.shell.user_ns
        model = None
        if args.model is not None:
            if args.model in namespace:
                model = namespace[args.model]
            elif "://" in args.model or args.model.endswith(".pkl"):
                model = args.model
            else:
                raise UsageError(f"there is no variable {args.model!r}: name the variable holding the "
                                 "model, an s3:// URI, or use --from-run RUN")
        elif not args.from_run:
            raise UsageError("name the model to deploy (%fairing_deploy model --name NAME) or give --from-run RUN")
        predictor = None
        if args.predictor:
            if args.predictor not in namespace:
                raise UsageError(f"--predictor {args.predictor!r}: there is no such variable")
            predictor = namespace[args.predictor]
        source = args.model if args.model and args.model.isidentifier() else (args.from_run or "model")
        name = args.name or sanitize_name(source.replace("_", "-"), fallback="model")
        options = dict(name=name, backend=args.backend, settings=settings, predictor=predictor,
                       from_run=args.from_run, replicas=args.replicas, kserve=args.kserve,
                       runtime=args.runtime, expose=args.expose, cpu=args.cpu, memory=args.memory)
        if args.dry_run:
            print(plan_deploy(model, **options))
            return None
        backend = args.backend or settings.backend
        images = self._images(settings) if backend in ("kubernetes", "docker") else None
        with self._refreshing():
            return deploy(model, timeout=args.timeout, show=self._show_view, images=images, **options)

    @magic_arguments()
    @argument("name", help="endpoint name")
    @argument("--backend", default="", help="where an endpoint of an earlier kernel runs (kubernetes or docker)")
    @line_magic
    def fairing_undeploy(self, line=""):
        """Remove an endpoint: stop its server or container, or delete its Kubernetes objects and pods.

        Endpoints of this kernel are known by name; on Kubernetes, one made by an earlier kernel
        is found by its name in the configured namespace; with ``--backend docker``, its container
        by the label ``fairing.endpoint=NAME``.

        Example::

            %fairing_undeploy linreg
        """
        from fairing_magics.deploy import undeploy

        args = _parse(self.fairing_undeploy, line)
        print(undeploy(args.name, settings=self.snapshot(), backend=args.backend))

    # -- %fairing_jobs / %fairing_logs / %fairing_cancel -----------------------------------
    @magic_arguments()
    @argument("--all", action="store_true", help="every run recorded under FAIRING_HOME (or the "
              "--storage folder), also those of earlier kernels; default: this kernel's runs")
    @argument("--limit", type=int, default=20, metavar="N", help="the newest N runs (default 20)")
    @line_magic
    def fairing_jobs(self, line=""):
        """List this kernel's runs (name, backend, status, start, duration, summary; ``--all``:
        every recorded run, also those of earlier kernels; ``--limit N``: the newest N) and this
        kernel's endpoints. A local run whose kernel is gone shows ``Lost`` (its orphaned process,
        if any, is ended); a cluster run whose kernel is gone shows ``Detached`` (it goes on:
        ``%fairing_logs NAME`` reattaches). One duration everywhere: from the start of the
        cell's capture to the run's end.

        Example::

            %fairing_jobs --all --limit 5
        """
        from fairing_magics.deploy import ENDPOINTS

        args = _parse(self.fairing_jobs, line)
        if args.limit < 1:
            raise UsageError(f"--limit {args.limit}: give a number of runs of 1 or more")
        settings = self.snapshot()
        rows = {}
        recorded = read_records(settings.runs_root)
        if args.all:
            rows = {record["name"]: record for record in recorded}
        for run in self.runs.all():
            rows[run.name] = run.record()
        if settings.backend == "kubernetes":
            self._print_cluster_runs()
        self._print_schedules()
        endpoints = ENDPOINTS.all()
        if not rows:
            others = f" %fairing_jobs --all lists the {len(recorded)} recorded runs." if recorded else ""
            print("No runs in this kernel yet: start one with %%fairing_train." + others)
        else:
            chosen = sorted(rows.values(), key=lambda r: r.get("started_at") or 0)[-args.limit:]
            table = [("NAME", "BACKEND", "STATUS", "START", "DURATION", "SUMMARY")]
            now = time.time()
            for record in chosen:
                start = record.get("started_at") or now
                seconds = record.get("duration") if record.get("finished_at") else now - start
                summary = record.get("summary") or ""
                table.append((record["name"], record.get("backend", ""), record.get("phase", ""),
                              time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)),
                              format_seconds(max(0.0, seconds or 0.0)),
                              summary if len(summary) <= 70 else summary[:69] + "…"))
            _print_table(table)
            if len(rows) > len(chosen):
                print(f"({len(rows) - len(chosen)} older runs not shown: --limit {len(rows)})")
        if endpoints:
            print()
            _print_table([("ENDPOINT", "BACKEND", "STATUS", "REVISION", "URL")] +
                         [(e.name, e.backend, e.status, str(e.revision), e.predict_url) for e in endpoints])

    @magic_arguments()
    @argument("name", help="run name (or the --name it was started with: the latest such run)")
    @line_magic
    def fairing_logs(self, line=""):
        """Show a run's log again (and a line per display it made, naming its saved file); if it
        still runs in this kernel, keep following it.

        Works for any run recorded under FAIRING_HOME (or the --storage folder, or in an s3://
        --storage), also from a new kernel: a finished or Lost run prints its ``logs.txt`` and
        how it ended; a cluster run that goes on is reattached (by its labels) and followed.

        Example::

            %fairing_logs linreg-a1b2c3
        """
        args = _parse(self.fairing_logs, line)
        settings = self.snapshot()
        run = self.runs.get(args.name)
        if run is None:
            found = self._recorded_run(args.name, settings)
            if found is not None:
                folder, record = found
                if record.get("backend") == "kubernetes" and record.get("phase") not in ev.FINAL_PHASES:
                    return self._reattach(record["name"], namespace=(record.get("where") or {}).get("namespace"))
                text = (folder / "logs.txt").read_text(encoding="utf-8", errors="replace") \
                    if (folder / "logs.txt").exists() else ""
                sys.stdout.write(text)
                self._print_displays(folder)
                print(self._record_status(record))
                return None
            if settings.backend == "kubernetes":
                return self._reattach(args.name)
            stored = self._stored_run(args.name, settings)
            if stored is None:
                raise ConfigError(f"no run {args.name!r} in this kernel, under {settings.runs_root} or in "
                                  f"the storage; %fairing_jobs --all lists the recorded runs")
            record, text = stored
            sys.stdout.write(text)
            print(self._record_status(record))
            return None
        if run.done:
            sys.stdout.write(run.logs())
            self._print_displays(run.folder)
            return None
        from fairing_magics.ui.textview import TextView

        view = TextView(title=run.name, stream=sys.stdout)
        sys.stdout.write(run.attach(view.handle))
        try:
            while not run.wait_done(0.1):
                pass
        except KeyboardInterrupt:
            print(f"[fairing] stopped following {run.name}; it goes on (%fairing_cancel {run.name} stops it)")
        finally:
            run.unsubscribe(view.handle)
        return None

    @magic_arguments()
    @argument("name", help="run name (or the --name it was started with: the latest such run)")
    @line_magic
    def fairing_cancel(self, line=""):
        """Stop a run: one of this kernel, or any recorded under FAIRING_HOME or the storage
        (from a new kernel too): a local run's process is ended (its kernel, if alive, reports it
        Cancelled), a cluster run's job and pods are deleted, a docker run's container stopped. A
        scheduled notebook's name removes the schedule: its CronJob, with its Jobs and pods.

        Example::

            %fairing_cancel linreg-a1b2c3
        """
        args = _parse(self.fairing_cancel, line)
        if self._cancel_schedule(args.name):
            return
        settings = self.snapshot()
        run = self.runs.get(args.name)
        if run is None:
            found = self._recorded_run(args.name, settings)
            if found is None:
                stored = self._stored_run(args.name, settings) if settings.backend != "kubernetes" else None
                if settings.backend == "kubernetes" or (stored and stored[0].get("backend") == "kubernetes"):
                    namespace = ((stored or ({},))[0].get("where") or {}).get("namespace")
                    return self._cancel_on_cluster(args.name, namespace)
                raise ConfigError(f"no run {args.name!r} in this kernel, under {settings.runs_root} or in "
                                  f"the storage; %fairing_jobs --all lists the recorded runs")
            return self._cancel_recorded(*found)
        if run.done:
            print(f"{run.name} already ended: {run.phase}")
            return None
        run.cancel()
        run.wait_done(15)
        print(f"{run.name}: {run.phase}")
        return None

    def _recorded_run(self, name: str, settings):
        """``(folder, settled record)`` of run ``name`` (or the newest run of that --name) under
        the runs folder, or None."""
        from fairing_magics.run import load_record, settle_record

        runs = settings.runs_root / "runs"
        folder = runs / name
        if not (folder / "run.json").exists():
            matches = sorted(runs.glob(f"{name}-*/run.json"), key=lambda p: p.stat().st_mtime)
            if not matches:
                return None
            folder = matches[-1].parent
        record = load_record(folder)
        if record is None:
            return None
        return folder, settle_record(folder, record)

    def _stored_run(self, name: str, settings):
        """``(record, log text)`` of a run kept in an s3:// --storage, or None."""
        if not settings.storage.startswith("s3://"):
            return None
        import json

        from fairing_magics.storage import MissingRunFile, check_run_name, storage_for

        try:
            storage = storage_for(settings.storage)
            record = json.loads(storage.read_bytes(check_run_name(name), "run.json"))
        except (MissingRunFile, ConfigError, ValueError):
            return None
        try:
            text = storage.read_bytes(name, "logs.txt").decode("utf-8", "replace")
        except MissingRunFile:
            text = ""
        return record, text

    @staticmethod
    def _print_displays(folder: Path) -> None:
        """One line per display a run made (its saved file; ``run.displays`` shows them)."""
        from fairing_magics.displays import read_displays

        for shown in read_displays(folder):
            print(f"[fairing] {shown.placeholder()}")

    @staticmethod
    def _record_status(record: dict) -> str:
        seconds = record.get("duration") or 0.0
        return (f"[fairing] {record.get('name')} {record.get('phase')}: {record.get('summary') or '-'} "
                f"[{format_seconds(seconds)}]")

    def _cancel_recorded(self, folder: Path, record: dict) -> None:
        """%fairing_cancel of a run this kernel does not have (another kernel's, or a gone one's)."""
        import os

        from fairing_magics.run import end_process, process_alive, request_cancel

        name = record["name"]
        if record.get("phase") in ev.FINAL_PHASES:
            print(f"{name} already ended: {record.get('phase')} ({record.get('summary') or '-'})")
            return
        backend = record.get("backend")
        if backend == "kubernetes":
            self._cancel_on_cluster(name, (record.get("where") or {}).get("namespace"))
            return
        if backend == "docker":
            self._cancel_container(name)
            return
        if process_alive(record.get("process")) is None:
            raise ConfigError(f"run {name} runs on another machine ({(record.get('process') or {}).get('host')}): "
                              "cancel it from its own kernel")
        request_cancel(folder, f"%fairing_cancel in another kernel (pid {os.getpid()})")
        print(f"{name}: {end_process(record.get('process'))}; its kernel reports it Cancelled")

    def _cancel_container(self, name: str) -> None:
        from fairing_magics.backends.docker import (
            RUN_LABEL,
            DockerBackend,
            remove_container,
            stop_container,
        )

        engine = DockerBackend().engine
        containers = engine.containers.list(filters={"label": f"{RUN_LABEL}={name}"})
        for container in containers:
            stop_container(container)
            remove_container(container)
        print(f"{name}: " + (f"its container {containers[0].short_id} was stopped and removed"
                             if containers else "no container of it is running"))

    # -- %fairing_notebook / %fairing_debug -------------------------------------------------
    @line_magic
    def fairing_notebook(self, line=""):
        """Run a whole notebook as a job (or on a schedule), through the same capture, build and
        submit path as a cell.

        Its code cells run in order in a fresh headless kernel (nbclient) where the job runs;
        ``-p NAME=VALUE`` parameters are injected after the cell tagged ``parameters``, as
        papermill does. Its imports are pinned from this environment, its local modules and
        ``--include`` files ship with it (paths relative to the notebook's folder). The panel
        streams each cell's output; the executed notebook, outputs and errors included, comes
        back next to the source as ``NAME.<run>.ipynb`` (``run.notebook``). A failing cell fails
        this cell naming it, and ``%fairing_debug`` opens its variables. ``--schedule CRON``
        (kubernetes) creates a CronJob of the same image instead: each run's executed notebook
        lands in run storage; ``%fairing_jobs`` lists it, ``%fairing_cancel NAME`` removes it.

        Example::

            %fairing_notebook train.ipynb -p alpha=0.5 -p epochs=20
            %fairing_notebook report.ipynb --backend kubernetes --schedule '0 6 * * *'
        """
        from fairing_magics.notebook import job
        from fairing_magics.notebook.source import parse_parameters

        args = self._notebook_args(line)
        settings = self.snapshot()
        options = pipeline.options_from_args(args, settings)
        parameters = parse_parameters(args.parameter)
        cwd = Path.cwd()
        if args.dry_run:
            print(job.plan_notebook(args.notebook, parameters, options, settings, cwd=cwd,
                                    schedule=args.schedule))
            return None
        if args.schedule:
            return self._schedule_notebook(args, parameters, options, settings)
        run = job.submit_notebook(args.notebook, parameters, options, settings, self.runs,
                                  cwd=cwd, show=self._show_view, images=self._images(settings))
        run.suppress_next_display = True
        if not options.wait:
            return run
        try:
            self._follow(run, settings.on_interrupt)
        except JobFailed as exc:
            exc.shown_in_log = not hasattr(run.view, "widget")
            raise
        self.shell.user_ns.update(run.outputs)
        if run.notebook is not None:
            print(f"[fairing] executed notebook: {run.notebook}")
        return run

    def _notebook_args(self, line: str):
        from fairing_magics.notebook.flags import parse_notebook_args

        try:
            # shell words: -p label='nightly run' is one parameter, as in a terminal
            args = parse_notebook_args(self.fairing_notebook.parser, arg_split(line, posix=True))
        except SystemExit as exc:
            raise UsageError(f"bad arguments: {line!r} (%fairing_notebook? lists the flags)") from exc
        if not args.notebook:
            raise UsageError("name the notebook to run: %fairing_notebook NOTEBOOK.ipynb "
                             "[-p NAME=VALUE]... [--schedule CRON] [train flags]")
        return args

    def _schedule_notebook(self, args, parameters, options, settings):
        from fairing_magics import events as ev
        from fairing_magics.errors import FairingError
        from fairing_magics.notebook import job
        from fairing_magics.ui import make_view

        view = make_view(settings.ui, title=f"{args.notebook} (schedule)", backend="kubernetes",
                         stages=("build", "push", "submit"), log_lines=settings.log_lines)
        self._show_view(view)
        try:
            scheduled = job.schedule_notebook(args.notebook, parameters, options, settings,
                                              schedule=args.schedule, cwd=Path.cwd(),
                                              images=self._images(settings), emit=view.handle)
        except FairingError as exc:
            view.handle(ev.Finished(ev.FAILED, str(exc)))
            raise
        view.handle(ev.Finished(ev.SUCCEEDED, f"CronJob {scheduled.name}: {scheduled.schedule}"))
        print(f"[fairing] {scheduled.describe()}")
        return scheduled

    def _print_schedules(self) -> None:
        """%fairing_jobs: the scheduled notebooks (made from here, or found on the cluster)."""
        from fairing_magics.backends.kubernetes.schedules import format_schedules, list_schedules
        from fairing_magics.kube.access import load_cluster_access
        from fairing_magics.notebook.job import remembered_schedules

        settings = self.snapshot()
        places = {(r.get("namespace", ""), r.get("context", "")) for r in remembered_schedules(settings)}
        if settings.backend == "kubernetes":
            places.add((settings.namespace, settings.context))
        found = []
        for namespace, context in sorted(places):
            try:
                access = load_cluster_access(context=context or None, namespace=namespace or None)
                found += list_schedules(access, namespace or None)
            except ClusterError as exc:  # no access to schedules must not hide the runs
                print(f"Schedules in namespace {namespace or '(default)'} cannot be listed: {exc}")
        if found:
            print(format_schedules(found))
            print()

    def _cancel_schedule(self, name: str) -> bool:
        """%fairing_cancel NAME for a scheduled notebook: delete its CronJob (True), or False
        when NAME is no schedule (then it is a run)."""
        from fairing_magics.backends.kubernetes.schedules import delete_schedule, find_schedule
        from fairing_magics.kube.access import load_cluster_access
        from fairing_magics.notebook.job import forget_schedule, remembered_schedules

        settings = self.snapshot()
        known = [r for r in remembered_schedules(settings) if r.get("name") == name]
        if not known and (settings.backend != "kubernetes" or self.runs.get(name) is not None):
            return False
        place = known[0] if known else {"namespace": settings.namespace, "context": settings.context}
        access = load_cluster_access(context=place.get("context") or None,
                                     namespace=place.get("namespace") or None)
        if not known:
            try:
                if find_schedule(access, name) is None:
                    return False
            except ClusterError:  # may not read CronJobs: then NAME is taken for a run
                return False
        deleted = delete_schedule(access, name, place.get("namespace") or None)
        forget_schedule(settings, name)
        print(f"{name}: schedule removed (its CronJob, Jobs and pods are deleted)" if deleted else
              f"{name}: the schedule was already gone from the cluster")
        return True

    @magic_arguments()
    @argument("run", nargs="?", default=None,
              help="the failed run (default: this kernel's last failed run)")
    @argument("--pdb", action="store_true",
              help="open pdb (post-mortem) over a replay of the saved frames")
    @argument("--frame", type=int, default=None, metavar="N",
              help="show (and put in the namespace) the variables of frame N (0: outermost; "
              "default: the failing frame)")
    @argument("--no-namespace", action="store_true",
              help="show the variables without putting them in the notebook's namespace")
    @line_magic
    def fairing_debug(self, line=""):
        """Inspect a remote failure: the traceback where the kernel ran the code (``Cell In[7],
        line 5`` for the cell, ``Cell In[3], line 4`` for a function defined in cell 3), and the
        failing frame's variables, saved by the job when the cell raised (local, docker and
        Kubernetes runs; on Kubernetes through run storage).

        The variables that could be saved (they pickle, each under a size cap) are put in the
        notebook's namespace (the names they replace are listed); the others are named with
        their type and why they were left out. ``--pdb`` opens the debugger over a replay of
        the saved frames: real frames rebuilt with the remote file names, lines, functions and
        variables, so ``where``, ``up``, ``down``, ``list``, ``p`` work; nothing can be stepped
        (the remote process has ended). ``run.error.frames`` holds the same frames.

        Example::

            %fairing_debug
            %fairing_debug linreg-a1b2c3 --pdb
        """
        from fairing_magics.postmortem import read_frames

        args = _parse(self.fairing_debug, line)
        settings = self.snapshot()
        frames, name = self._failed_run_frames(args.run, settings, read_frames)
        if args.frame is not None and not 0 <= args.frame < len(frames):
            raise UsageError(f"--frame {args.frame}: run {name} saved frames 0 to {len(frames) - 1}")
        frame = frames[args.frame] if args.frame is not None else frames.failing
        print(frames.describe(frame))
        if frame is not None and not args.no_namespace:
            values = frame.values()
            replaced = sorted(n for n in values if n in self.shell.user_ns)
            self.shell.user_ns.update(values)
            if values:
                print(f"\n[fairing] now in your namespace: {', '.join(sorted(values))}"
                      + (f" (replacing this kernel's {', '.join(replaced)})" if replaced else ""))
        if args.pdb:
            frames.post_mortem(getattr(self.shell, "debugger_cls", None))

    def _failed_run_frames(self, name, settings, read_frames):
        """The saved frames of run ``name`` (default: this kernel's last failed run)."""
        from fairing_magics import events as ev
        from fairing_magics.errors import ConfigError

        if name is None:
            failed = [r for r in self.runs.all() if r.done and r.phase == ev.FAILED]
            if not failed:
                raise ConfigError("no run of this kernel failed; name one: %fairing_debug RUN "
                                  "(%fairing_jobs lists the runs)")
            name = failed[-1].name
        run = self.runs.get(name)
        if run is not None:
            if not run.done:
                raise ConfigError(f"run {run.name} is still {run.phase}: debug it once it has failed")
            if run.phase != ev.FAILED:
                raise ConfigError(f"run {run.name} {run.phase.lower()}: there is no remote failure "
                                  "to debug; %fairing_debug takes a failed run (%fairing_jobs lists them)")
            frames = getattr(run.error, "frames", None)
            found = frames.loaded if hasattr(frames, "loaded") else frames
            where, finished = run.folder, run.finished_at
            name = run.name
        else:
            record = next((r for r in reversed(read_records(settings.runs_root))
                           if r.get("name") == name or r.get("name", "").startswith(name + "-")), None)
            if record is not None and record.get("phase") == ev.SUCCEEDED:
                raise ConfigError(f"run {record['name']} succeeded: there is no remote failure to "
                                  "debug; %fairing_debug takes a failed run")
            name = record["name"] if record else name
            where = Path(settings.runs_root) / "runs" / name
            finished = record.get("finished_at") if record else None
            found = None
        if found is None or not len(found):
            found = read_frames(name, folder=where if where.is_dir() else None,
                                storage=settings.storage, finished_at=finished)
        if found is None or not len(found):
            why = ("it ran on Kubernetes without run storage (%fairing_config --storage)"
                   if not settings.storage and run is not None and run.backend == "kubernetes"
                   else "it did not fail in the cell (it could not start, was stopped, or ran out "
                   "of memory), or no run by that name kept its folder")
            raise ConfigError(f"run {name} saved no frames to debug: {why}")
        return found, name

    # -- cluster runs (kubernetes backend): found by their labels; %fairing_doctor -----------
    def _cluster_access(self, settings):
        from fairing_magics.backends.kubernetes.backend import KubernetesBackend

        backend = KubernetesBackend()
        return backend, backend.access_for(None, settings)

    def _print_cluster_runs(self) -> None:
        from fairing_magics.backends.kubernetes.jobs import format_runs, list_runs

        _, access = self._cluster_access(self.snapshot())
        print(f"On the cluster (namespace {access.namespace}):")
        print(format_runs(list_runs(access)))
        print()

    def _reattach(self, name: str, namespace: str | None = None):
        """%fairing_logs for a run this kernel did not start: follow it from the cluster."""
        from fairing_magics.backends.kubernetes.jobs import find_run
        from fairing_magics.run import Run
        from fairing_magics.ui import make_view

        settings = self.snapshot()
        backend, access = self._cluster_access(settings)
        info = find_run(access, name, namespace or None)
        run = Run(info.name, backend.name,
                  Path(settings.home) / "attached" / f"{info.name}-{int(time.time())}",
                  stages=backend.stages)
        view = make_view(settings.ui, title=info.name, backend=backend.name, stages=backend.stages,
                         log_lines=settings.log_lines, on_cancel=lambda: pipeline.cancel_from_panel(run))
        run.view = view
        run.subscribe(view.handle)
        self.runs.add(run)
        self._show_view(view)
        backend.reattach(info.name, run, settings, namespace=info.namespace)
        try:
            self._follow(run, "detach")
        except JobFailed as exc:
            exc.shown_in_log = True  # the panel's log (or the text view) showed it: once is enough
            raise
        run.suppress_next_display = True
        return run

    def _cancel_on_cluster(self, name: str, namespace: str | None = None) -> None:
        from fairing_magics.backends.kubernetes.jobs import cancel_run

        _, access = self._cluster_access(self.snapshot())
        info = cancel_run(access, name, namespace or None)
        print(f"{info.name}: deleting its {info.resource.kind} and pods (foreground propagation)")

    @magic_arguments()
    @argument("--kind", default="job", help="what to check for: job, tfjob, pytorchjob, "
              "trainjob, deployment or inferenceservice")
    @argument("--runtime-ref", default="", help="trainjob: the runtime to look for "
              "(default torch-distributed)")
    @argument("--namespace", default="", help="namespace (default: %%fairing_config's)")
    @line_magic
    def fairing_doctor(self, line=""):
        """Check what runs need: the base image's registry answers (a short timeout; if not,
        the copy-image command that fixes it), then the cluster: API reachable, CRDs, RBAC
        permissions.

        Each line says what is fine or what is missing (e.g. the RBAC rule to add); the cell
        fails when something required is missing.

        Example::

            %fairing_doctor --kind tfjob
        """
        from fairing_magics.base_image import base_image_findings
        from fairing_magics.kube.preflight import (
            check_cluster,
            format_findings,
            require_ok,
        )

        args = _parse(self.fairing_doctor, line)
        settings = self.snapshot()
        findings = base_image_findings(settings.base_image, settings.registry,
                                       insecure_registries=settings.insecure_registries)
        print(format_findings(findings))
        _, access = self._cluster_access(settings)
        cluster = check_cluster(access, args.kind, args.namespace or settings.namespace or None,
                                runtime_ref=args.runtime_ref)
        print(format_findings(cluster))
        require_ok([*findings, *cluster])


def _notebook_flags() -> None:
    """``%fairing_notebook`` takes the notebook flags and every ``%%fairing_train`` flag; its
    help (``%fairing_notebook?``) lists them."""
    from fairing_magics.notebook.flags import notebook_parser

    function = FairingMagics.fairing_notebook
    function.parser = notebook_parser("%fairing_notebook", FairingMagics.fairing_train.parser)
    function.__doc__ = (function.__doc__ or "") + "\n" + function.parser.format_help()


_notebook_flags()
