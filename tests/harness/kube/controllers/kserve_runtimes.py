"""KServe's stock runtimes in the emulator: ``spec.predictor.model`` -> a runtime's container.

What KServe's controller and its storage-initializer do, in the same order:

1. **Resolve the runtime**: a ServingRuntime of the namespace, else a ClusterServingRuntime, that
   is not ``disabled``, lists the model's format in ``supportedModelFormats`` (``autoSelect:
   true`` unless the model names its ``runtime``) and the model's ``protocolVersion`` (default
   ``v1``) in ``protocolVersions``. None: the InferenceService is not Ready (reason
   ``NoSupportingRuntime``), as with KServe.
2. **storage-initializer**: download every object under ``storageUri`` (``s3://bucket/path``)
   into a host folder that the container sees at ``/mnt/models``. Credentials and endpoint come
   from where KServe takes them: the predictor's service account (``default`` when unnamed), its
   annotations and those of the Secrets it lists (``serving.kserve.io/s3-endpoint``,
   ``s3-usehttps``, ``s3-region``), the Secrets' ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``.
   Only a loopback endpoint is reached (tests never leave the machine); a failure is a Warning
   event on the InferenceService and a not-Ready condition (where KServe's pod would sit in
   ``Init:CrashLoopBackOff``). A folder is downloaded once per storageUri.
3. **The container**: the runtime's first container (``kserve-container``) with ``{{.Name}}`` in
   its args replaced by the InferenceService's name, the model's resources and env merged in,
   and the folder mounted read-only at ``/mnt/models``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import threading
import time
import urllib.parse
from pathlib import Path

from ..resources import find_type

SERVING_RUNTIME = find_type("serving.kserve.io", "v1alpha1", "servingruntimes")
CLUSTER_SERVING_RUNTIME = find_type("serving.kserve.io", "v1alpha1", "clusterservingruntimes")
SERVICE_ACCOUNT = find_type("", "v1", "serviceaccounts")
SECRET = find_type("", "v1", "secrets")
MODEL_MOUNT = "/mnt/models"
PROVISION_VOLUME = "kserve-provision-location"
ANNOTATION = "serving.kserve.io/"
RETRY_SECONDS = 2.0


class RuntimeUnavailable(Exception):
    """The model cannot be served yet: ``reason`` and ``message`` for the Ready condition."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def find_runtime(store, namespace: str, model: dict, served: list) -> dict:
    """The (Cluster)ServingRuntime that serves ``model`` (see the module docstring)."""
    fmt = (model.get("modelFormat") or {}).get("name", "")
    protocol = model.get("protocolVersion") or "v1"
    named = model.get("runtime") or ""
    candidates = []
    for t, ns in ((SERVING_RUNTIME, namespace), (CLUSTER_SERVING_RUNTIME, None)):
        if t in served:
            candidates += sorted(store.list(t, ns)[0], key=lambda o: o["metadata"]["name"])
    for runtime in candidates:
        spec = runtime.get("spec") or {}
        if spec.get("disabled") or (named and runtime["metadata"]["name"] != named):
            continue
        if protocol not in (spec.get("protocolVersions") or ["v1"]):
            continue
        for supported in spec.get("supportedModelFormats") or []:
            if supported.get("name") == fmt and (named or supported.get("autoSelect")):
                return runtime
    raise RuntimeUnavailable("NoSupportingRuntime",
                             f"No runtime found to support predictor with model type: "
                             f"{{name: {fmt}}} and protocol {protocol}")


def s3_settings(store, namespace: str, account: str) -> dict:
    """Endpoint, https, region and keys for the storage-initializer, from the service account."""
    settings = {"endpoint": "s3.amazonaws.com", "usehttps": "1", "region": "", "key": "",
                "secret": ""}
    sa = store.find(SERVICE_ACCOUNT, namespace, account) or {"metadata": {}}
    sources = [sa] + [s for s in (store.find(SECRET, namespace, ref.get("name", ""))
                                  for ref in sa.get("secrets") or []) if s is not None]
    for obj in sources:
        annotations = obj["metadata"].get("annotations") or {}
        for name in ("endpoint", "usehttps", "region"):
            settings[name] = annotations.get(f"{ANNOTATION}s3-{name}", settings[name])
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        settings["key"] = data.get("AWS_ACCESS_KEY_ID", settings["key"])
        settings["secret"] = data.get("AWS_SECRET_ACCESS_KEY", settings["secret"])
    return settings


