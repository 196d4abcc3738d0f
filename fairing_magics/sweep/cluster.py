"""The Kubernetes sweep: a Katib Experiment, followed until it ends.

:meth:`KatibSweeper.check` (before anything is captured or built): the cluster answers, Katib is
installed (its ``experiments.kubeflow.org``, asked of API discovery) and we may create
Experiments. :meth:`KatibSweeper.start` creates the Experiment of :mod:`.katib` (stage
``submit``, ``fieldValidation=Strict`` where the server takes it, as every create) and follows it
from a thread of its own:

- every second it reads the Experiment and its Trials (Katib's label
  ``katib.kubeflow.org/experiment``); each new Trial becomes a trial of the sweep, its parameters
  from ``spec.parameterAssignments``, and once Katib has made its job, a
  :class:`~fairing_magics.backends.kubernetes.monitor.RunMonitor` follows the job's pods and
  every container's log (the StdOut collector's sidecar, which prints the training log on a real
  cluster, included) into the trial's run, which ends as a ``%%fairing_train`` run does (the
  cell's exception from its ``error.json`` in the run storage);
- a Trial's status and objective are Katib's: its conditions (``Succeeded``, ``Failed``,
  ``MetricsUnavailable``, ``EarlyStopped``, ``Killed``) and ``status.observation`` (the objective
  by the Experiment's metric strategy);
- when the Experiment has a final condition and every trial's log has been read, the sweep ends:
  Succeeded with the best trial's ``--outputs`` read back from the run storage, or Failed with
  Katib's reason and the first trial's problem.

``sweep.cancel()`` (the Cancel button, a kernel interrupt that cancels, ``%fairing_cancel``)
deletes the Experiment with foreground propagation: Katib's Trials and their jobs and pods go
with it (they are its dependents).
"""

from __future__ import annotations

import threading
import time

from fairing_magics import events as ev
from fairing_magics.errors import ClusterError, JobFailed, RunCancelled
from fairing_magics.kube import status as st
from fairing_magics.kube.api_resources import API_RESOURCES, EXPERIMENT, TRIAL
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.manifests import to_yaml
from fairing_magics.kube.preflight import check_crd, check_permission, require_ok
from fairing_magics.run import CHILD_RUNS, Run
from fairing_magics.sweep import trial as tr
from fairing_magics.sweep.katib import (
    LABEL_KATIB_EXPERIMENT,
    assignments_of,
    metrics_of,
    objective_of,
    render_experiment,
)
from fairing_magics.sweep.options import MAX_SWEEP_NAME, SweepOptions
from fairing_magics.sweep.sweep import Sweep

POLL_SECONDS = 1.0
DRAIN_SECONDS = 30.0
#: Katib's Trial conditions, final ones first (the first true one is the trial's status).
_TRIAL_CONDITIONS = (tr.SUCCEEDED, tr.FAILED, tr.METRICS_UNAVAILABLE, tr.EARLY_STOPPED, tr.KILLED,
                     tr.RUNNING)


def _backend():
    from fairing_magics.backends.kubernetes.backend import KubernetesBackend

    return KubernetesBackend()


def katib_trial_status(trial: dict) -> tuple[str, str]:
    """``(status, message)`` of a Katib Trial from its true conditions."""
    true = st.conditions_true(trial)
    for name in _TRIAL_CONDITIONS:
        if name in true:
            return name, true[name].get("message") or ""
    return tr.PENDING, ""


