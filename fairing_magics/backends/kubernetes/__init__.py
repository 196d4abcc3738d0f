"""The Kubernetes backend: specs (pure), cluster access, preflight checks, submit and follow.

Modules: ``naming`` (run names, label values), ``resources`` (``--cpu/--memory/--gpus``),
``specs`` (Job/TFJob/PyTorchJob, Deployment/Service/InferenceService as dicts, ``to_yaml``),
``cluster`` (loading access; the one place of the client's retry policy; API error messages),
``preflight`` (``check_cluster`` for ``%fairing_doctor`` and before each submit).
Import from the modules themselves: this package imports nothing, so ``import
fairing_magics.backends.kubernetes.specs`` stays cheap and needs no cluster.
"""
