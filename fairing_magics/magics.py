"""The magics, and what only a magic does: read the notebook (its namespace and input history)
and show panels and values in the cell.

``%fairing_config``, ``%%fairing_train``, ``%%fairing_sweep``, ``%fairing_notebook``,
``%fairing_deploy``, ``%fairing_undeploy``, ``%fairing_jobs``, ``%fairing_logs``,
``%fairing_cancel``, ``%fairing_debug`` and ``%fairing_doctor`` each parse their flags
(:mod:`fairing_magics.magic_flags`), call one function (of :mod:`~fairing_magics.pipeline`,
:mod:`~fairing_magics.notebook.job`, :mod:`~fairing_magics.runs`, :mod:`~fairing_magics.deploy`,
:mod:`~fairing_magics.postmortem`, :mod:`~fairing_magics.doctor`,
:mod:`~fairing_magics.sweep.launch`) and show what it returns;
none asks which backend it runs on. Bad flags raise ``UsageError`` and every
:class:`~fairing_magics.errors.FairingError` is shown as one clear message; both fail the cell,
so papermill, nbclient and CI see the failure. IPython is known here, in
:mod:`~fairing_magics.magic_flags` and in :mod:`~fairing_magics.completion`, and nowhere else.
"""

from __future__ import annotations

import contextlib
import html
import sys
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import TraitError

from fairing_magics import pipeline, runs
from fairing_magics.capture.origin import remember_cell
from fairing_magics.config import CONFIG_FLAGS, FairingSettings
from fairing_magics.doctor import doctor
from fairing_magics.errors import JobFailed
from fairing_magics.magic_flags import (
    config_flags,
    environment_in_doc,
    flags_of,
    parse_flags,
    train_flags,
)
from fairing_magics.notebook.flags import add_notebook_flags, mend_notebook_args
from fairing_magics.run import RunBook
from fairing_magics.sweep.options import NOT_FOR_SWEEPS, SWEEP_WORDS
from fairing_magics.train_request import merge_request, options_from_args


