"""The real upstream schemas an API server checks our objects against, found and indexed.

They live outside the repository, in ``shared/conformance-schemas`` beside it (a developer's
worktree and CI's clone both have ``shared/`` next to them); ``SOURCES.md`` there names the
repository, tag and commit of each file. Nothing here copies them into the project.

- Kubernetes (``kubernetes-release-1.30.json``...): the OpenAPI v2 ``definitions`` of the built-in
  kinds (Job, CronJob, Deployment, Service and what they reference).
- Custom resources (``kubeflow.org_tfjobs-training-operator-v1.9.0.json``...): one CRD each, its
  versions' ``openAPIV3Schema`` as upstream wrote them (descriptions removed).

:func:`catalog` lists every file as a :class:`SchemaFile` (which API, which release);
:func:`releases` the releases of one API, oldest first; :func:`crd_object` turns a CRD file into
the ``apiextensions.k8s.io/v1`` object a cluster would hold.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FOLDER_NAME = "conformance-schemas"
#: The repository's root: tests/harness/kube/schemas.py is three folders below it.
REPOSITORY = Path(__file__).resolve().parents[3]

#: The API families, by the repository their schemas come from.
APIS = {"kubernetes-client/python": "kubernetes", "kubeflow/training-operator": "training-operator",
        "kubeflow/trainer": "trainer", "kserve/kserve": "kserve"}
#: What each family is called in messages.
TITLES = {"kubernetes": "Kubernetes", "training-operator": "Kubeflow training-operator",
          "trainer": "Kubeflow Trainer", "kserve": "KServe"}
_SOURCE = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)@(?P<commit>[0-9a-f]{7,40}) \(tag (?P<tag>[^,)]+)"
                     r"(?:, KUBERNETES_BRANCH release-(?P<branch>[\d.]+))?\)")


class SchemasMissing(RuntimeError):
    """The shared schema folder is not where it should be."""


def schema_folder() -> Path:
    """``<repository>/../shared/conformance-schemas``; SchemasMissing when it is not there."""
    folder = REPOSITORY.parent / "shared" / FOLDER_NAME
    if not (folder / "SOURCES.md").is_file():
        raise SchemasMissing(
            f"the upstream schemas are not at {folder}: the conformance tests read them from "
            f"shared/{FOLDER_NAME} beside the repository (CI copies shared/ next to its clone)")
    return folder


@dataclass(frozen=True)
class SchemaFile:
    """One schema file: its ``api`` family, ``release`` (``1.30``, ``v2.0.1``) and origin."""

    path: Path
    api: str
    release: str
    repository: str
    commit: str

    @property
    def title(self) -> str:
        """``Kubeflow Trainer v2.0.1``, ``Kubernetes 1.30``: the schema version in messages."""
        return f"{TITLES[self.api]} {self.release}"

    @property
    def key(self) -> tuple[int, ...]:
        """Sort key: releases in version order."""
        return tuple(int(n) for n in re.findall(r"\d+", self.release))

    def load(self) -> dict:
        return _load(self.path)


@cache
def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@cache
def catalog() -> tuple[SchemaFile, ...]:
    """Every schema file of the shared folder, by API and release (oldest first)."""
    files = []
    for path in sorted(schema_folder().glob("*.json")):
        doc = _load(path)
        match = _SOURCE.match(str(doc.get("source", "")))
        if match is None or match["repo"] not in APIS:
            raise SchemasMissing(f"{path.name}: its 'source' field does not name a known "
                                 f"repository and tag ({doc.get('source')!r})")
        api = APIS[match["repo"]]
        release = match["branch"] if api == "kubernetes" else match["tag"]
        if api == "kubernetes" and not release:
            raise SchemasMissing(f"{path.name}: no KUBERNETES_BRANCH in its source")
        files.append(SchemaFile(path, api, release, match["repo"], match["commit"]))
    return tuple(sorted(files, key=lambda f: (f.api, f.key)))


def releases(api: str, *, crd: str = "") -> tuple[SchemaFile, ...]:
    """The schema files of ``api`` (and for custom resources, of the CRD named ``crd``, e.g.
    ``trainjobs.trainer.kubeflow.org``), oldest release first."""
    found = tuple(f for f in catalog() if f.api == api and (not crd or f.load().get("name") == crd))
    if not found:
        raise SchemasMissing(f"no {TITLES.get(api, api)} schema{' for ' + crd if crd else ''} in "
                             f"{schema_folder()}")
    return found


def release(api: str, name: str, *, crd: str = "") -> SchemaFile:
    """The schema file of one release (``release("trainer", "v2.0.1")``)."""
    for f in releases(api, crd=crd):
        if f.release == name:
            return f
    known = ", ".join(f.release for f in releases(api, crd=crd))
    raise SchemasMissing(f"no {TITLES[api]} {name} schema (there are: {known})")


def crd_object(schema: SchemaFile) -> dict:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of a CRD schema file."""
    doc = schema.load()
    versions = [{"name": v["name"], "served": v.get("served", True),
                 "storage": v.get("storage", False), "subresources": {"status": {}},
                 "schema": {"openAPIV3Schema": v["openAPIV3Schema"]}}
                for v in doc["versions"]]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": doc["name"],
                         "annotations": {"fairing.dev/schema-source": str(doc["source"])}},
            "spec": {"group": doc["group"], "names": dict(doc["names"]), "scope": doc["scope"],
                     "preserveUnknownFields": bool(doc.get("preserveUnknownFields")),
                     "versions": versions},
            "status": {"acceptedNames": {"plural": doc["names"]["plural"],
                                         "kind": doc["names"]["kind"]},
                       "conditions": [{"type": "Established", "status": "True",
                                       "reason": "InitialNamesAccepted"}]}}


def definitions(schema: SchemaFile) -> dict:
    """The OpenAPI v2 ``definitions`` of a Kubernetes schema file."""
    return schema.load()["definitions"]
