"""Cluster access: which cluster, as whom, in which namespace, and the client's retry policy.

:func:`load_cluster_access` finds credentials the way a notebook user expects:

1. an explicit ``kubeconfig``/``context``, or ``KUBECONFIG`` set in the environment: that
   kubeconfig (several files joined with ``:`` are merged, as kubectl does);
2. inside a pod (``KUBERNETES_SERVICE_HOST`` set and a service-account token mounted, as in a
   Kubeflow notebook server): the in-cluster config, and the namespace from the service
   account's ``namespace`` file, which is the user's Kubeflow profile namespace;
3. ``~/.kube/config``;
4. otherwise a :class:`~fairing_magics.errors.ClusterError` saying how to get access.

An explicit ``namespace`` wins over both the namespace file and the context's namespace.

The official ``kubernetes`` client reads the kubeconfig (exec plugins such as EKS's token
command, client certificates, proxies) and owns the connection pool; this is the one module that
imports it. Its import takes about half a second, so it happens when access is first loaded, not
when ``%load_ext`` imports the package.

Retries live here and only here: every ``ApiClient`` we make carries :func:`client_retries`, a
urllib3 ``Retry`` on its configuration (``Configuration.retries``, which the client hands to its
connection pool from version 29 on, so every request of :mod:`.client` takes it). It retries
refused connections twice, quickly (an API server that is not there does not appear by waiting:
the user hears so in about a second), ``429 Too Many Requests`` for every method (the API server
did not act on the request, and says when to come back in ``Retry-After``), and
``500/502/503/504`` for methods that are safe to repeat (GET, HEAD, PUT, DELETE, OPTIONS), with
exponential backoff. Code above this module sends a request once and never loops on errors.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from urllib3.util.retry import Retry

from fairing_magics.errors import ClusterError, ConfigError

#: Where Kubernetes mounts a pod's service-account token, CA and namespace.
SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_KUBECONFIG = "~/.kube/config"
USER_AGENT = "fairing-magics"

_ACCESS_HELP = (
    "To use a cluster, either run this notebook in a Kubeflow notebook server (in-cluster "
    "access), or point KUBECONFIG at a kubeconfig file or copy one to ~/.kube/config (on EKS: "
    "aws eks update-kubeconfig --name CLUSTER --region REGION). Without a cluster, use "
    "--backend local.")


@dataclass(frozen=True)
class ClusterAccess:
    """The official client's ``ApiClient`` for one cluster (its credentials and connection pool),
    and what we know about whom it acts as. :class:`~.client.ClusterClient` sends through it.

    ``source`` is ``"in-cluster"`` or ``"kubeconfig"``; ``context`` the kubeconfig context (empty
    in-cluster); ``identity`` reads well in a sentence ("the service account default-editor");
    ``serviceaccount`` is ``NAMESPACE:NAME`` when we know it, for RBAC advice.
    """

    api_client: Any = field(repr=False, compare=False)
    namespace: str
    context: str
    source: str
    host: str = ""
    identity: str = "this notebook's credentials"
    serviceaccount: str = ""
    kubeconfig: str = ""

    def close(self) -> None:
        """Close the client's connection pool (and its thread pool, if one was started)."""
        self.api_client.close()


def client_retries(*, total: int = 6, backoff_factor: float = 0.5) -> Retry:
    """The one retry policy of the cluster client (see the module docstring)."""
    return _ClusterRetry(
        total=total, connect=2, read=2, status=total, redirect=0,
        backoff_factor=backoff_factor,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
        respect_retry_after_header=True,
        # After the last try hand back the response, so the client raises an ApiException with
        # the real status and body instead of urllib3's MaxRetryError.
        raise_on_status=False,
    )


