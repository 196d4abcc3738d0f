"""Kubeflow Trainer v2 emulation: a TrainJob (``trainer.kubeflow.org/v1alpha1``) on a
(Cluster)TrainingRuntime becomes ``numNodes`` pods, run by the kubelet.

Like the real Trainer (kubeflow/trainer ``pkg/runtime``, ``pkg/constants``) it resolves
``spec.runtimeRef`` (ClusterTrainingRuntime by default, TrainingRuntime in the TrainJob's
namespace), takes the replicated job labelled ``trainer.kubeflow.org/trainjob-ancestor-step:
trainer``, applies ``spec.trainer`` to its container ``node`` (image, command, args, env
merged by name, ``resourcesPerNode``, ``numNodes`` over the runtime's ``mlPolicy.numNodes``),
the torch plugin's env (``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` from the
completion-index annotation, ``PET_MASTER_ADDR`` ``<job>-node-0-0.<job>``, ``PET_MASTER_PORT``
29500) and the TrainJob's pod settings, from whichever field its Trainer has:
``runtimePatches`` (v2.2+), ``podTemplateOverrides`` (v2.1) or ``podSpecOverrides`` (v2.0),
each aimed at a replicated job by name (pod labels/annotations where the field has pod
metadata, serviceAccountName, nodeSelector, tolerations, imagePullSecrets, volumes, container
volumeMounts). ``spec.labels``/``spec.annotations`` (v2.0/v2.1) go to the JobSet and its Jobs,
not to the pods, so they are not on the pods here either. Which fields survive creation is the
CRD's business: a CRD with a structural schema (``trainer_crds``) prunes the others.

Where it differs: no JobSet or Job objects (the pods are owned by the TrainJob, so foreground
deletion of the TrainJob removes them); only the trainer step runs (initializer jobs are not
made); a failed pod fails the TrainJob at once (JobSet without a failurePolicy), with the pod's
``restartPolicy`` from the runtime, ``Never`` when it has none. Pods carry the labels and
annotations JobSet and the Indexed Job controller put on them (``jobset.sigs.k8s.io/*``,
``batch.kubernetes.io/job-completion-index``) and are named ``<job>-node-0-<index>-<5 chars>``.
Conditions: ``Created`` (JobsCreationSucceeded, or JobsBuildFailed when the runtime is missing),
``Complete`` (AllJobsCompleted) and ``Failed`` (FailedJobs, DeadlineExceeded).
"""

from __future__ import annotations

import hashlib
import json

from ..events import record_event
from ..resources import find_type
from ..store import now_iso
from .ownership import (
    POD,
    condition_true,
    delete_pod,
    is_deleting,
    owned_pods,
    phase,
    pod_from_template,
    seconds_since,
    set_condition,
)

TRAINJOB = find_type("trainer.kubeflow.org", "v1alpha1", "trainjobs")
TRAINING_RUNTIME = find_type("trainer.kubeflow.org", "v1alpha1", "trainingruntimes")
CLUSTER_TRAINING_RUNTIME = find_type("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes")
ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
MASTER_PORT = 29500
_CONTROLLER = "trainjob-controller"


def torch_distributed_runtime(image: str = "pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime") -> dict:
    """The ``torch-distributed`` ClusterTrainingRuntime of Kubeflow Trainer's manifests."""
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
            "metadata": {"name": "torch-distributed",
                         "labels": {"trainer.kubeflow.org/framework": "torch"}},
            "spec": {"mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
                     "template": {"spec": {"replicatedJobs": [{
                         "name": "node",
                         "template": {"metadata": {"labels": {ANCESTOR: "trainer"}},
                                      "spec": {"template": {"spec": {"containers": [{
                                          "name": "node", "image": image,
                                          "command": ["/bin/bash", "-c",
                                                      "echo Torch Distributed Runtime"]}]}}}}}]}}}}


class RuntimeMissing(Exception):
    pass


def resolve_runtime(store, trainjob: dict) -> dict:
    """The runtime a TrainJob refers to, or RuntimeMissing with the API server's 404 text."""
    ref = trainjob["spec"].get("runtimeRef") or {}
    kind = ref.get("kind") or "ClusterTrainingRuntime"
    name = ref.get("name") or ""
    if kind == "TrainingRuntime":
        obj = store.find(TRAINING_RUNTIME, trainjob["metadata"]["namespace"], name)
        plural = TRAINING_RUNTIME.qualified
    else:
        obj = store.find(CLUSTER_TRAINING_RUNTIME, "", name)
        plural = CLUSTER_TRAINING_RUNTIME.qualified
    if obj is None:
        raise RuntimeMissing(f'{plural} "{name}" not found')
    return obj


