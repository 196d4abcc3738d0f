"""The Kubernetes backend: a captured cell runs as a Job, TFJob, PyTorchJob or TrainJob.

- ``backend``: :class:`~.backend.KubernetesBackend` (check, submit, reattach, the end of a run);
- ``plan``: the object a cell submits, from its flags (pure), and the ``--dry-run`` text;
- ``trainjob_api``: which TrainJob API the cluster's Kubeflow Trainer has;
- ``monitor``: following one submitted run until it ends; ``follow``: its pods and logs;
- ``jobs``: the runs on a cluster, found by their labels (list, find, cancel).

What is not about training (cluster access, requests, specs, names, status) is the shared
toolkit :mod:`fairing_magics.kube`. Import the modules themselves: this package imports nothing.
"""