class KatibSweeper:
    """Runs ``sweep`` as a Katib Experiment (see the module docstring)."""

    def __init__(self, sweep: Sweep, options: SweepOptions, settings, *, access=None,
                 poll_seconds: float = POLL_SECONDS):
        self.sweep, self.options, self.settings = sweep, options, settings
        self.backend = _backend()
        if access is not None:
            self.backend._access = access
        self.access = self.backend.access_for(options.train)
        self.namespace = options.train.namespace or self.access.namespace
        self.client = ClusterClient(self.access)
        self.poll_seconds = poll_seconds
        self.resource = API_RESOURCES[options.train.kind]
        self.cancelled = threading.Event()
        self._known: dict[str, dict] = {}  # trial name -> {"monitor", "run"}

    @staticmethod
    def check(options: SweepOptions, settings) -> None:
        """Katib is installed and we may create Experiments (before anything is built)."""
        backend = _backend()
        access = backend.access_for(options.train)
        namespace = options.train.namespace or access.namespace
        crd = check_crd(access, EXPERIMENT)
        if not crd.ok:
            raise ClusterError(f"{crd.message}. A sweep on Kubernetes is a Katib Experiment: "
                               "install Katib, or run the sweep with --backend local")
        require_ok([check_permission(access, "create", EXPERIMENT, namespace)])

    # -- start ----------------------------------------------------------------------------
    def start(self, image: str, capture_digest: str) -> None:
        sweep = self.sweep
        spec = render_experiment(self.options, name=sweep.name, image=image,
                                 capture_digest=capture_digest, namespace=self.namespace)
        sweep.set_output_loader(self._load_outputs)
        with ev.stage(sweep.emit, "submit") as step:
            self.client.create(EXPERIMENT, spec, namespace=self.namespace,
                               notice=lambda text: sweep.emit(ev.Notice(text, "warning")))
            step.detail = f"Experiment {self.namespace}/{sweep.name}"
        sweep.set_canceller(self.cancel)
        sweep.emit(ev.Notice(f"submitted Katib Experiment {sweep.name} in namespace "
                             f"{self.namespace} ({spec['spec']['algorithm']['algorithmName']}, "
                             f"{spec['spec']['maxTrialCount']} trials); stop it with "
                             f"%fairing_cancel {sweep.name}"))
        threading.Thread(target=self._follow_safely, name=f"fairing-experiment-{sweep.name}",
                         daemon=True).start()

    def cancel(self) -> None:
        """Delete the Experiment (its Trials, jobs and pods go first); the sweep ends Cancelled."""
        self.cancelled.set()
        self.client.delete(EXPERIMENT, self.sweep.name, namespace=self.namespace,
                           propagation="Foreground")

    # -- following ------------------------------------------------------------------------
    def _follow_safely(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # noqa: BLE001 - the sweep must end, whatever broke
            self.sweep.finish(ev.FAILED, f"lost track of the Experiment: {type(exc).__name__}: "
                                         f"{exc}",
                              error=JobFailed(f"sweep {self.sweep.name}: lost track of its "
                                              f"Experiment: {type(exc).__name__}: {exc}"))

    def _follow(self) -> None:
        sweep = self.sweep
        started = time.perf_counter()
        sweep.emit(ev.StageChanged("run", "running"))
        sweep.emit(ev.PhaseChanged(ev.RUNNING, f"Experiment {sweep.name}"))
        finished_at = None
        while True:
            experiment = self.client.get(EXPERIMENT, sweep.name, namespace=self.namespace,
                                         missing_ok=True)
            if experiment is None:
                self._end_trials()
                self._finish_cancelled(started)
                return
            listing = self.client.list(TRIAL, namespace=self.namespace,
                                       label_selector=f"{LABEL_KATIB_EXPERIMENT}={sweep.name}")
            trials = sorted((listing or {}).get("items") or [],
                            key=lambda t: (t["metadata"].get("creationTimestamp") or "",
                                           t["metadata"]["name"]))
            for trial in trials:
                self._sync(trial)
            status = st.job_status(experiment)
            if status.done:
                finished_at = finished_at or time.monotonic()
                drained = all(entry["run"].done or entry["monitor"] is None
                              for entry in self._known.values())
                if drained or time.monotonic() - finished_at > DRAIN_SECONDS:
                    self._end_trials()
                    self._finish(status, started)
                    return
            time.sleep(self.poll_seconds)

    def _sync(self, trial: dict) -> None:
        name = trial["metadata"]["name"]
        entry = self._known.get(name)
        sweep = self.sweep
        if entry is None:
            params = self.options.space.convert(assignments_of(trial))
            run = Run(name, "kubernetes", sweep.folder / CHILD_RUNS / name, stages=("run",),
                      where={"namespace": self.namespace, "kind": self.options.train.kind,
                             **({"storage": self.settings.storage} if self.settings.storage
                                else {})})
            entry = self._known[name] = {"run": run, "monitor": None,
                                         "trial": tr.Trial(len(self._known) + 1, name, params)}
            sweep.add_trial(entry["trial"], run)
        if entry["monitor"] is None and not self.cancelled.is_set():
            job = self.client.get(self.resource, name, namespace=self.namespace, missing_ok=True)
            if job is not None:
                entry["monitor"] = self._monitor(entry["run"])
        status, message = katib_trial_status(trial)
        current: tr.Trial = entry["trial"]
        value = objective_of(trial, self.options.objective, self.options.goal)
        metrics = metrics_of(trial)
        label = f"trial {current.number} ({name})"
        if status == tr.METRICS_UNAVAILABLE:
            message = tr.missing_objective_message(label, self.options.objective)
        elif status == tr.FAILED:
            run = entry["run"]
            if run.done and run.error is not None:
                message = f"{label} failed: {str(run.error).splitlines()[0]}"
            else:
                message = f"{label} failed: {message or 'its job failed'}"
        elif status == tr.EARLY_STOPPED:
            message = message or "stopped early by Katib's median rule"
        now = time.time()
        updated = current.with_(
            status=status, value=value, metrics=metrics, message=message,
            started=current.started or (now if status != tr.PENDING else None),
            finished=current.finished or (now if status in tr.FINAL else None))
        if updated != current:
            entry["trial"] = updated
            sweep.update_trial(updated)

    def _monitor(self, run: Run):
        from fairing_magics.backends.kubernetes.backend import finish_run
        from fairing_magics.backends.kubernetes.monitor import RunMonitor

        settings, resource = self.settings, self.resource

        def done(phase, status, pods, problem):
            finish_run(run, phase, status, pods, problem, settings=settings, resource=resource,
                       timeout=self.options.train.timeout, started=monitor.started)

        monitor = RunMonitor(self.access, self.namespace, resource, run.name, run, on_done=done,
                             image_pull_grace=self.backend.image_pull_grace,
                             poll_seconds=max(0.5, self.poll_seconds / 2))
        run.set_canceller(monitor.cancel)
        monitor.start()
        return monitor

    def _end_trials(self) -> None:
        """Trials still open when the Experiment ended or went: Killed."""
        for entry in self._known.values():
            trial: tr.Trial = entry["trial"]
            if not trial.done:
                entry["trial"] = trial.with_(status=tr.KILLED, finished=time.time(),
                                             message="stopped: the Experiment ended or was deleted")
                self.sweep.update_trial(entry["trial"])
            run: Run = entry["run"]
            if not run.done and entry["monitor"] is None:
                run.finish(ev.CANCELLED, "its Experiment ended before its job started")

    def _load_outputs(self, run: Run) -> dict:
        from fairing_magics.backends.kubernetes.backend import read_run_file

        data = read_run_file(self.settings, run.name, "outputs.pkl")
        if data is None:
            return {}
        import cloudpickle

        return cloudpickle.loads(data)

    def _finish_cancelled(self, started: float) -> None:
        sweep = self.sweep
        summary = sweep.summary_text()
        by = "" if self.cancelled.is_set() else " outside this notebook (kubectl delete, or " \
                                                 "%fairing_cancel in another kernel)"
        sweep.emit(ev.StageChanged("run", "failed", time.perf_counter() - started))
        sweep.finish(ev.CANCELLED, f"cancelled; {summary}",
                     error=RunCancelled(f"sweep {sweep.name} was cancelled: its Experiment was "
                                        f"deleted{by} ({summary})", phase=ev.CANCELLED))

    def _finish(self, status: st.JobStatus, started: float) -> None:
        sweep = self.sweep
        summary = sweep.summary_text()
        seconds = time.perf_counter() - started
        best = sweep.best_trial
        if status.phase != ev.SUCCEEDED or best is None:
            why = status.message or f"no trial succeeded with a value of {self.options.objective}"
            first = next((t.message for t in sweep.trial_list() if t.message), "")
            if first:
                why += f"; the first problem: {first}"
            sweep.emit(ev.StageChanged("run", "failed", seconds))
            sweep.finish(ev.FAILED, f"failed: {why}",
                         error=JobFailed(f"sweep {sweep.name} failed ({status.reason or 'Failed'}):"
                                         f" {why}", reason="SweepFailed",
                                         last_lines=tuple(sweep.tail())))
            return
        outputs = {}
        if sweep.requested_outputs:
            run = sweep.best_run
            outputs = dict(run.outputs) if run is not None else {}
            if not outputs:
                error = JobFailed(f"sweep {sweep.name} succeeded but the outputs of its best trial "
                                  f"({best.name}: {', '.join(sweep.requested_outputs)}) are not in "
                                  f"{self.settings.storage} (runs/{best.name}/outputs.pkl)",
                                  reason="MissingOutputs")
                sweep.emit(ev.StageChanged("run", "failed", seconds))
                sweep.finish(ev.FAILED, str(error), error=error)
                return
        sweep.emit(ev.StageChanged("run", "done", seconds))
        brought = f"; outputs of trial {best.number}: {', '.join(outputs)}" if outputs else ""
        sweep.finish(ev.SUCCEEDED, f"{summary}{brought}", outputs=outputs)


def describe_experiment_plan(options: SweepOptions, settings, bundle) -> str:
    """``--dry-run`` text: where the Experiment would go and its YAML (the image by repository:
    its digest is known once it is built)."""
    from fairing_magics.backends.kubernetes.plan import DRY_RUN_SUFFIX, storage_kind
    from fairing_magics.kube.naming import unique_name

    train = options.train
    name = unique_name(train.name, suffix=DRY_RUN_SUFFIX, max_length=MAX_SWEEP_NAME)
    registry = (train.registry or "REGISTRY").rstrip("/")
    image = f"{registry}@sha256:<digest-of-the-built-image>"
    namespace = train.namespace
    spec = render_experiment(options, name=name, image=image,
                             capture_digest=bundle.digest if bundle is not None else "",
                             namespace=namespace)
    kind = spec["spec"]["trialTemplate"]["trialSpec"]["kind"]
    outputs = {"s3": "uploaded by each trial's pod to its runs/<trial>/ in the storage",
               "folder": "written through a hostPath volume to runs/<trial>/ of the storage",
               "": "not brought back (no --storage set)"}[storage_kind(settings.storage)]
    return "\n".join([
        f"Kubernetes: would create Katib Experiment {name} (a new random suffix per sweep) in "
        f"namespace {namespace or '(the context or pod namespace)'}; Katib runs each trial as a "
        f"{kind} named after the trial",
        f"Outputs and errors of each trial: {outputs}",
        "",
        to_yaml(spec).rstrip("\n"),
    ])