def node_pod_template(trainjob: dict, runtime: dict) -> tuple[str, dict, int]:
    """``(replicated job name, pod template, numNodes)`` of the trainer step, as the Trainer
    builds it from the runtime, ``spec.trainer``, the torch plugin and ``runtimePatches``."""
    spec = trainjob["spec"]
    rjobs = ((runtime["spec"].get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    rjob = next(j for j in rjobs if ((j.get("template") or {}).get("metadata") or {})
                .get("labels", {}).get(ANCESTOR) == "trainer")
    template = json.loads(json.dumps(rjob["template"]["spec"]["template"]))
    template.setdefault("metadata", {})
    pod_spec = template.setdefault("spec", {})
    trainer = spec.get("trainer") or {}
    policy = runtime["spec"].get("mlPolicy") or {}
    nodes = int(trainer.get("numNodes") or policy.get("numNodes") or 1)
    container = next(c for c in pod_spec["containers"] if c["name"] == "node")
    for key in ("image", "command", "args"):
        if trainer.get(key):
            container[key] = trainer[key]
    _upsert_env(container, trainer.get("env") or [])
    if trainer.get("resourcesPerNode"):
        container["resources"] = trainer["resourcesPerNode"]
    if "torch" in policy:
        name = trainjob["metadata"]["name"]
        nproc = str(trainer.get("numProcPerNode") or policy["torch"].get("numProcPerNode")
                    or "auto")
        resources = trainer.get("resourcesPerNode")
        if nproc == "auto" and resources:
            limits = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
            if not any("gpu" in k.lower() for k in limits):
                nproc = str(max(1, int(float(str(limits.get("cpu", "1")).rstrip("m")) /
                                       (1000 if str(limits.get("cpu", "")).endswith("m") else 1))))
        _upsert_env(container, [
            {"name": "PET_NNODES", "value": str(nodes)},
            {"name": "PET_NPROC_PER_NODE", "value": nproc},
            {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}},
            {"name": "PET_MASTER_ADDR", "value": f"{name}-{rjob['name']}-0-0.{name}"},
            {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)}])
        ports = container.setdefault("ports", [])
        if not any(p.get("containerPort") == MASTER_PORT for p in ports):
            ports.append({"containerPort": MASTER_PORT, "protocol": "TCP"})
    for patch in pod_patches(spec, rjob["name"]):
        _apply_pod_patch(template, patch)
    return rjob["name"], template, nodes


def pod_patches(spec: dict, job: str) -> list[dict]:
    """The pod template patches (``metadata``, ``spec``) a TrainJob ``spec`` aims at replicated
    job ``job``, in the Trainer's order: podSpecOverrides, podTemplateOverrides, runtimePatches."""
    def targets(override: dict) -> bool:
        return any(t.get("name") == job for t in override.get("targetJobs") or [])

    patches = [{"spec": {k: v for k, v in o.items() if k != "targetJobs"}}
               for o in spec.get("podSpecOverrides") or [] if targets(o)]
    patches += [{"metadata": o.get("metadata") or {}, "spec": o.get("spec") or {}}
                for o in spec.get("podTemplateOverrides") or [] if targets(o)]
    for patch in spec.get("runtimePatches") or []:
        jobset = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {})
        for job_patch in (jobset.get("spec") or {}).get("replicatedJobs") or []:
            if job_patch.get("name") == job:
                patches.append(((job_patch.get("template") or {}).get("spec") or {})
                               .get("template") or {})
    return patches


def _upsert_env(container: dict, env: list[dict]) -> None:
    current = container.setdefault("env", [])
    for item in env:
        for i, old in enumerate(current):
            if old["name"] == item["name"]:
                current[i] = item
                break
        else:
            current.append(item)


def _apply_pod_patch(template: dict, patch: dict) -> None:
    meta, pmeta = template["metadata"], patch.get("metadata") or {}
    for key in ("labels", "annotations"):
        if pmeta.get(key):
            meta[key] = {**(meta.get(key) or {}), **pmeta[key]}
    spec, pspec = template["spec"], patch.get("spec") or {}
    for key in ("serviceAccountName", "nodeSelector", "tolerations", "imagePullSecrets",
                "securityContext", "affinity"):
        if key in pspec:
            spec[key] = pspec[key]
    if pspec.get("volumes"):
        names = {v["name"] for v in pspec["volumes"]}
        spec["volumes"] = [v for v in spec.get("volumes") or [] if v["name"] not in names] + \
            pspec["volumes"]
    for cpatch in pspec.get("containers") or []:
        for c in spec.get("containers") or []:
            if c["name"] == cpatch["name"]:
                if cpatch.get("volumeMounts"):
                    c["volumeMounts"] = (c.get("volumeMounts") or []) + cpatch["volumeMounts"]
                if cpatch.get("env"):
                    _upsert_env(c, cpatch["env"])


