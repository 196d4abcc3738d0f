"""Training runs as Kubernetes objects: a Job, a TFJob, a PyTorchJob or a TrainJob (pure).

- ``kind="job"``: a ``batch/v1`` Job running one pod (container ``train``).
- ``kind="tfjob"``: a ``kubeflow.org/v1`` TFJob with one ``Chief``, ``workers`` ``Worker``
  replicas and optionally ``parameter_servers`` ``PS`` replicas (container ``tensorflow``).
- ``kind="pytorchjob"``: a ``kubeflow.org/v1`` PyTorchJob with one ``Master`` and ``workers``
  ``Worker`` replicas (container ``pytorch``).
  The training operator finds the main container by those names, so they are not ours to choose.
- ``kind="trainjob"``: a Kubeflow Trainer v2 ``trainer.kubeflow.org/v1alpha1`` TrainJob on a
  (Cluster)TrainingRuntime (``torch-distributed`` by default) with ``workers`` nodes (at least
  one); see :mod:`.trainjob` (container ``node``, the runtime's name for it).

Every replica gets the same image, command, resources, env and volumes (:mod:`.pods`).
"""

from __future__ import annotations

from fairing_magics.kube.api_resources import JOB, PYTORCHJOB, TFJOB
from fairing_magics.kube.options import JobOptions
from fairing_magics.kube.pods import CONTAINER_NAMES, render_object, render_pod_template
from fairing_magics.kube.trainjob import RUNTIME_PATCHES, render_trainjob


def render_training(opts: JobOptions, trainjob_field: str = RUNTIME_PATCHES, *,
                    trainjob_deadline: bool = True) -> dict:
    """The spec of ``opts.kind``: :func:`render_job`, :func:`render_tfjob`,
    :func:`render_pytorchjob` or :func:`.trainjob.render_trainjob` (with the TrainJob's pod
    settings in ``trainjob_field``, the field the cluster's Trainer takes them in, and
    ``activeDeadlineSeconds`` only where it has it: ``trainjob_deadline``)."""
    if opts.kind == "trainjob":
        return render_trainjob(opts, trainjob_field, active_deadline=trainjob_deadline)
    return {"job": render_job, "tfjob": render_tfjob, "pytorchjob": render_pytorchjob}[
        opts.kind](opts)


def render_job(opts: JobOptions) -> dict:
    """A ``batch/v1`` Job: one pod, ``restartPolicy: Never``, no retries unless asked."""
    spec: dict = {"backoffLimit": opts.backoff_limit}
    if opts.timeout is not None:
        spec["activeDeadlineSeconds"] = opts.timeout
    if opts.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = opts.ttl_seconds_after_finished
    spec["template"] = render_pod_template(opts, container_name=CONTAINER_NAMES["job"])
    return render_object(JOB, opts, spec)


def render_tfjob(opts: JobOptions) -> dict:
    """A ``kubeflow.org/v1`` TFJob: ``Chief`` x1, ``Worker`` x workers, ``PS`` x parameter
    servers."""
    replicas = {"Chief": 1, "Worker": opts.workers, "PS": opts.parameter_servers}
    return render_object(TFJOB, opts, {
        "runPolicy": _run_policy(opts),
        "tfReplicaSpecs": _replica_specs(opts, replicas, CONTAINER_NAMES["tfjob"]),
    })


def render_pytorchjob(opts: JobOptions) -> dict:
    """A ``kubeflow.org/v1`` PyTorchJob: ``Master`` x1 and ``Worker`` x workers."""
    replicas = {"Master": 1, "Worker": opts.workers}
    return render_object(PYTORCHJOB, opts, {
        "runPolicy": _run_policy(opts),
        "pytorchReplicaSpecs": _replica_specs(opts, replicas, CONTAINER_NAMES["pytorchjob"]),
    })


def _run_policy(opts: JobOptions) -> dict:
    # cleanPodPolicy None keeps every replica's pod (and so its logs) until the TTL removes the
    # job; the operator's default deletes pods still running when the job ends.
    policy: dict = {"cleanPodPolicy": "None", "backoffLimit": opts.backoff_limit}
    if opts.timeout is not None:
        policy["activeDeadlineSeconds"] = opts.timeout
    if opts.ttl_seconds_after_finished is not None:
        policy["ttlSecondsAfterFinished"] = opts.ttl_seconds_after_finished
    return policy


def _replica_specs(opts: JobOptions, replicas: dict[str, int], container_name: str) -> dict:
    return {
        replica_type: {
            "replicas": count,
            "restartPolicy": "Never",
            "template": render_pod_template(opts, container_name=container_name),
        }
        for replica_type, count in replicas.items() if count
    }
