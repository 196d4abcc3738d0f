"""The Kubernetes backend: a captured cell runs as a Job, TFJob, PyTorchJob or Kubeflow Trainer
v2 TrainJob on a cluster.

``check(options, settings)`` (before anything is built): the flags make a valid spec, the
cluster can be reached with the configured context and namespace, the CRD exists for
``--kind tfjob|pytorchjob|trainjob`` (and for a TrainJob its runtime), and we may create the
object (a SelfSubjectAccessReview). Each refusal is a ClusterError that names the missing RBAC
rule or CRD (:mod:`fairing_magics.kube.preflight`).

``start(launch, run)``: renders the spec (:func:`.plan.training_spec`: the pushed image by
digest, env, resources, labels with the run and capture digest, Istio injection off unless
``istio_inject``, ``activeDeadlineSeconds`` from ``--timeout``), creates it (stage ``submit``,
with ``fieldValidation=Strict`` where the server can refuse unknown fields and its warnings as
notices: :mod:`fairing_magics.kube.fieldvalidation`) and hands the run to a
:class:`~.monitor.RunMonitor`, which follows every pod and container
(a TrainJob's pods are found by JobSet's ``jobset.sigs.k8s.io/jobset-name`` label) and ends
the run from the job's conditions. The create request is sent from a thread of its
own: a kernel interrupt or Cancel during it deletes the job, also one the API server created
just as the interrupt came. ``--no-wait`` and a detaching kernel interrupt leave the monitor
running; ``run.cancel()`` deletes the job with foreground propagation.

**Older Trainers.** A TrainJob takes the shape the cluster's CRD has (:mod:`.trainjob_api`).
Where it has no ``activeDeadlineSeconds`` (Trainer v2.0, v2.1) the monitor deletes the TrainJob
when ``--timeout`` is up, and the submit says so; where it cannot carry ``imagePullSecrets``
(v2.0) the pods' service account must carry ``--image-pull-secret``, else the run is refused.

**Outputs.** The runtime in the pod writes ``outputs.pkl`` (or ``error.json``) into
``FAIRING_OUTPUT_DIR`` (``/fairing/output``). They come back through ``--storage``:

- ``s3://bucket/prefix``: the runtime uploads the output folder to
  ``<storage>/runs/<run>/`` (``fairing_storage_upload.py``, called by the bootstrap) and the
  kernel reads it with :func:`fairing_magics.storage.storage_for`. The pod needs AWS
  credentials: IRSA / Pod Identity through ``--service-account``, or ``--aws-secret``.
- a local folder: the pod mounts ``<folder>/runs/<run>`` as a ``hostPath`` volume at
  ``/fairing/output``, and the kernel reads the same folder. This is for clusters whose nodes
  see the notebook's file system at the same path (a one-machine cluster, the emulated test
  cluster, a shared file system); it needs no ``--volume`` flag and no credentials.
- not set: the run's logs, status and exit codes still come back; ``--outputs`` is refused.

The cell's final value comes back the same way (``result.pkl``: ``run.result``). Its rich
outputs (``display()``, figures) need no storage: they come through the pods' log streams
(:mod:`fairing_magics.displays`). On a run of several replicas the chief (rank 0) sends the
displays and writes the outputs; every other replica writes into ``replicas/<replica>/``, and
with ``--outputs-from all`` sends its displays too and each output comes back as
``{replica: value}``.

On failure the error comes from ``error.json`` when it is there (the cell's exception and
remote traceback: the chief's, or else the first replica's to fail, :func:`run_error`), else
from the job's condition and the containers' exit codes, always with the last log lines.

**Reattach.** :meth:`KubernetesBackend.reattach` follows a run found by its labels (also from a
new kernel): its logs are read again from the start, then live.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import replace

import cloudpickle

from fairing_magics import events as ev
from fairing_magics.backends import Launch
from fairing_magics.backends.kubernetes.jobs import delete_run_object, find_run
from fairing_magics.backends.kubernetes.monitor import (
    CANCEL_WAIT_SECONDS,
    IMAGE_PULL_GRACE_SECONDS,
    POLL_SECONDS,
    RunMonitor,
)
from fairing_magics.backends.kubernetes.plan import (
    check_flags,
    output_folder,
    storage_kind,
    training_spec,
    with_launch_env,
)
from fairing_magics.backends.kubernetes.trainjob_api import (
    assumed_api_notice,
    deadline_notice,
    detect_trainjob_api,
    kernel_enforces_deadline,
    pod_metadata_notice,
    pull_secret_carrier,
    require_pod_settings_field,
)
from fairing_magics.displays import RESULT_FILE, load_result
from fairing_magics.errors import ConfigError, FairingTimeout, JobFailed, RunCancelled
from fairing_magics.kube import status as st
from fairing_magics.kube.access import load_cluster_access
from fairing_magics.kube.api_resources import API_RESOURCES, ApiResource
from fairing_magics.kube.client import ClusterClient
from fairing_magics.kube.preflight import check_submit, require_ok
from fairing_magics.kube.trainjob import RUNTIME_PATCHES, pod_settings
from fairing_magics.run import Run
from fairing_magics.runtime.bootstrap import REPLICAS_DIR
from fairing_magics.storage import MissingRunFile, storage_for


class KubernetesBackend:
    """Runs bundles as Kubernetes training jobs (see the module docstring)."""

    name = "kubernetes"
    stages = ("capture", "build", "push", "submit", "schedule", "pull", "run")

    def __init__(self, *, access=None, image_pull_grace: float = IMAGE_PULL_GRACE_SECONDS,
                 poll_seconds: float = POLL_SECONDS):
        self._access = access
        self.image_pull_grace = image_pull_grace
        self.poll_seconds = poll_seconds
        self.monitors: dict[str, RunMonitor] = {}

    # -- access -----------------------------------------------------------------------------
    def access_for(self, options, settings):
        """The cluster access of these flags/settings (made once per backend object)."""
        if self._access is None:
            self._access = load_cluster_access(
                context=(options.context if options else "") or settings.context or None,
                namespace=(options.namespace if options else "") or settings.namespace or None)
        return self._access

    # -- the Backend interface ----------------------------------------------------------------
    def validate(self, options, settings) -> None:
        """Refuse what needs no cluster to know (no I/O) beyond the flags themselves
        (:func:`.plan.check_flags`): ``--outputs`` with no run storage to bring them back. The
        dry run calls this too."""
        if options.outputs and not settings.storage:
            raise ConfigError(
                "--outputs on the kubernetes backend needs run storage to bring them back: "
                "%fairing_config --storage s3://BUCKET/PREFIX (or a folder the cluster's nodes "
                "share with this notebook)")

    def check(self, options, settings) -> None:
        """Refuse bad flags, a missing CRD or a missing permission before anything is built."""
        check_flags(options, settings)
        self.validate(options, settings)
        kind = (options.kind or "job").lower()
        access = self.access_for(options, settings)
        namespace = options.namespace or settings.namespace or access.namespace
        require_ok(check_submit(access, kind, namespace,
                                runtime_ref=getattr(options, "runtime_ref", "") or ""))
        if kind == "trainjob":
            api = detect_trainjob_api(access, options.context or settings.context)
            probe = training_spec(options, settings, name="check-000000", image="check",
                                  namespace="check")
            require_pod_settings_field(api, pod_settings(probe))
            pull_secret_carrier(access, api, namespace, options.service_account,
                                tuple(options.image_pull_secrets))

    def start(self, launch: Launch, run: Run) -> None:
        """Submit the run's job and start following it (returns at once)."""
        options, settings = launch.options, launch.settings
        access = self.access_for(options, settings)
        namespace = options.namespace or settings.namespace or access.namespace
        kind = (options.kind or "job").lower()
        resource = API_RESOURCES[kind]
        if options.timeout is None and launch.timeout is not None:
            options = replace(options, timeout=launch.timeout)
        options = with_launch_env(options, launch.env)
        if storage_kind(settings.storage) == "folder":
            output_folder(settings.storage, run.name).mkdir(parents=True, exist_ok=True)
        notices: list[str] = []
        trainjob_field, trainjob_deadline, deadline = RUNTIME_PATCHES, True, None
        if kind == "trainjob":
            api = detect_trainjob_api(access, options.context or settings.context)
            trainjob_field, trainjob_deadline = api.field, api.deadline
            used = pod_settings(training_spec(options, settings, name=run.name, image=launch.image,
                                              namespace=namespace))
            require_pod_settings_field(api, used)
            carried = pull_secret_carrier(access, api, namespace, options.service_account,
                                          tuple(options.image_pull_secrets))
            timeout = None if options.timeout is None else max(1, math.ceil(options.timeout))
            notices = [n for n in (assumed_api_notice(api, used, timeout),
                                   pod_metadata_notice(api, settings.istio_inject), carried,
                                   deadline_notice(api, timeout)) if n]
            if kernel_enforces_deadline(api, timeout):  # the Trainer may not stop it: we will
                deadline = float(timeout)
        spec = training_spec(options, settings, name=run.name, image=launch.image,
                             capture_digest=launch.capture_digest, namespace=namespace,
                             trainjob_field=trainjob_field, trainjob_deadline=trainjob_deadline)
        for notice in notices:
            run.emit(ev.Notice(notice))
        client = ClusterClient(access)  # fieldValidation=Strict; warnings become notices
        with ev.stage(run.emit, "submit") as step:
            submission = _Submission(
                lambda: client.create(resource, spec, namespace=namespace,
                                      notice=lambda text: run.emit(ev.Notice(text, "warning"))),
                lambda: delete_run_object(access, namespace, resource, run.name))
            run.set_canceller(submission.cancel)  # an interrupt or Cancel now deletes it
            submission.wait()
            if submission.cancelled:  # the Cancel button, pressed while the request was out
                raise RunCancelled(f"run {run.name} was cancelled while it was submitted; its "
                                   f"{resource.kind} was deleted", phase=ev.CANCELLED)
            step.detail = f"{resource.kind} {namespace}/{run.name}"
        run.emit(ev.Notice(f"submitted {resource.kind} {run.name} in namespace {namespace}; "
                           f"reattach with %fairing_logs {run.name}, stop with "
                           f"%fairing_cancel {run.name}"))
        self._follow(access, namespace, resource, run, settings, launch.timeout, deadline)

    def reattach(self, name: str, run: Run, settings, *, namespace: str | None = None,
                 options=None) -> RunMonitor:
        """Follow the existing run ``name`` (found by its labels) into ``run``."""
        access = self.access_for(options, settings)
        info = find_run(access, name, namespace or settings.namespace or None)
        run.emit(ev.Notice(f"reattached to {info.resource.kind} {info.name} ({info.phase})"))
        return self._follow(access, info.namespace or access.namespace, info.resource, run,
                            settings, None)

    # -- following ---------------------------------------------------------------------------
    def _follow(self, access, namespace: str, resource: ApiResource, run: Run, settings,
                timeout: float | None, deadline: float | None = None) -> RunMonitor:
        def done(phase, status, pods, problem):
            finish_run(run, phase, status, pods, problem, settings=settings, resource=resource,
                       timeout=timeout, started=monitor.started)

        monitor = RunMonitor(access, namespace, resource, run.name, run, on_done=done,
                             image_pull_grace=self.image_pull_grace,
                             poll_seconds=self.poll_seconds, deadline=deadline)
        self.monitors[run.name] = monitor
        run.set_canceller(monitor.cancel)
        monitor.start()
        return monitor


