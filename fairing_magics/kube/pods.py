"""The parts every workload shares: object metadata, pod templates, containers, placement.

Pure functions from :mod:`.options` values to the dicts the API server expects. A Job's pod
template, a TFJob's replicas, a Deployment's pods, an InferenceService's predictor and a
TrainJob's pod patch are all made here, so a flag means the same wherever it goes:

- :func:`render_object`: ``apiVersion``, ``kind`` and ``metadata`` (name, namespace, our labels
  and annotations, see :mod:`.labels`) around a ``spec``;
- :func:`render_pod_template`: labels, annotations and the pod spec. Pod templates carry
  ``sidecar.istio.io/inject: "false"`` unless ``istio_inject=True``: in Kubeflow namespaces an
  Istio sidecar keeps a finished pod Running forever, so a Job never completes;
- :func:`render_pod_placement`: service account, pull secrets, node selector, tolerations;
- :func:`render_container`: the main container (image, command, env, resources, mounts; for a
  server its port and readiness probe on ``GET /v1/models/<model_name>``).
"""

from __future__ import annotations

from fairing_magics.kube.api_resources import ApiResource
from fairing_magics.kube.labels import (
    ANNOTATION_DIGEST,
    ISTIO_INJECT,
    LABEL_DIGEST,
    LABEL_ENDPOINT,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_RUN,
    MANAGED_BY,
)
from fairing_magics.kube.naming import label_value
from fairing_magics.kube.options import DeployOptions, JobOptions, PodOptions
from fairing_magics.kube.resources import render_resources

#: The main container's name per kind; the training operator requires tensorflow/pytorch.
CONTAINER_NAMES = {"job": "train", "tfjob": "tensorflow", "pytorchjob": "pytorch",
                   "trainjob": "node", "deployment": "server",
                   "inferenceservice": "kserve-container"}


def run_labels(opts: PodOptions, kind: str) -> dict[str, str]:
    """The labels that identify a run or endpoint (the user's labels first, ours win)."""
    labels = dict(opts.labels)
    labels.update({
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_RUN: opts.name,
        LABEL_NAME: label_value(opts.run_name),
        LABEL_KIND: kind,
    })
    if isinstance(opts, DeployOptions):
        labels[LABEL_ENDPOINT] = opts.name
    if opts.capture_digest:
        labels[LABEL_DIGEST] = label_value(opts.capture_digest.split(":")[-1])
    return labels


def run_annotations(opts: PodOptions) -> dict[str, str]:
    """The user's annotations, and the full capture digest when there is one."""
    annotations = dict(opts.annotations)
    if opts.capture_digest:
        annotations[ANNOTATION_DIGEST] = opts.capture_digest
    return annotations


def render_pod_template(opts: PodOptions, *, container_name: str, serving: bool = False) -> dict:
    """A pod template: run labels, annotations (Istio off by default) and the pod spec."""
    kind = opts.kind if isinstance(opts, JobOptions) else "endpoint"
    labels = run_labels(opts, kind)
    annotations = run_annotations(opts)
    if not opts.istio_inject:
        # Istio reads the label (newer) or the annotation (older); both say the same.
        labels[ISTIO_INJECT] = "false"
        annotations[ISTIO_INJECT] = "false"
    metadata: dict = {"labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": render_pod_spec(opts, container_name, serving=serving)}


def render_pod_placement(opts: PodOptions) -> dict:
    """The pod fields every workload shares (pod template, InferenceService predictor, TrainJob
    patch): ``serviceAccountName``, ``imagePullSecrets``, ``nodeSelector``, ``tolerations``;
    only those the options set."""
    fields: dict = {}
    if opts.service_account:
        fields["serviceAccountName"] = opts.service_account
    if opts.image_pull_secrets:
        fields["imagePullSecrets"] = [{"name": s} for s in opts.image_pull_secrets]
    if opts.node_selector:
        fields["nodeSelector"] = dict(opts.node_selector)
    if opts.tolerations:
        fields["tolerations"] = [t.render() for t in opts.tolerations]
    return fields


def render_pod_spec(opts: PodOptions, container_name: str, *, serving: bool = False) -> dict:
    spec: dict = {}
    if not serving:
        spec["restartPolicy"] = "Never"
    spec.update(render_pod_placement(opts))
    spec["containers"] = [render_container(opts, container_name, serving=serving)]
    if opts.volumes:
        spec["volumes"] = [v.render_volume() for v in opts.volumes]
    return spec


def render_container(opts: PodOptions, name: str, *, serving: bool = False) -> dict:
    """The main container: image, command, env (``PORT`` for servers), resources, mounts."""
    container: dict = {"name": name, "image": opts.image,
                       "imagePullPolicy": opts.image_pull_policy}
    if opts.command:
        container["command"] = list(opts.command)
    if opts.args:
        container["args"] = list(opts.args)
    env = dict(opts.env)
    if serving and isinstance(opts, DeployOptions):
        env["PORT"] = str(opts.port)
        container["ports"] = [{"name": "http", "containerPort": opts.port, "protocol": "TCP"}]
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if opts.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in opts.env_from_secrets]
    resources = render_resources(opts.cpu, opts.memory, opts.gpus)
    if resources:
        container["resources"] = resources
    if serving and isinstance(opts, DeployOptions):
        container["readinessProbe"] = {
            "httpGet": {"path": f"/v1/models/{opts.model_name}", "port": opts.port},
            "initialDelaySeconds": 1, "periodSeconds": 2, "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
    if opts.volumes:
        container["volumeMounts"] = [v.render_mount() for v in opts.volumes]
    return container


def render_object(resource: ApiResource, opts: PodOptions, spec: dict) -> dict:
    """An object of ``resource`` around ``spec``: name, namespace, our labels and annotations."""
    kind = opts.kind if isinstance(opts, JobOptions) else "endpoint"
    metadata: dict = {"name": opts.name}
    if opts.namespace:
        metadata["namespace"] = opts.namespace
    metadata["labels"] = run_labels(opts, kind)
    annotations = run_annotations(opts)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata,
            "spec": spec}
