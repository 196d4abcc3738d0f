"""The Kubernetes toolkit that training runs and prediction endpoints share.

Below everything that talks to a cluster, above the error model: the Kubernetes backend
(:mod:`fairing_magics.backends.kubernetes`) and the cluster deployer
(:mod:`fairing_magics.deploy.kubernetes`) both come in through these modules, and neither
reaches into the other.

Talking to a cluster:

- :mod:`.access`: which cluster, as whom, in which namespace; the client's one retry policy
  (the only module that imports the ``kubernetes`` package, when access is first loaded);
- :mod:`.client`: :class:`~.client.ClusterClient`, the one path every request takes;
- :mod:`.errors`: what a refusal means (the RBAC rule, the CRD, what to do next);
- :mod:`.preflight`: can this notebook run a kind here (``%fairing_doctor``, before a submit).

What is sent and read, as values and pure functions (no network):

- :mod:`.api_resources`: the API resources we use; :mod:`.labels`: ours and the controllers';
- :mod:`.naming`: object names and label values; :mod:`.resources`: ``--cpu/--memory/--gpus``;
- :mod:`.options`: what a pod, a run or an endpoint is made of, checked on construction;
- :mod:`.pods`: metadata, pod templates, containers; :mod:`.training`: Job, TFJob, PyTorchJob;
  :mod:`.trainjob`: Kubeflow Trainer's TrainJob; :mod:`.serving`: Deployment, Service,
  InferenceService; :mod:`.manifests`: the YAML ``--dry-run`` prints;
- :mod:`.status`: what a job's conditions and a pod's states say.

Import the modules themselves: this package imports nothing, so importing a spec module stays
cheap and needs no cluster.
"""