class _Submission:
    """One create request, sent from a thread of its own so that a kernel interrupt never
    abandons it half-way: the request that reached the API server may still create the job.

    :meth:`wait` (the kernel's thread) returns when the create has been answered, raising its
    error; a KeyboardInterrupt there leaves the request running. :meth:`cancel` (the run's
    canceller while submitting) waits for the answer, then deletes the job if it was created;
    when the answer takes longer than ``CANCEL_WAIT_SECONDS`` the request's thread deletes it
    itself once it is created. Either way no job is left behind.
    """

    def __init__(self, create, delete):
        self._create, self._delete = create, delete
        self._done = threading.Event()
        self._cancelled = threading.Event()
        self._error: BaseException | None = None
        self._created = False
        threading.Thread(target=self._run, name="fairing-submit", daemon=True).start()

    def _run(self) -> None:
        try:
            self._create()
            self._created = True
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            self._error = exc
        finally:
            self._done.set()
        if self._created and self._cancelled.is_set():
            self._delete_quietly()

    def wait(self) -> None:
        while not self._done.wait(0.1):  # short waits so a kernel interrupt gets through
            pass
        if self._error is not None:
            raise self._error

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        if self._done.wait(CANCEL_WAIT_SECONDS) and self._created:
            self._delete_quietly()

    def _delete_quietly(self) -> None:
        try:
            self._delete()
        except Exception:  # noqa: BLE001 - the other side (cancel or _run) may have deleted it
            pass


