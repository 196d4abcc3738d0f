"""AWS credentials for training and serving pods, without ever baking keys into an image.

By default nothing is added: on EKS give the pod's service account an IAM role (IRSA or EKS
Pod Identity, ``--service-account``) and the SDKs in the pod find it on their own. For clusters
without that, ``--aws-secret NAME`` points the container's environment at a Kubernetes Secret
such as the ``aws-secret`` of Kubeflow's AWS docs::

    kubectl -n kubeflow-user create secret generic aws-secret \\
        --from-literal=AWS_ACCESS_KEY_ID=... --from-literal=AWS_SECRET_ACCESS_KEY=... \\
        --from-literal=AWS_REGION=cn-northwest-1

The keys stay in the Secret: the pod spec only holds references to them.
"""

from __future__ import annotations

REQUIRED_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OPTIONAL_KEYS = ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


def aws_env_from_secret(secret_name: str | None, region: str | None = None) -> list[dict]:
    """Container ``env`` entries taking the AWS credentials from Secret ``secret_name``.

    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required keys of the Secret;
    AWS_SESSION_TOKEN, AWS_REGION and AWS_DEFAULT_REGION are optional keys. When ``region`` is
    given it is set as a plain value for AWS_REGION and AWS_DEFAULT_REGION instead (a region is
    no secret). ``None`` or "" (the default: IRSA / Pod Identity) gives an empty list.
    """
    if not secret_name:
        return []
    env = [_from_secret(key, secret_name, optional=False) for key in REQUIRED_KEYS]
    env.append(_from_secret("AWS_SESSION_TOKEN", secret_name, optional=True))
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if region:
            env.append({"name": key, "value": region})
        else:
            env.append(_from_secret(key, secret_name, optional=True))
    return env


def _from_secret(key: str, secret_name: str, *, optional: bool) -> dict:
    ref = {"name": secret_name, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": key, "valueFrom": {"secretKeyRef": ref}}
