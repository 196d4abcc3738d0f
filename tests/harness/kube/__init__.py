"""A Kubernetes API server emulator with controllers and a podman kubelet, for tests.

No real control plane can run on our machines, so the tests bring this one: the official
``kubernetes`` client talks plain HTTP to it (kubeconfig with a bearer token), and its kubelet
pulls each pod's image from a real registry and runs it with podman on the host network.

Use it through the pytest fixtures in ``tests/harness/fixtures_kube.py`` (``kube_cluster``,
``kube_api``) or directly::

    from tests.harness.kube.cluster import start_kube_cluster
    cluster = start_kube_cluster(folder)      # registry + kubelet + API server on 127.0.0.1
    kubernetes.config.load_kube_config(str(cluster.kubeconfig))
    image = cluster.python_image()           # 127.0.0.1:PORT/fairing-test/python:3.11
    ...
    cluster.stop()

What it serves: ``/version``, ``/api``, ``/apis`` discovery; core/v1 namespaces, nodes, pods
(+``/log``, ``/status``), services, events, secrets, configmaps, serviceaccounts,
persistentvolumeclaims; batch/v1 jobs; apps/v1 deployments; kubeflow.org/v1 tfjobs and
pytorchjobs; trainer.kubeflow.org/v1alpha1 trainjobs, trainingruntimes and
clustertrainingruntimes (``torch-distributed`` installed); serving.kserve.io/v1beta1
inferenceservices; apiextensions.k8s.io/v1 CRDs;
authorization.k8s.io/v1 selfsubjectaccessreviews.

Host networking: every pod gets a free port in env ``PORT`` (also in the pod annotation
``emulator.fairing.dev/port``); ``status.podIP`` is 127.0.0.1. A Service resolves to the port of
one ready pod it selects: annotation ``emulator.fairing.dev/endpoint: 127.0.0.1:PORT`` (and
``status.loadBalancer.ingress``; :meth:`KubeEmulator.service_endpoint`). An InferenceService's
``status.url`` is ``http://127.0.0.1:PORT`` of its predictor.

Schemas (:mod:`.fieldvalidation`): it plays a Kubernetes release (``kubernetes_version``, 1.36 by
default: its ``/version``) and admits Jobs, CronJobs, Deployments and Services by that release's
real OpenAPI schema, and custom resources by the schema of the CRD object it holds (the newest
upstream CRDs of ``shared/conformance-schemas`` are installed at start; ``trainer_crds`` puts in
an older Trainer's): unknown fields are pruned, defaults set, types, CEL rules and names checked
(:mod:`.apischema`), and ``fieldValidation`` answered (Strict: 400; Warn, the default: Warning
headers; servers before 1.25 ignore it). ``received`` keeps each create, update and patch as it
arrived (path, query, body).

Where it differs from a real cluster (on purpose, or not yet done):
- Deployments own their pods directly (no ReplicaSet objects), pods keep ``pod-template-hash``.
- Strategic merge patch is a plain merge patch (lists are replaced).
- Back-offs (image pull, crash loop, Job retries) start at 1 s and cap at 10 s; readiness
  probes run every 0.5 s at most, against the pod's ``PORT`` (the probe's own port is ignored).
- OOMKilled is inferred (exit 137 with a memory limit podman applied, not stopped by us).
- No liveness/startup probes, no Endpoints objects, no ReplicaSets, no admission webhooks
  beyond the Kubeflow container-name check, no auth beyond one bearer token and deny rules.
- A batch/v1 Job deleted without ``propagationPolicy`` orphans its pods, as the real API does.
"""

from .emulator import ENDPOINT_ANNOTATION, PORT_ANNOTATION, KubeEmulator

__all__ = ["ENDPOINT_ANNOTATION", "PORT_ANNOTATION", "KubeEmulator"]