# -- the end of a run ----------------------------------------------------------------------------


def read_run_file(settings, run_name: str, file_name: str) -> bytes | None:
    """A file of the run's output folder from ``--storage`` (None when absent or no storage)."""
    if not settings.storage:
        return None
    try:
        return storage_for(settings.storage).read_bytes(run_name, file_name)
    except MissingRunFile:
        return None


def replica_files(settings, run_name: str, file_name: str) -> dict[str, bytes]:
    """``{replica: bytes}`` of ``replicas/<replica>/<file_name>`` in the run's output folder: what
    each replica of a distributed run wrote for itself (the bootstrap's layout)."""
    if not settings.storage:
        return {}
    storage = storage_for(settings.storage)
    found = {}
    for name in storage.list_files(run_name, REPLICAS_DIR):
        parts = name.split("/")
        if len(parts) == 3 and parts[2] == file_name:
            data = read_run_file(settings, run_name, name)
            if data is not None:
                found[parts[1]] = data
    return found


def finish_run(run: Run, phase: str, status: st.JobStatus | None, pods: list[dict], problem: str,
               *, settings, resource: ApiResource, timeout: float | None, started: float) -> None:
    """End ``run`` from the job's final status (called once by the monitor)."""
    seconds = time.monotonic() - started
    last = tuple(run.tail())
    codes = st.failed_exit_codes(pods)
    if phase == ev.CANCELLED:
        run.emit(ev.StageChanged("run", "failed", seconds))
        run.finish(ev.CANCELLED, lambda took: f"cancelled after {took}",
                   error=RunCancelled(f"run {run.name} was cancelled: "
                                      f"{problem or f'its {resource.kind} and pods were deleted'}",
                                      phase=ev.CANCELLED, last_lines=last))
        return
    if phase == ev.SUCCEEDED:
        outputs = {}
        try:
            outputs = load_outputs(run, settings)
        except JobFailed as exc:
            run.emit(ev.StageChanged("run", "failed", seconds))
            run.finish(ev.FAILED, str(exc), error=exc)
            return
        result = load_result(read_run_file(settings, run.name, RESULT_FILE),
                             lambda text: run.emit(ev.Notice(text, "warning")))
        shown = any(d.kind == "result" for d in run.displays)
        if result is None and shown and not settings.storage:
            run.emit(ev.Notice("run.result is None: the cell's value is shown, but the value "
                               "itself comes back through run storage (%fairing_config --storage)"))
        run.emit(ev.StageChanged("run", "done", seconds))
        names = ", ".join(outputs) if outputs else "no outputs"
        run.finish(ev.SUCCEEDED, lambda took: f"succeeded in {took} ({names})", outputs=outputs,
                   result=result)
        return
    run.emit(ev.StageChanged("run", "failed", seconds))
    reason = status.reason if status else ""
    if reason == "DeadlineExceeded":
        limit = f" --timeout {timeout:g} s" if timeout else " its deadline (activeDeadlineSeconds)"
        by = (f"this kernel, which deleted its {resource.kind} (its API has no "
              "activeDeadlineSeconds)" if problem else "Kubernetes")
        run.finish(ev.TIMED_OUT, f"stopped by{limit}",
                   error=FairingTimeout(f"run {run.name} took longer than{limit} and was stopped "
                                        f"by {by}; raise --timeout or make the cell faster"))
        return
    error = failure_error(run, settings, status, codes, problem, last)
    run.finish(ev.FAILED, lambda took: f"failed after {took} ({error.reason or 'failed'})", error=error)


