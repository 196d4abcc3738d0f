"""Prediction endpoints as Kubernetes objects (pure).

An ``apps/v1`` Deployment of ``replicas`` serving pods with a readiness probe, and a ``v1``
Service in front of them (ClusterIP, NodePort or LoadBalancer); or with ``kserve=True`` one
``serving.kserve.io/v1beta1`` InferenceService: our predictor container, or a stock
scikit-learn/XGBoost runtime reading ``storageUri``.
"""

from __future__ import annotations

from fairing_magics.kube.api_resources import DEPLOYMENT, INFERENCESERVICE, SERVICE
from fairing_magics.kube.labels import ISTIO_INJECT, LABEL_ENDPOINT
from fairing_magics.kube.options import SERVICE_TYPES, DeployOptions
from fairing_magics.kube.pods import (
    CONTAINER_NAMES,
    render_container,
    render_object,
    render_pod_placement,
    render_pod_template,
)
from fairing_magics.kube.resources import render_resources


def render_endpoint(opts: DeployOptions) -> list[dict]:
    """Everything an endpoint needs: ``[InferenceService]`` with ``kserve``, else
    ``[Deployment, Service]``."""
    if opts.kserve:
        return [render_inferenceservice(opts)]
    return [render_deployment(opts), render_service(opts)]


def render_deployment(opts: DeployOptions) -> dict:
    """An ``apps/v1`` Deployment of ``replicas`` serving pods with a readiness probe.

    Deploying the same name again with a new image (or a new capture digest, which is a pod
    template annotation) rolls out new pods; the selector stays the same, as it must.
    """
    template = render_pod_template(opts, container_name=CONTAINER_NAMES["deployment"],
                                   serving=True)
    return render_object(DEPLOYMENT, opts, {
        "replicas": opts.replicas,
        "selector": {"matchLabels": {LABEL_ENDPOINT: opts.name}},
        "template": template,
    })


def render_service(opts: DeployOptions) -> dict:
    """A ``v1`` Service in front of the Deployment's pods (ClusterIP, NodePort or LoadBalancer)."""
    return render_object(SERVICE, opts, {
        "type": SERVICE_TYPES[opts.expose],
        "selector": {LABEL_ENDPOINT: opts.name},
        "ports": [{"name": "http", "port": opts.port, "targetPort": opts.port,
                   "protocol": "TCP"}],
    })


def render_inferenceservice(opts: DeployOptions) -> dict:
    """A ``serving.kserve.io/v1beta1`` InferenceService.

    Without ``runtime``: our predictor image as the custom container ``kserve-container`` (the
    name KServe requires), listening on ``port``. With ``runtime`` ``sklearn`` or ``xgboost``:
    KServe's stock server loads the model from ``storage_uri`` (KServe V1 protocol); give a
    ``service_account`` that holds the S3 credentials (KServe reads them from it). Istio injection
    is off (an annotation KServe copies to the pods) unless ``istio_inject``.
    """
    predictor: dict = {"minReplicas": opts.replicas, **render_pod_placement(opts)}
    resources = render_resources(opts.cpu, opts.memory, opts.gpus)
    if opts.runtime:
        # protocolVersion v1: KServe's V1 REST protocol, what our Endpoint speaks.
        model: dict = {"modelFormat": {"name": opts.runtime}, "protocolVersion": "v1",
                       "storageUri": opts.storage_uri}
        if resources:
            model["resources"] = resources
        predictor["model"] = model
    else:
        container = render_container(opts, CONTAINER_NAMES["inferenceservice"], serving=True)
        # Knative (KServe's serverless mode) allows one port, unnamed or http1.
        container["ports"] = [{"containerPort": opts.port, "protocol": "TCP"}]
        predictor["containers"] = [container]
        if opts.volumes:
            predictor["volumes"] = [v.render_volume() for v in opts.volumes]
    isvc = render_object(INFERENCESERVICE, opts, {"predictor": predictor})
    if not opts.istio_inject:  # KServe copies the InferenceService's annotations to its pods
        isvc["metadata"].setdefault("annotations", {})[ISTIO_INJECT] = "false"
    return isvc
