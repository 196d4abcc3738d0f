"""What a ``%%fairing_train`` cell submits to the cluster, as pure functions of its flags.

:func:`training_spec` turns the cell's ``TrainOptions`` and the ``Settings`` into the exact object
the backend creates (a Job, TFJob, PyTorchJob or TrainJob dict); :func:`describe_cluster_plan`
prints it for ``--dry-run``, with where it would go. Neither touches the network.

What is added to the specs of :mod:`fairing_magics.kube.training`:

- env ``FAIRING_RUN_NAME`` (the object name), ``FAIRING_OUTPUT_DIR`` and what the runtime sends
  back and how (:func:`fairing_magics.displays.runtime_env`: displays, ``--outputs-from``);
- with ``--storage s3://...``: env ``FAIRING_STORAGE`` (the runtime uploads the output folder to
  ``<storage>/runs/<run>/``); with ``--aws-secret NAME`` the AWS keys come from that Secret
  (references only, see :func:`fairing_magics.aws.aws_env_from_secret`);
- with ``--storage`` a local folder: a ``hostPath`` volume ``<folder>/runs/<run>`` mounted at
  ``/fairing/output``, so the outputs land where the kernel reads them. That needs the node to
  see the kernel's folder at the same path (a single-machine cluster, the test cluster, or a
  shared file system mounted alike on notebook and nodes); on EKS use ``s3://``.

For a TrainJob the volumes go into its pod patch (``runtimePatches``, ``podTemplateOverrides`` or
``podSpecOverrides``: ``trainjob_field``, what :mod:`.trainjob_api` found the cluster takes) and
the env into ``spec.trainer.env`` (the only place the Trainer API takes env for the ``node``
container).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from fairing_magics.aws import aws_env_from_secret
from fairing_magics.backends import run_env
from fairing_magics.backends.kubernetes.trainjob_api import dry_run_trainjob_api
from fairing_magics.displays import runtime_env
from fairing_magics.errors import ConfigError
from fairing_magics.image.layout import OUTPUT_DIR
from fairing_magics.kube.api_resources import TRAINING_KINDS
from fairing_magics.kube.manifests import to_yaml
from fairing_magics.kube.naming import unique_name
from fairing_magics.kube.options import JobOptions, parse_toleration, parse_volume
from fairing_magics.kube.training import render_training
from fairing_magics.kube.trainjob import RUNTIME_PATCHES, node_pod_patches
from fairing_magics.storage import storage_for

OUTPUT_VOLUME = "fairing-output"
DRY_RUN_SUFFIX = "dryrun"
_REPLICA_KEYS = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs"}


def storage_kind(storage: str) -> str:
    """``""`` (none), ``"s3"`` or ``"folder"``."""
    if not storage:
        return ""
    return "s3" if storage.startswith("s3://") else "folder"


def output_folder(storage: str, name: str) -> Path:
    """The run folder ``<storage>/runs/<name>`` of a local-folder storage (absolute)."""
    return storage_for(storage).run_dir(name)


def job_options(options, settings, *, name: str, image: str, capture_digest: str = "",
                namespace: str = "") -> JobOptions:
    """The :class:`JobOptions` of a cell's flags (``options``: ``TrainOptions``)."""
    kind = (options.kind or "job").lower()
    ours = runtime_env(options, settings)  # after the cell's env, in the same place in every spec
    env = {key: value for key, value in options.env.items() if key not in ours}
    env["FAIRING_RUN_NAME"] = name
    env["FAIRING_OUTPUT_DIR"] = OUTPUT_DIR
    env.update(ours)
    if storage_kind(settings.storage) == "s3":
        env["FAIRING_STORAGE"] = settings.storage
    timeout = None if options.timeout is None else max(1, math.ceil(options.timeout))
    return JobOptions(
        name=name, run_name=options.name, image=image, namespace=namespace,
        cpu=options.cpu, memory=options.memory, gpus=options.gpus, env=env,
        node_selector=dict(options.node_selector),
        tolerations=tuple(parse_toleration(t) for t in options.tolerations),
        service_account=options.service_account,
        image_pull_secrets=tuple(options.image_pull_secrets),
        volumes=tuple(parse_volume(v) for v in options.volumes),
        istio_inject=bool(settings.istio_inject), capture_digest=capture_digest,
        kind=kind, workers=options.workers, timeout=timeout,
        runtime_ref=getattr(options, "runtime_ref", "") or "")


def with_launch_env(options, env):
    """``options`` with a launch's environment (:func:`~fairing_magics.backends.run_env`) added
    to its ``--env``, as the run's pods get it (and as its dry run prints it)."""
    return replace(options, env={**dict(options.env), **env}) if env else options