@magics_class
class FairingMagics(Magics, FairingSettings):
    """Notebook cell -> training job -> prediction endpoint. Settings: ``%fairing_config``."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.runs = RunBook()
        self._shown: list = []  # panels displayed by the running cell

    # -- %fairing_config ----------------------------------------------------------------
    @magic_arguments()
    @config_flags
    @argument("--show", action="store_true", help="print the settings (the default with no flags)")
    @environment_in_doc
    @line_magic
    def fairing_config(self, line=""):
        """Show or change fairing settings.

        Every setting also comes from ``%config FairingMagics.<name> = value`` and from the
        environment: {environment}.

        The dependency layer is installed from --index-url, else from the index-url pip is
        configured with (PIP_INDEX_URL, pip.conf), else PyPI; pip's extra-index-url is not
        adopted (name extras with --extra-index-url).

        Example::

            %fairing_config --registry 127.0.0.1:5000/me --backend local
            %fairing_config --index-url https://pypi.tuna.tsinghua.edu.cn/simple
        """
        args = parse_flags(self.fairing_config, line)
        for spec in CONFIG_FLAGS:
            given = getattr(args, spec.dest)
            if given is None:
                continue
            try:
                setattr(self, spec.name, spec.from_flag(given, getattr(self, spec.name)))
            except TraitError as exc:
                why = f"is not one of: {', '.join(spec.choices)}" if spec.choices else str(exc)
                raise UsageError(f"{spec.flag} {given!r} {why}") from None
        print(self.snapshot().describe())

    # -- %%fairing_train ----------------------------------------------------------------
    @magic_arguments(name="%fairing_train")  # help and errors say %%fairing_train: a cell magic
    @train_flags()
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
        args = parse_flags(self.fairing_train, line)
        settings = self.snapshot()
        request = merge_request(options_from_args(args), settings)
        namespace = self.shell.user_ns
        history = list(self.shell.history_manager.input_hist_raw[1:])
        if request.dry_run:
            print(pipeline.plan_train(cell, namespace, history, request, cwd=Path.cwd()))
            return None
        with self._refreshing():
            if request.image_only:
                print(pipeline.publish_only(cell, namespace, history, request,
                                            self._images(settings), cwd=Path.cwd(),
                                            show=self._show_view))
                return None
            # The job runs the cell under the name IPython gives it here: say so to IPython, so
            # its frames read "Cell In[N], line L" in this kernel (%fairing_debug, run.error.frames)
            remember_cell(self.shell, cell)
            run = pipeline.train(cell, namespace, history, request, self.runs, cwd=Path.cwd(),
                                 show=self._show_view, images=self._images(settings))
            if not request.wait:
                return self._value_shown_above(run)
            try:
                self._follow(run, settings.on_interrupt)
            except JobFailed as exc:
                # the panel's log (or the text view) showed it: once is enough
                exc.shown_in_log = True
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
        """The kernel's ImageService (remembers bases, tokens and pushed blobs), made on first
        use."""
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
    @train_flags(without=NOT_FOR_SWEEPS, change=SWEEP_WORDS)
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

            %%fairing_sweep --param C=loguniform:1e-3:1e2 --param kernel=choice:rbf,linear \
--objective accuracy --goal maximize --trials 20 --parallel 4 --outputs model
            model = SVC(C=C, kernel=kernel).fit(x_train, y_train)
            print(f"accuracy={model.score(x_test, y_test)}")
        """
        from fairing_magics.sweep.launch import plan_sweep, start_sweep
        from fairing_magics.sweep.options import SweepOptions
        from fairing_magics.sweep.space import parse_space

        args = parse_flags(self.fairing_sweep, line)
        if not args.objective:
            raise UsageError("--objective METRIC is required: the metric each trial prints as "
                             "METRIC=<number>, e.g. --objective val_loss")
        settings = self.snapshot()
        # --cache is no sweep flag, and the setting does not reach the trials either
        train = merge_request(options_from_args(args, cache="off"), settings)
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
                                images=self._images(settings))
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
    @argument("--backend", default="", help="local (a subprocess), docker (a container of the "
              "image a cluster would run) or kubernetes; default: %%fairing_config's")
    @argument("--from-run", default=None, metavar="RUN",
              help="serve the model a run stored (its only output, or 'model')")
    @argument("--predictor", default=None, metavar="FUNC_OR_CLASS",
              help="variable holding predict(model, x), or a class with "
                   "preprocess/predict/postprocess")
    @argument("--replicas", type=int, default=1, help="kubernetes: serving pods")
    @argument("--kserve", action="store_true", help="kubernetes: a KServe InferenceService "
              "instead of a Deployment and a Service")
    @argument("--runtime", default="", metavar="sklearn|xgboost",
              help="kubernetes --kserve: serve with KServe's stock runtime for this model format "
                   "from a storageUri (the model is saved in that format under --storage "
                   "s3://...); default: our predictor image")
    @argument("--expose", default="clusterip", metavar="clusterip|nodeport|loadbalancer",
              help="kubernetes: how the Service is reached (a LoadBalancer's hostname or IP is "
                   "used)")
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

        args = parse_flags(self.fairing_deploy, line)
        settings = self.snapshot()
        namespace = self.shell.user_ns
        model = None
        if args.model is not None:
            if args.model in namespace:
                model = namespace[args.model]
            elif "://" in args.model or args.model.endswith(".pkl"):
                model = args.model
            else:
                raise UsageError(f"there is no variable {args.model!r}: name the variable holding "
                                 "the model, an s3:// URI, or use --from-run RUN")
        elif not args.from_run:
            raise UsageError("name the model to deploy (%fairing_deploy model --name NAME) or give "
                             "--from-run RUN")
        predictor = None
        if args.predictor:
            if args.predictor not in namespace:
                raise UsageError(f"--predictor {args.predictor!r}: there is no such variable")
            predictor = namespace[args.predictor]
        source = (args.model if args.model and args.model.isidentifier()
                  else (args.from_run or "model"))
        name = args.name or sanitize_name(source.replace("_", "-"), fallback="model")
        options = dict(name=name, backend=args.backend, settings=settings, predictor=predictor,
                       from_run=args.from_run, replicas=args.replicas, kserve=args.kserve,
                       runtime=args.runtime, expose=args.expose, cpu=args.cpu, memory=args.memory)
        if args.dry_run:
            print(plan_deploy(model, **options))
            return None
        with self._refreshing():
            return deploy(model, timeout=args.timeout, show=self._show_view,
                          images=self._images(settings), **options)

    @magic_arguments()
    @argument("name", help="endpoint name")
    @argument("--backend", default="",
              help="where an endpoint of an earlier kernel runs (kubernetes or docker)")
    @line_magic
    def fairing_undeploy(self, line=""):
        """Remove an endpoint: stop its server or container, or delete its Kubernetes objects and
        pods.

        Endpoints of this kernel are known by name; on Kubernetes, one made by an earlier kernel
        is found by its name in the configured namespace; with ``--backend docker``, its container
        by the label ``fairing.endpoint=NAME``.

        Example::

            %fairing_undeploy linreg
        """
        from fairing_magics.deploy import undeploy

        args = parse_flags(self.fairing_undeploy, line)
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
        args = parse_flags(self.fairing_jobs, line)
        if args.limit < 1:
            raise UsageError(f"--limit {args.limit}: give a number of runs of 1 or more")
        print(runs.jobs_table(self.runs, self.snapshot(), every=args.all, limit=args.limit))

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
        args = parse_flags(self.fairing_logs, line)
        run = self.runs.get(args.name)
        if run is None:
            found = runs.reattach_or_log(args.name, self.snapshot(), self.runs,
                                         show=self._show_view)
            if isinstance(found, str):
                sys.stdout.write(found)
                return None
            return self._follow_attached(found)
        if run.done:
            sys.stdout.write(run.logs() + runs.display_lines(run.folder))
            return None
        from fairing_magics.ui.textview import TextView

        view = TextView(title=run.name, stream=sys.stdout)
        sys.stdout.write(run.attach(view.handle))
        try:
            while not run.wait_done(0.1):
                pass
        except KeyboardInterrupt:
            print(f"[fairing] stopped following {run.name}; it goes on "
                  f"(%fairing_cancel {run.name} stops it)")
        finally:
            run.unsubscribe(view.handle)
        return None

    def _follow_attached(self, run):
        """Wait for a run reattached to (its panel is shown): an interrupt detaches again."""
        try:
            self._follow(run, "detach")
        except JobFailed as exc:
            exc.shown_in_log = True  # the panel's log (or the text view) showed it: once is enough
            raise
        run.suppress_next_display = True
        return run

    @magic_arguments()
    @argument("name", help="run name (or the --name it was started with: the latest such run)")
    @line_magic
    def fairing_cancel(self, line=""):
        """Stop a run: one of this kernel, or any recorded under FAIRING_HOME or the storage
        (from a new kernel too): a local run's process is ended (its kernel, if alive, reports it
        Cancelled), a cluster run's job and pods are deleted, a docker run's container stopped. A
        scheduled notebook's name removes the schedule: its CronJob, with its Jobs and pods.

        A local sweep (from another kernel of this machine too) stops launching trials, its
        running trials are ended and it ends Cancelled in its own kernel, saying who cancelled
        it; its kernel is never stopped (gone: the sweep is Lost and its trials are ended). A
        trial's full name (``tune-ab12cd-3``) cancels that trial alone; the sweep goes on. A
        cluster sweep's Experiment is deleted with its trials.

        Example::

            %fairing_cancel linreg-a1b2c3
            %fairing_cancel tune-ab12cd
        """
        args = parse_flags(self.fairing_cancel, line)
        print(runs.cancel(args.name, self.runs, self.snapshot()))

    # -- %fairing_notebook / %fairing_debug -------------------------------------------------
    @magic_arguments()
    @flags_of(add_notebook_flags)
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
        The flags of ``%%fairing_train`` are taken too (``--cache`` included; not
        ``--image-only``).

        Example::

            %fairing_notebook train.ipynb -p alpha=0.5 -p epochs=20
            %fairing_notebook report.ipynb --backend kubernetes --schedule '0 6 * * *'
        """
        from fairing_magics.notebook import job
        from fairing_magics.notebook.source import parse_parameters

        # shell words: -p label='nightly run' is one parameter, as in a terminal
        args = mend_notebook_args(parse_flags(self.fairing_notebook, line, shell_words=True))
        if not args.notebook:
            raise UsageError("name the notebook to run: %fairing_notebook NOTEBOOK.ipynb "
                             "[-p NAME=VALUE]... [--schedule CRON] [train flags]")
        settings = self.snapshot()
        request = merge_request(options_from_args(args), settings)
        parameters = parse_parameters(args.parameter)
        if request.dry_run:
            print(job.plan_notebook(args.notebook, parameters, request, cwd=Path.cwd(),
                                    schedule=args.schedule))
            return None
        if args.schedule:
            scheduled = job.schedule_notebook(args.notebook, parameters, request,
                                              schedule=args.schedule, cwd=Path.cwd(),
                                              images=self._images(settings), show=self._show_view)
            print(f"[fairing] {scheduled.describe()}")
            return scheduled
        run = job.submit_notebook(args.notebook, parameters, request, self.runs, cwd=Path.cwd(),
                                  show=self._show_view, images=self._images(settings))
        run.suppress_next_display = True
        if not request.wait:
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
        from fairing_magics.postmortem import failed_run_frames

        args = parse_flags(self.fairing_debug, line)
        frames, name = failed_run_frames(args.run, self.runs, self.snapshot())
        if args.frame is not None and not 0 <= args.frame < len(frames):
            raise UsageError(f"--frame {args.frame}: run {name} saved frames 0 to "
                             f"{len(frames) - 1}")
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
        args = parse_flags(self.fairing_doctor, line)
        doctor(self.snapshot(), kind=args.kind, namespace=args.namespace,
               runtime_ref=args.runtime_ref)
