"""Labels and annotations: the ones we put on what we make, and the ones controllers add.

Ours let a kernel find its runs and endpoints again after a restart, with no memory of its own:
``app.kubernetes.io/managed-by: fairing-magics``, ``fairing.dev/run: <object name>``,
``fairing.dev/name: <--name>``, ``fairing.dev/kind``, ``fairing.dev/endpoint`` and
``fairing.dev/capture-digest`` (the digest shortened to fit a label; the full digest is in the
annotation of the same name).

The controllers' tell us which pod is which replica: the Kubeflow training operator's
``training.kubeflow.org/replica-type`` and ``-index``; JobSet's (a Kubeflow Trainer TrainJob
runs as a JobSet named like it) ``jobset.sigs.k8s.io/jobset-name``, ``replicatedjob-name`` and
``job-index``; the Job controller's completion index (a TrainJob node's rank); KServe's
``serving.kserve.io/inferenceservice``.
"""

from __future__ import annotations

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "fairing-magics"
LABEL_RUN = "fairing.dev/run"
LABEL_NAME = "fairing.dev/name"
LABEL_KIND = "fairing.dev/kind"
LABEL_ENDPOINT = "fairing.dev/endpoint"
LABEL_DIGEST = "fairing.dev/capture-digest"
ANNOTATION_DIGEST = "fairing.dev/capture-digest"
#: A sweep's name, on its Katib Experiment and on every trial's job and pods.
LABEL_SWEEP = "fairing.dev/sweep"
#: Istio reads the label (newer releases) or the annotation (older); we set both alike.
ISTIO_INJECT = "sidecar.istio.io/inject"

#: Selects every object fairing-magics made (``%fairing_jobs`` adds its own filters).
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"

#: The training operator's replica labels (newer name first).
REPLICA_TYPE_LABELS = ("training.kubeflow.org/replica-type", "replica-type")
REPLICA_INDEX_LABELS = ("training.kubeflow.org/replica-index", "replica-index")
#: Labels JobSet and the Job controller put on every pod of a TrainJob.
LABEL_JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
LABEL_REPLICATED_JOB = "jobset.sigs.k8s.io/replicatedjob-name"
LABEL_JOB_INDEX = "jobset.sigs.k8s.io/job-index"
LABEL_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
LABEL_ANCESTOR_STEP = "trainer.kubeflow.org/trainjob-ancestor-step"
#: KServe's label on the pods of an InferenceService.
LABEL_INFERENCESERVICE = "serving.kserve.io/inferenceservice"


def run_selector(name: str) -> str:
    """Label selector for the objects and pods of one run (its object name)."""
    return f"{LABEL_RUN}={name}"


def trainjob_pod_selector(name: str) -> str:
    """Label selector for every pod of TrainJob ``name`` (JobSet's label; the JobSet has the
    TrainJob's name)."""
    return f"{LABEL_JOBSET_NAME}={name}"


def endpoint_pod_selector(name: str, *, kserve: bool) -> str:
    """Label selector for the pods of endpoint ``name``: KServe's label on an InferenceService's
    pods, ours on a Deployment's."""
    return f"{LABEL_INFERENCESERVICE}={name}" if kserve else f"{LABEL_ENDPOINT}={name}"
