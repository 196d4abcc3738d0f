"""From a pod's container spec to ``podman create`` arguments: env (incl. Secret/ConfigMap
refs, fieldRefs, ``$(VAR)`` expansion), command/args, working dir, volumes (``subPath`` and
``subPathExpr``), resource limits.

:class:`MissingReference` says which Secret/ConfigMap (or key) is missing: the kubelet turns it
into ``CreateContainerConfigError``, as a real one does.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from .quantities import parse_quantity
from .resources import find_type

SECRET = find_type("", "v1", "secrets")
CONFIGMAP = find_type("", "v1", "configmaps")
PVC = find_type("", "v1", "persistentvolumeclaims")
SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


class MissingReference(Exception):
    """A Secret/ConfigMap (or a key in it) that the pod needs does not exist."""


def _source_data(store, kind: str, namespace: str, name: str, optional: bool) -> dict | None:
    t = SECRET if kind == "secret" else CONFIGMAP
    obj = store.find(t, namespace, name)
    if obj is None:
        if optional:
            return None
        raise MissingReference(f'{kind} "{name}" not found')
    if kind == "secret":
        return {k: base64.b64decode(v).decode(errors="replace")
                for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _field_ref(pod: dict, path: str) -> str:
    m = re.match(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
    values = {"metadata.name": pod["metadata"]["name"],
              "metadata.namespace": pod["metadata"]["namespace"],
              "metadata.uid": pod["metadata"]["uid"],
              "spec.nodeName": pod["spec"].get("nodeName", ""),
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
              "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
    return values.get(path, "")


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion; ``$$(VAR)`` escapes to a literal ``$(VAR)``."""
    def repl(m: re.Match) -> str:
        if m.group(1) is not None:
            return "$(" + m.group(1) + ")"
        return env.get(m.group(2), m.group(0))
    return re.sub(r"\$\$\(([A-Za-z_]\w*)\)|\$\(([A-Za-z_]\w*)\)", repl, text)


def container_env(store, pod: dict, container: dict, base: dict[str, str]) -> dict[str, str]:
    """The environment a container sees, in Kubernetes order (envFrom, then env)."""
    ns = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind in ("secret", "configMap"):
            ref = source.get(kind + "Ref")
            if ref:
                data = _source_data(store, kind.lower() if kind == "secret" else "configmap",
                                    ns, ref["name"], ref.get("optional", False)) or {}
                env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item or "valueFrom" not in item:
            env[name] = _expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            env[name] = _field_ref(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            kind, _, res = ref["resource"].partition(".")
            value = ((container.get("resources") or {}).get(kind) or {}).get(res)
            env[name] = str(int(parse_quantity(value))) if value else "0"
        else:
            for kind, label in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
                ref = source.get(kind)
                if not ref:
                    continue
                data = _source_data(store, label, ns, ref["name"], ref.get("optional", False))
                if data is None:
                    break
                if ref["key"] not in data:
                    if ref.get("optional"):
                        break
                    raise MissingReference(f"couldn't find key {ref['key']} in {label.title()} "
                                           f"{ns}/{ref['name']}")
                env[name] = data[ref["key"]]
    return env


def _registry_host(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def pull_credentials(store, pod: dict, image: str) -> tuple[str | None, list[str]]:
    """``user:password`` for ``image`` from the pod's imagePullSecrets (dockerconfigjson or
    dockercfg), and the names of the secrets that could not be found."""
    ns = pod["metadata"]["namespace"]
    host = _registry_host(image)
    missing = []
    for ref in pod["spec"].get("imagePullSecrets") or []:
        secret = store.find(SECRET, ns, ref.get("name", ""))
        if secret is None:
            missing.append(ref.get("name", ""))
            continue
        data = secret.get("data") or {}
        raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
        if not raw:
            continue
        try:
            config = json.loads(base64.b64decode(raw))
        except ValueError:
            continue
        auths = config.get("auths", config)
        for key, entry in auths.items():
            name = re.sub(r"^https?://", "", key).split("/", 1)[0]
            if name != host or not isinstance(entry, dict):
                continue
            if entry.get("username") is not None:
                return f"{entry['username']}:{entry.get('password', '')}", missing
            if entry.get("auth"):
                return base64.b64decode(entry["auth"]).decode(), missing
    return None, missing


def prepare_volumes(store, pod: dict, folder: Path, pvc_root: Path, token: str) -> dict[str, Path]:
    """Materialise the pod's volumes on the host: name -> host path."""
    ns = pod["metadata"]["namespace"]
    paths: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = folder / name
        if "hostPath" in vol:
            paths[name] = Path(vol["hostPath"]["path"])
            if vol["hostPath"].get("type") == "DirectoryOrCreate":
                paths[name].mkdir(parents=True, exist_ok=True)
            continue
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            if store.find(PVC, ns, claim) is None:
                raise MissingReference(f'persistentvolumeclaim "{claim}" not found')
            paths[name] = pvc_root / ns / claim
            paths[name].mkdir(parents=True, exist_ok=True)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for kind, label in (("secret", "secret"), ("configMap", "configmap")):
            source = vol.get(kind)
            if source is None:
                continue
            ref = source.get("secretName") or source.get("name")
            data = _source_data(store, label, ns, ref, source.get("optional", False)) or {}
            items = source.get("items")
            chosen = {i["path"]: data[i["key"]] for i in items if i["key"] in data} if items \
                else data
            for rel, value in chosen.items():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_text(value)
        paths[name] = target  # emptyDir and the above
    if pod["spec"].get("automountServiceAccountToken", True):
        sa = folder / "kube-api-access"
        sa.mkdir(parents=True, exist_ok=True)
        (sa / "token").write_text(token)
        (sa / "namespace").write_text(ns)
        (sa / "ca.crt").write_text("")
        paths["kube-api-access"] = sa
    return paths


def create_args(pod: dict, container: dict, env: dict[str, str], volumes: dict[str, Path],
                name: str, label: str, limits: bool) -> list[str]:
    """``podman create`` arguments (without the leading ``create``)."""
    args = ["--network", "host", "--init", "--name", name, "--label", label,
            "--hostname", pod["metadata"]["name"]]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    for mount in container.get("volumeMounts") or []:
        host = volumes.get(mount["name"])
        if host is None:
            continue
        sub = mount.get("subPath") or _expand(mount.get("subPathExpr") or "", env)
        if sub:
            host = host / sub
            host.mkdir(parents=True, exist_ok=True)
        spec = f"{host}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") else "")
        args += ["--volume", spec]
    if "kube-api-access" in volumes:
        args += ["--volume", f"{volumes['kube-api-access']}:{SA_PATH}:ro"]
    res = (container.get("resources") or {}).get("limits") or {}
    if limits and res.get("memory"):
        args += ["--memory", str(int(parse_quantity(res["memory"])))]
    if limits and res.get("cpu"):
        args += ["--cpus", f"{parse_quantity(res['cpu']):.3f}"]
    command = [_expand(c, env) for c in container.get("command") or []]
    rest = [_expand(a, env) for a in container.get("args") or []]
    if command:
        args += ["--entrypoint", json.dumps(command)]
    args.append(container["image"])
    return args + rest