def _loopback(endpoint: str) -> bool:
    host = urllib.parse.urlsplit("//" + endpoint.split("://")[-1]).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StorageInitializer:
    """Downloads storage URIs into host folders, once each (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._failed: dict[str, tuple[float, RuntimeUnavailable]] = {}
        self._lock = threading.Lock()

    def folder(self, namespace: str, name: str, uri: str) -> Path:
        key = hashlib.sha256(uri.encode()).hexdigest()[:12]
        return self.root / namespace / name / key

    def provide(self, store, namespace: str, name: str, uri: str, account: str) -> Path:
        """The folder holding ``uri``'s files; downloads them the first time."""
        target = self.folder(namespace, name, uri)
        if (target / ".done").exists():
            return target
        with self._lock:
            when, failure = self._failed.get(str(target), (-RETRY_SECONDS, None))
            if failure is not None and time.monotonic() - when < RETRY_SECONDS:
                raise failure  # as an init container in back-off: the same failure, for a while
            try:
                self._download(store, namespace, uri, account, target)
            except RuntimeUnavailable as exc:
                self._failed[str(target)] = (time.monotonic(), exc)
                raise
        return target

    def _download(self, store, namespace: str, uri: str, account: str, target: Path) -> None:
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme != "s3":
            raise RuntimeUnavailable("StorageInitializerFailed",
                                     f"the emulator downloads only s3:// URIs, not {uri}")
        s3 = s3_settings(store, namespace, account)
        if not _loopback(s3["endpoint"]):
            raise RuntimeUnavailable(
                "StorageInitializerFailed",
                f"storage-initializer: S3 endpoint {s3['endpoint']} is not on this machine; "
                f"annotate the service account {account!r} or its Secret with "
                f"{ANNOTATION}s3-endpoint: 127.0.0.1:PORT")
        import boto3

        scheme = "https" if s3["usehttps"] not in ("0", "false") else "http"
        endpoint = s3["endpoint"] if "://" in s3["endpoint"] else f"{scheme}://{s3['endpoint']}"
        client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=s3["region"] or "us-east-1",
            aws_access_key_id=s3["key"] or None, aws_secret_access_key=s3["secret"] or None)
        prefix = parsed.path.lstrip("/")
        partial = target.with_name(target.name + ".partial")
        count = 0
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                    Bucket=parsed.netloc, Prefix=prefix):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(prefix):].lstrip("/") or Path(item["Key"]).name
                    (partial / rel).parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(parsed.netloc, item["Key"], str(partial / rel))
                    count += 1
        except Exception as exc:  # noqa: BLE001 - any failure is the init container's exit
            raise RuntimeUnavailable(
                "StorageInitializerFailed",
                f"storage-initializer: downloading {uri} failed: {exc}") from exc
        if not count:
            raise RuntimeUnavailable(
                "StorageInitializerFailed",
                f"storage-initializer: Failed to fetch model. No model found in {uri}.")
        (partial / ".done").write_text("ok\n")
        partial.rename(target)


def runtime_pod_spec(predictor: dict, runtime: dict, name: str, folder: Path) -> dict:
    """The predictor pod's spec: the runtime's container, the model's settings, /mnt/models."""
    model = predictor.get("model") or {}
    container = json.loads(json.dumps((runtime.get("spec") or {}).get("containers", [{}])[0]))
    container["name"] = "kserve-container"
    container["args"] = [a.replace("{{.Name}}", name) for a in container.get("args") or []]
    container["args"] += [a for a in model.get("args") or []]
    if model.get("env"):
        container["env"] = (container.get("env") or []) + model["env"]
    if model.get("resources"):
        container["resources"] = model["resources"]
    container["volumeMounts"] = (container.get("volumeMounts") or []) + [
        {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True}]
    spec = {k: v for k, v in predictor.items()
            if k in ("serviceAccountName", "imagePullSecrets", "nodeSelector", "tolerations")}
    spec["containers"] = [container]
    spec["volumes"] = [{"name": PROVISION_VOLUME,
                        "hostPath": {"path": str(folder), "type": "Directory"}}]
    return spec