def load_outputs(run: Run, settings) -> dict:
    """The run's ``--outputs`` from storage (the chief's; with ``--outputs-from all`` each output
    is ``{replica: value}``); JobFailed when they should be there and are not."""
    if not run.requested_outputs:
        return {}
    if run.outputs_from == "all":
        found = replica_files(settings, run.name, "outputs.pkl")
        sets = {replica: cloudpickle.loads(data) for replica, data in sorted(found.items())}
        if not sets:
            raise JobFailed(f"run {run.name} succeeded but no replica's outputs "
                            f"({', '.join(run.requested_outputs)}) are in {settings.storage} "
                            f"(runs/{run.name}/{REPLICAS_DIR}/REPLICA/outputs.pkl)",
                            reason="MissingOutputs", last_lines=tuple(run.tail()))
        return {name: {replica: values[name] for replica, values in sets.items() if name in values}
                for name in run.requested_outputs}
    data = read_run_file(settings, run.name, "outputs.pkl")
    if data is None:
        raise JobFailed(f"run {run.name} succeeded but its outputs "
                        f"({', '.join(run.requested_outputs)}) are not in {settings.storage} "
                        f"(runs/{run.name}/outputs.pkl): check that the pod could write there "
                        "(its log says why an upload failed)", reason="MissingOutputs",
                        last_lines=tuple(run.tail()))
    return cloudpickle.loads(data)


