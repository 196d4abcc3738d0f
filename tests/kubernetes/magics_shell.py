"""The magics in the shared IPython shell, configured for a fresh namespace of the emulated
cluster."""

from __future__ import annotations

import contextlib

from tests.harness import clear_user_namespace, ipython_shell

_base: dict = {}


@contextlib.contextmanager
def magics_on_cluster(kube_cluster, tmp_path, monkeypatch, namespace: str, repository: str):
    """Yield ``(shell, api_client)`` with ``%load_ext fairing_magics`` done, the settings
    pointing at ``namespace`` (created here), the cluster's registry (``repository`` under it),
    its Python base image and a local storage folder; the extension is unloaded and the client
    closed afterwards."""
    from kubernetes.client import CoreV1Api

    api = kube_cluster.api_client()
    CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    if "image" not in _base:
        _base["image"] = kube_cluster.python_image()
    host = kube_cluster.registry_host
    for key, value in {"KUBECONFIG": str(kube_cluster.kubeconfig),
                       "FAIRING_HOME": str(tmp_path / "home"), "FAIRING_UI": "text",
                       "FAIRING_BACKEND": "kubernetes", "FAIRING_NAMESPACE": namespace,
                       "FAIRING_STORAGE": str(tmp_path / "storage"),
                       "FAIRING_REGISTRY": f"{host}/{repository}",
                       "FAIRING_BASE_IMAGE": _base["image"],
                       "FAIRING_INSECURE_REGISTRIES": host}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    ip = ipython_shell()
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    try:
        yield ip, api
    finally:
        ip.run_cell("%unload_ext fairing_magics")
        api.close()
