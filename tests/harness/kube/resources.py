"""The resource types the emulated API server knows, and its discovery documents.

A :class:`ResourceType` says where a type lives (group, version, plural), whether it is
namespaced, whether it has a ``/status`` subresource, and which field selectors a real
API server accepts for it. Types behind a CustomResourceDefinition (``crd`` set) are served
only while that CRD object exists, like on a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = True
    fields: tuple[str, ...] = ()
    crd: str = ""  # name of the CRD that must exist for this type to be served
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(default=(
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``pods`` or ``jobs.batch``: how a real API server names a type in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_in_messages(self) -> str:
        """``Pod`` or ``Job.batch``: the kind as it appears in 422 messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def allows_field(self, name: str) -> bool:
        return name in _COMMON_FIELDS or name in self.fields


_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "status.phase", "status.podIP",
               "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion",
                 "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                 "reportingComponent", "source", "type")

TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, fields=("status.phase",),
                 short_names=("ns",)),
    ResourceType("", "v1", "nodes", "Node", namespaced=False, fields=("spec.unschedulable",)),
    ResourceType("", "v1", "pods", "Pod", fields=_POD_FIELDS, short_names=("po",)),
    ResourceType("", "v1", "services", "Service", short_names=("svc",)),
    ResourceType("", "v1", "events", "Event", has_status=False, fields=_EVENT_FIELDS,
                 short_names=("ev",)),
    ResourceType("", "v1", "secrets", "Secret", has_status=False, fields=("type",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", has_status=False, short_names=("cm",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", has_status=False,
                 short_names=("sa",)),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim",
                 short_names=("pvc",)),
    ResourceType("batch", "v1", "jobs", "Job", fields=("status.successful",)),
    ResourceType("batch", "v1", "cronjobs", "CronJob", short_names=("cj",)),
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",)),
    ResourceType("kubeflow.org", "v1", "tfjobs", "TFJob", crd="tfjobs.kubeflow.org"),
    ResourceType("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob", crd="pytorchjobs.kubeflow.org"),
    ResourceType("kubeflow.org", "v1beta1", "experiments", "Experiment",
                 crd="experiments.kubeflow.org"),
    ResourceType("kubeflow.org", "v1beta1", "trials", "Trial", crd="trials.kubeflow.org"),
    ResourceType("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob",
                 crd="trainjobs.trainer.kubeflow.org"),
    ResourceType("trainer.kubeflow.org", "v1alpha1", "trainingruntimes", "TrainingRuntime",
                 crd="trainingruntimes.trainer.kubeflow.org", has_status=False),
    ResourceType("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes",
                 "ClusterTrainingRuntime", namespaced=False,
                 crd="clustertrainingruntimes.trainer.kubeflow.org", has_status=False),
    ResourceType("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService",
                 crd="inferenceservices.serving.kserve.io", short_names=("isvc",)),
    ResourceType("serving.kserve.io", "v1alpha1", "servingruntimes", "ServingRuntime",
                 crd="servingruntimes.serving.kserve.io", has_status=False),
    ResourceType("serving.kserve.io", "v1alpha1", "clusterservingruntimes", "ClusterServingRuntime",
                 namespaced=False, crd="clusterservingruntimes.serving.kserve.io", has_status=False),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                 "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds")),
)

SSAR = ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                    "SelfSubjectAccessReview", namespaced=False, has_status=False,
                    verbs=("create",))

# The CRDs a Kubeflow cluster with KServe has; the emulator creates them at start.
DEFAULT_CRDS = tuple(t.crd for t in TYPES if t.crd)


def find_type(group: str, version: str, plural: str) -> ResourceType | None:
    for t in TYPES + (SSAR,):
        if (t.group, t.version, t.plural) == (group, version, plural):
            return t
    return None


def type_of_crd(crd_name: str) -> ResourceType | None:
    for t in TYPES:
        if t.crd == crd_name:
            return t
    return None


def crd_object(t: ResourceType) -> dict:
    """The CustomResourceDefinition a real cluster would hold for ``t`` (schema left open)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": t.crd},
        "spec": {
            "group": t.group,
            "scope": "Namespaced" if t.namespaced else "Cluster",
            "names": {"plural": t.plural, "singular": t.singular, "kind": t.kind,
                      "listKind": t.kind + "List", "shortNames": list(t.short_names)},
            "versions": [{"name": t.version, "served": True, "storage": True,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {
                              "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
        "status": {"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}],
            "acceptedNames": {"plural": t.plural, "kind": t.kind}},
    }


def _resource_entry(t: ResourceType) -> list[dict]:
    entries = [{"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                "kind": t.kind, "verbs": list(t.verbs), "shortNames": list(t.short_names)}]
    if t.has_status:
        entries.append({"name": t.plural + "/status", "singularName": "", "namespaced": t.namespaced,
                        "kind": t.kind, "verbs": ["get", "patch", "update"]})
    if t.plural == "pods":
        entries.append({"name": "pods/log", "singularName": "", "namespaced": True,
                        "kind": "Pod", "verbs": ["get"]})
    return entries


def resource_list(group: str, version: str, served: list[ResourceType]) -> dict:
    """The APIResourceList of ``/api/v1`` or ``/apis/GROUP/VERSION``."""
    resources = []
    for t in served:
        if (t.group, t.version) == (group, version):
            resources.extend(_resource_entry(t))
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def group_list(served: list[ResourceType]) -> dict:
    """The APIGroupList of ``/apis``."""
    groups: dict[str, list[str]] = {}
    for t in served:
        if t.group and t.version not in groups.setdefault(t.group, []):
            groups[t.group].append(t.version)
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [group_document(g, vs) for g, vs in sorted(groups.items())]}


def group_document(group: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}
