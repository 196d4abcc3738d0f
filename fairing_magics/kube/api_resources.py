"""The Kubernetes API resources fairing-magics uses: where each lives, and who provides it.

An :class:`ApiResource` is one resource type of the API (group, version, plural, kind). It gives
the URL path of its objects (:meth:`ApiResource.path`, what :mod:`.client` sends), the
``apiVersion`` its objects carry, and the ``plural.group`` name that RBAC rules and kubectl use
(:mod:`.errors` writes them into messages). A custom resource says who installs it, so a missing
CRD can be named with the operator to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class ApiResource:
    """One Kubernetes API resource: where it lives and what provides it (for messages)."""

    group: str
    version: str
    plural: str
    kind: str
    #: Who installs it when it is a custom resource (None for built-in resources).
    provided_by: str | None = None

    @property
    def api_version(self) -> str:
        """``apiVersion`` of its objects: ``v1``, ``batch/v1``, ``kubeflow.org/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` as kubectl and RBAC errors write it: ``tfjobs.kubeflow.org``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def is_custom(self) -> bool:
        """True for resources a CRD defines (they may be missing from a cluster)."""
        return self.provided_by is not None

    @property
    def group_path(self) -> str:
        """The URL path of its API group and version: ``/api/v1``, ``/apis/batch/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str = "", name: str = "") -> str:
        """The URL path of its objects in ``namespace`` (none: cluster-wide or cluster-scoped),
        or of the object ``name``: ``/apis/batch/v1/namespaces/team/jobs/train-a1b2c3``."""
        where = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
        what = f"/{quote(name, safe='')}" if name else ""
        return f"{self.group_path}{where}/{self.plural}{what}"


POD = ApiResource("", "v1", "pods", "Pod")
SERVICE = ApiResource("", "v1", "services", "Service")
EVENT = ApiResource("", "v1", "events", "Event")
NODE = ApiResource("", "v1", "nodes", "Node")
SERVICE_ACCOUNT = ApiResource("", "v1", "serviceaccounts", "ServiceAccount")
JOB = ApiResource("batch", "v1", "jobs", "Job")
CRONJOB = ApiResource("batch", "v1", "cronjobs", "CronJob")
DEPLOYMENT = ApiResource("apps", "v1", "deployments", "Deployment")
SELF_SUBJECT_ACCESS_REVIEW = ApiResource("authorization.k8s.io", "v1",
                                         "selfsubjectaccessreviews", "SelfSubjectAccessReview")
CUSTOM_RESOURCE_DEFINITION = ApiResource("apiextensions.k8s.io", "v1",
                                         "customresourcedefinitions", "CustomResourceDefinition")
TFJOB = ApiResource("kubeflow.org", "v1", "tfjobs", "TFJob",
                    provided_by="the Kubeflow training operator")
PYTORCHJOB = ApiResource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob",
                         provided_by="the Kubeflow training operator")
TRAINJOB = ApiResource("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob",
                       provided_by="Kubeflow Trainer v2")
CLUSTER_TRAINING_RUNTIME = ApiResource("trainer.kubeflow.org", "v1alpha1",
                                       "clustertrainingruntimes", "ClusterTrainingRuntime",
                                       provided_by="Kubeflow Trainer v2")
TRAINING_RUNTIME = ApiResource("trainer.kubeflow.org", "v1alpha1", "trainingruntimes",
                               "TrainingRuntime", provided_by="Kubeflow Trainer v2")
EXPERIMENT = ApiResource("kubeflow.org", "v1beta1", "experiments", "Experiment",
                         provided_by="Katib")
TRIAL = ApiResource("kubeflow.org", "v1beta1", "trials", "Trial", provided_by="Katib")
INFERENCESERVICE = ApiResource("serving.kserve.io", "v1beta1", "inferenceservices",
                               "InferenceService", provided_by="KServe")

#: The resource of each ``--kind`` (and of the serving objects), by the name users type.
API_RESOURCES: dict[str, ApiResource] = {
    "job": JOB, "cronjob": CRONJOB, "tfjob": TFJOB, "pytorchjob": PYTORCHJOB, "trainjob": TRAINJOB,
    "deployment": DEPLOYMENT,
    "service": SERVICE, "inferenceservice": INFERENCESERVICE, "pod": POD,
    "experiment": EXPERIMENT,
}

TRAINING_KINDS = ("job", "tfjob", "pytorchjob", "trainjob")