class TrainJobController:
    def __init__(self, emu):
        self.emu = emu

    def reconcile(self) -> None:
        if TRAINJOB not in self.emu.served_types():
            return
        for trainjob in self.emu.store.list(TRAINJOB)[0]:
            if is_deleting(trainjob) or condition_true(trainjob, "Complete") \
                    or condition_true(trainjob, "Failed"):
                continue
            if (trainjob["spec"].get("suspend")):
                continue
            self._sync(trainjob)

    def _sync(self, trainjob: dict) -> None:
        store, meta = self.emu.store, trainjob["metadata"]
        name, ns = meta["name"], meta["namespace"]
        try:
            runtime = resolve_runtime(store, trainjob)
        except RuntimeMissing as e:
            message = f"Failed to build Jobs: {e}"
            if not any(c.get("reason") == "JobsBuildFailed" for c in
                       (trainjob.get("status") or {}).get("conditions") or []):
                record_event(store, trainjob, "Warning", "JobsBuildFailed", message, _CONTROLLER)
            store.mutate(TRAINJOB, ns, name, lambda j: set_condition(
                j.setdefault("status", {}), "Created", "False", "JobsBuildFailed", message))
            return
        rjob, template, nodes = node_pod_template(trainjob, runtime)
        job_name = f"{name}-{rjob}-0"
        pods = {p["metadata"]["labels"].get(COMPLETION_INDEX): p
                for p in owned_pods(self.emu, trainjob)}
        for index in range(nodes):
            if str(index) in pods:
                continue
            labels = jobset_pod_labels(name, ns, rjob, index, meta["uid"])
            suffix = hashlib.sha256(f"{meta['uid']}/{index}".encode()).hexdigest()[:5]
            pod = pod_from_template(template, trainjob, name=f"{job_name}-{index}-{suffix}",
                                    labels=labels)
            pod["metadata"]["annotations"].update(
                {k: v for k, v in labels.items() if k.startswith("jobset.sigs.k8s.io/")
                 or k == COMPLETION_INDEX})
            pod["spec"].setdefault("restartPolicy", "Never")
            pod["spec"]["hostname"] = f"{job_name}-{index}"
            pod["spec"]["subdomain"] = name
            pods[str(index)] = store.create(POD, ns, pod)
            record_event(store, trainjob, "Normal", "SuccessfulCreate",
                         f"Created pod: {pod['metadata']['name']}", "job-controller")
        mine = list(pods.values())
        failed = [p for p in mine if phase(p) == "Failed"]
        succeeded = sum(phase(p) == "Succeeded" for p in mine)
        active = sum(phase(p) in ("Pending", "Running") for p in mine)
        deadline = trainjob["spec"].get("activeDeadlineSeconds")
        start = (trainjob.get("status") or {}).get("startTime") or meta.get("creationTimestamp")
        verdict = None
        if failed:
            verdict = ("Failed", "FailedJobs", "jobset failed due to one or more job failures")
        elif deadline is not None and seconds_since(start) >= deadline:
            verdict = ("Failed", "DeadlineExceeded",
                       "TrainJob exceeded its activeDeadlineSeconds")
        elif succeeded >= nodes:
            verdict = ("Complete", "AllJobsCompleted", "jobset completed successfully")
        job_done = succeeded >= nodes
        jobs_status = [{"name": rjob, "ready": int(active > 0 and not failed),
                        "succeeded": int(job_done), "failed": int(bool(failed)),
                        "active": int(active > 0 and not job_done and not failed),
                        "suspended": 0}]
        now = now_iso()

        def update(j: dict) -> None:
            status = j.setdefault("status", {})
            status.setdefault("startTime", now)
            status["jobsStatus"] = jobs_status
            set_condition(status, "Created", "True", "JobsCreationSucceeded",
                          "Succeeded to create Jobs")
            if verdict:
                set_condition(status, verdict[0], "True", verdict[1], verdict[2])
        store.mutate(TRAINJOB, ns, name, update)
        if verdict:
            record_event(store, trainjob, "Normal" if verdict[0] == "Complete" else "Warning",
                         verdict[1], verdict[2], _CONTROLLER)
            if verdict[0] == "Failed":  # JobSet deletes the Jobs still running
                for p in mine:
                    if phase(p) in ("Pending", "Running"):
                        delete_pod(self.emu, p)


def jobset_pod_labels(name: str, namespace: str, rjob: str, index: int, uid: str) -> dict:
    """What JobSet and the Indexed Job controller label a TrainJob's node pod with."""
    job = f"{name}-{rjob}-0"
    return {"jobset.sigs.k8s.io/jobset-name": name,
            "jobset.sigs.k8s.io/jobset-uid": uid,
            "jobset.sigs.k8s.io/replicatedjob-name": rjob,
            "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
            "jobset.sigs.k8s.io/job-index": "0",
            "jobset.sigs.k8s.io/job-global-index": "0",
            "jobset.sigs.k8s.io/restart-attempt": "0",
            "jobset.sigs.k8s.io/job-key": hashlib.sha1(f"{namespace}/{job}".encode()).hexdigest(),
            "job-name": job, "batch.kubernetes.io/job-name": job,
            COMPLETION_INDEX: str(index)}