def _json(data: bytes | None) -> dict:
    try:
        info = json.loads(data) if data else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def run_error(settings, run_name: str) -> dict:
    """The ``error.json`` that says why a run failed, the same whichever replica ended first: the
    chief's (rank 0's) when its cell failed, else the first failure of the other replicas (by
    time), else the chief's (it was stopped: ``interrupted``). Each replica writes its own (the
    bootstrap), so a replica stopped with SIGTERM when another failed never hides that failure."""
    chief = _json(read_run_file(settings, run_name, "error.json"))
    if chief.get("kind") in ("cell", "bundle"):
        return chief
    replicas = map(_json, replica_files(settings, run_name, "error.json").values())
    failures = [info for info in replicas if info.get("kind") in ("cell", "bundle")]
    if failures:
        return min(failures, key=lambda info: (float(info.get("time") or 0),
                                               info.get("replica", "")))
    return chief


def failure_error(run: Run, settings, status: st.JobStatus | None, codes: list[str],
                  problem: str, last: tuple[str, ...]) -> JobFailed:
    """The JobFailed of a failed run: the cell's exception (error.json, :func:`run_error`) or the
    job's reason."""
    info = run_error(settings, run.name)
    where = f" ({'; '.join(codes)})" if codes else ""
    tail = "\n".join(last[-10:])
    if info.get("kind") == "cell":
        on = f" on {info['replica']}" if info.get("replica") else ""
        return JobFailed(f"the cell raised {info.get('type')}: {info.get('message')}{on} (run "
                         f"{run.name}{where}; the remote traceback is above, the full log in "
                         "run.logs())", reason=info.get("type", ""), last_lines=last,
                         remote_traceback=info.get("traceback", ""))
    if info.get("kind") == "bundle":
        return JobFailed(f"run {run.name} could not start its program: {info.get('message')}",
                         reason="BundleError", last_lines=last)
    why = problem or (f"{status.reason}: {status.message}".strip(": ") if status else "failed")
    reason = status.reason if status else "Failed"
    if any("(OOMKilled)" in code for code in codes):
        where += ("; it used more memory than its limit: raise --memory (e.g. --memory 4Gi) or "
                  "use less")
    return JobFailed(f"run {run.name} failed: {why}{where}" +
                     (f"; last lines:\n{tail}" if tail else "; it printed nothing"),
                     reason=reason or "Failed", last_lines=last)