class _ClusterRetry(Retry):
    """``Retry`` that also repeats 429 for non-idempotent methods (POST, PATCH)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)


def load_cluster_access(*, context: str | None = None, namespace: str | None = None,
                        kubeconfig: str | os.PathLike | None = None,
                        environ: Mapping[str, str] | None = None,
                        serviceaccount_dir: str | os.PathLike = SERVICEACCOUNT_DIR,
                        retries: Retry | None = None) -> ClusterAccess:
    """Find cluster credentials (kubeconfig, in-cluster, ~/.kube/config) and make a client.

    ``environ`` defaults to ``os.environ`` and ``serviceaccount_dir`` to the path Kubernetes
    mounts; tests pass their own. ``retries`` replaces :func:`client_retries` (tests use a
    policy without backoff). Raises ClusterError when no access can be found or a kubeconfig is
    unusable; nothing is sent to the cluster here.
    """
    # The kubernetes package is imported here, at the edge, and not at the top: it takes about
    # half a second, which %load_ext and a run on another backend should not pay.
    from kubernetes import config as kube_config

    environ = os.environ if environ is None else environ
    if namespace:
        validate_namespace(namespace)
    configuration = _new_configuration()
    sa_dir = Path(serviceaccount_dir)
    explicit = kubeconfig or context or environ.get("KUBECONFIG")
    if not explicit and _in_pod(environ, sa_dir):
        try:
            kube_config.incluster_config.InClusterConfigLoader(
                token_filename=str(sa_dir / "token"), cert_filename=str(sa_dir / "ca.crt"),
                environ=environ,
            ).load_and_set(configuration)
        except kube_config.ConfigException as e:
            raise ClusterError(f"this looks like a pod, but its service account cannot be used "
                               f"({e}; folder {sa_dir}). {_ACCESS_HELP}") from e
        sa_namespace, sa_name = _serviceaccount_of(sa_dir)
        ns = namespace or sa_namespace or "default"
        identity = f"the service account {sa_name}" if sa_name else "this pod's service account"
        return _access(configuration, retries, namespace=ns, context="", source="in-cluster",
                       identity=identity,
                       serviceaccount=f"{sa_namespace}:{sa_name}" if sa_name else "")

    path = str(kubeconfig or environ.get("KUBECONFIG") or os.path.expanduser(DEFAULT_KUBECONFIG))
    files = [p for p in path.split(os.pathsep) if p]
    if not any(os.path.isfile(os.path.expanduser(p)) for p in files):
        where = ("KUBECONFIG" if not kubeconfig and environ.get("KUBECONFIG") else "kubeconfig")
        if explicit:
            reason = f"no kubeconfig file at {path} ({where})"
        elif environ.get("KUBERNETES_SERVICE_HOST"):
            reason = (f"this is a pod, but no service-account token is mounted at {sa_dir} "
                      f"(automountServiceAccountToken: false?), and there is no kubeconfig at "
                      f"{path}")
        else:
            reason = (f"not running in a pod (KUBERNETES_SERVICE_HOST is not set) and no "
                      f"kubeconfig at {path}")
        raise ClusterError(f"no Kubernetes cluster access: {reason}. {_ACCESS_HELP}")
    by_name, current_name = _read_contexts(files)
    current = by_name.get(current_name)
    if context and context not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise ClusterError(f"context '{context}' is not in the kubeconfig {path} (its contexts: "
                           f"{known}): pick one of them with --context")
    chosen = by_name.get(context) if context else current
    if not chosen:
        raise ClusterError(f"the kubeconfig {path} has no current context: pass --context "
                           f"(its contexts: {', '.join(sorted(by_name)) or 'none'})")
    try:
        kube_config.load_kube_config(config_file=path, context=chosen["name"],
                                     client_configuration=configuration, persist_config=False)
    except (kube_config.ConfigException, OSError, ValueError) as e:
        raise ClusterError(f"context '{chosen['name']}' of the kubeconfig {path} cannot be used: "
                           f"{e}. Check its cluster and user entries (kubectl config view).") from e
    details = chosen.get("context") or {}
    ns = namespace or details.get("namespace") or "default"
    user = details.get("user") or ""
    identity = f"the user '{user}' of context '{chosen['name']}'" if user else \
        f"the credentials of context '{chosen['name']}'"
    return _access(configuration, retries, namespace=ns, context=chosen["name"],
                   source="kubeconfig", identity=identity, kubeconfig=path)


def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` if Kubernetes accepts it (an RFC 1123 label), else raise ConfigError."""
    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace or "") and len(namespace) <= 63:
        return namespace
    raise ConfigError(f"namespace '{namespace}' is not a valid Kubernetes namespace: use at most "
                      "63 lowercase letters, digits and '-', starting and ending with a letter "
                      "or digit (for example kubeflow-user)")


def _read_contexts(files: list[str]) -> tuple[dict[str, dict], str]:
    """Contexts and current context of kubeconfig files merged as kubectl does (first wins)."""
    contexts: dict[str, dict] = {}
    current = ""
    for name in files:
        path = os.path.expanduser(name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                config = yaml.safe_load(f) or {}
            if not isinstance(config, dict):
                raise ValueError("it is not a YAML mapping")
            for entry in config.get("contexts") or []:
                contexts.setdefault(str(entry["name"]), entry)
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as e:
            raise ClusterError(f"the kubeconfig {path} cannot be read: {e}. Fix it, or point "
                               "KUBECONFIG at another file.") from e
        current = current or str(config.get("current-context") or "")
    return contexts, current


def _new_configuration():
    from kubernetes.client import Configuration  # at the edge, as in load_cluster_access

    # type.__call__ skips the metaclass of client versions <= 32, whose Configuration() returns
    # a copy of a process-wide default that other code may have changed.
    return type.__call__(Configuration)


def _access(configuration, retries: Retry | None, **fields) -> ClusterAccess:
    from kubernetes.client import ApiClient  # at the edge, as in load_cluster_access

    configuration.retries = retries if retries is not None else client_retries()
    api_client = ApiClient(configuration=configuration)
    api_client.set_default_header("User-Agent", USER_AGENT)
    return ClusterAccess(api_client=api_client, host=configuration.host, **fields)


def _in_pod(environ: Mapping[str, str], sa_dir: Path) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and (sa_dir / "token").is_file()


def _serviceaccount_of(sa_dir: Path) -> tuple[str, str]:
    """(namespace, name) of the mounted service account; the name comes from the token's claims.

    The token is a JWT; we read its payload (never its signature or the token itself into a
    message) for ``sub: system:serviceaccount:NAMESPACE:NAME``.
    """
    namespace = ""
    try:
        namespace = (sa_dir / "namespace").read_text().strip()
    except OSError:
        pass
    name = ""
    try:
        payload = (sa_dir / "token").read_text().strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        parts = str(claims.get("sub", "")).split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            namespace = namespace or parts[2]
            name = parts[3]
    except (OSError, IndexError, ValueError, AttributeError):
        pass
    return namespace, name