def training_spec(options, settings, *, name: str, image: str, capture_digest: str = "",
                  namespace: str = "", region: str | None = None,
                  trainjob_field: str = RUNTIME_PATCHES, trainjob_deadline: bool = True) -> dict:
    """The object to create for one run: :func:`render_training` plus storage and AWS env
    (a TrainJob's pod settings in ``trainjob_field``; ``trainjob_deadline``: its Trainer has
    ``spec.activeDeadlineSeconds``, see :func:`.trainjob.render_trainjob`)."""
    opts = job_options(options, settings, name=name, image=image,
                       capture_digest=capture_digest, namespace=namespace)
    spec = render_training(opts, trainjob_field, trainjob_deadline=trainjob_deadline)
    if options.aws_secret:
        extra = aws_env_from_secret(options.aws_secret, region)
        if spec["kind"] == "TrainJob":
            trainer = spec["spec"]["trainer"]
            taken = {e["name"] for e in trainer.get("env", [])}
            trainer.setdefault("env", []).extend(e for e in extra if e["name"] not in taken)
        for template in pod_templates(spec) if spec["kind"] != "TrainJob" else ():
            for container in template["spec"]["containers"]:
                taken = {e["name"] for e in container.get("env", [])}
                container.setdefault("env", []).extend(e for e in extra if e["name"] not in taken)
    if storage_kind(settings.storage) == "folder":
        folder = str(output_folder(settings.storage, name))
        for template in pod_templates(spec):
            pod = template["spec"]
            if any(v["name"] == OUTPUT_VOLUME for v in pod.get("volumes", [])):
                raise ConfigError(f"a volume is already named {OUTPUT_VOLUME}: rename it")
            pod.setdefault("volumes", []).append(
                {"name": OUTPUT_VOLUME, "hostPath": {"path": folder, "type": "DirectoryOrCreate"}})
            for container in pod["containers"]:
                container.setdefault("volumeMounts", []).append(
                    {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR})
    return spec


def check_flags(options, settings) -> None:
    """Refuse the cell's flags that would make no valid object: an unknown ``--kind``, then every
    flag through the same code as the real spec (:func:`training_spec`), with a stand-in name and
    image. Pure; the pipeline calls it on every backend, so a flag is checked the same way
    wherever the run goes."""
    if (options.kind or "job").lower() not in TRAINING_KINDS:
        raise ConfigError(f"--kind {options.kind!r} is not one of {', '.join(TRAINING_KINDS)}")
    training_spec(options, settings, name="check-000000", image="check", namespace="check")


def pod_templates(spec: dict) -> Iterator[dict]:
    """Every pod template of a Job, TFJob or PyTorchJob dict (of a TrainJob: its pod patch)."""
    if spec["kind"] == "TrainJob":
        yield from node_pod_patches(spec)
        return
    if spec["kind"] == "Job":
        yield spec["spec"]["template"]
        return
    for replica in spec["spec"][_REPLICA_KEYS[spec["kind"]]].values():
        yield replica["template"]


def describe_cluster_plan(options, settings, bundle, *, name: str) -> str:
    """``--dry-run`` text: where the run would go and the YAML that would be submitted.

    The run's object name gets a new random suffix for each real run; here it is ``-dryrun``.
    The image is shown by repository: its digest is known once it is built.
    """
    object_name = unique_name(name, suffix=DRY_RUN_SUFFIX)
    if bundle is not None:
        options = with_launch_env(options, run_env(bundle, options))
    registry = (options.registry or settings.registry or "REGISTRY").rstrip("/")
    image = f"{registry}@sha256:<digest-of-the-built-image>"
    namespace = options.namespace or settings.namespace
    context = options.context or settings.context
    trainjob_api, trainjob_lines = None, []
    if (options.kind or "job").lower() == "trainjob":
        trainjob_api, trainjob_lines = _dry_run_trainjob(options, settings, context, namespace)
    spec = training_spec(options, settings, name=object_name, image=image,
                         capture_digest=bundle.digest if bundle is not None else "",
                         namespace=namespace,
                         trainjob_field=trainjob_api.field if trainjob_api else RUNTIME_PATCHES,
                         trainjob_deadline=trainjob_api.deadline if trainjob_api else True)
    where = storage_kind(settings.storage)
    if where == "s3":
        outputs = f"uploaded by the pod to {storage_for(settings.storage).run_uri(object_name)}"
    elif where == "folder":
        outputs = ("written through a hostPath volume to "
                   f"{output_folder(settings.storage, object_name)}")
    else:
        outputs = "not brought back (no --storage set)"
    lines = [
        f"Kubernetes: would create {spec['kind']} {object_name} (a new random suffix per run) in "
        f"namespace {namespace or '(the context or pod namespace)'}, "
        f"context {context or '(current)'}",
        f"Outputs and errors: {outputs}",
        *([trainjob_api.describe()] if trainjob_api else []),
        *trainjob_lines,
        "",
        to_yaml(spec).rstrip("\n"),
    ]
    return "\n".join(lines)


def _dry_run_trainjob(options, settings, context: str, namespace: str):
    """The TrainJob API the real run would find (read from the cluster when it can be reached:
    reads only) and what the real run would say or refuse about pull secrets and ``--timeout``."""
    from fairing_magics.backends.kubernetes.trainjob_api import (
        deadline_notice,
        pull_secret_carrier,
    )
    from fairing_magics.errors import ClusterError
    from fairing_magics.kube.access import load_cluster_access

    try:
        access = load_cluster_access(context=context or None, namespace=namespace or None)
    except (ClusterError, ConfigError):
        access = None  # no cluster here: the plan says the field is assumed
    try:
        api = dry_run_trainjob_api(context, access)  # a cluster that does not answer: assumed
        lines = []
        timeout = None if options.timeout is None else max(1, math.ceil(options.timeout))
        if deadline_notice(api, timeout):
            lines.append("Note: " + deadline_notice(api, timeout))
        if access is not None and api.detected:
            try:
                carried = pull_secret_carrier(access, api, namespace or access.namespace,
                                              options.service_account,
                                              tuple(options.image_pull_secrets))
                if carried:
                    lines.append("Note: " + carried)
            except ConfigError as exc:
                lines.append(f"The real run would be refused: {exc}")
        return api, lines
    finally:
        if access is not None:
            access.close()
