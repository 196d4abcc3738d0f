"""KServe's stock sklearn runtime on the emulated cluster: a stand-in image and its
ClusterServingRuntime.

:func:`build_sklearnserver_image` builds, with the project's own image builder (AppendBuilder on the
debootstrapped python base, no Docker), an image holding the real ``kserve`` package from PyPI,
scikit-learn and joblib at the kernel's versions, and :mod:`tests.harness.kserve_sklearnserver` as
its entrypoint; then pushes it to the cluster's registry. The dependency layer (about 450 MB
unpacked) is cached by the builder under ``~/.cache`` like any dependency layer: a cold build
downloads and compresses it once, later sessions only push it.

:func:`sklearn_runtime` is the ``kserve-sklearnserver`` ClusterServingRuntime as KServe ships it
(format ``sklearn``, autoSelect, protocols v1/v2, ``--model_name={{.Name}}
--model_dir=/mnt/models --http_port=8080``), with the stand-in as its image.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

KSERVE_VERSION = "0.21.0"
STANDIN_DIR = "/opt/kserve-standin"
SERVER_FILE = "kserve_sklearnserver.py"
REPOSITORY = "kserve/sklearnserver"


def standin_requirements() -> list[str]:
    """kserve from PyPI, and scikit-learn/joblib at the kernel's versions (the test compares
    predictions with the kernel's; real runtimes bring their own versions)."""
    return [f"kserve=={KSERVE_VERSION}", f"scikit-learn=={version('scikit-learn')}",
            f"joblib=={version('joblib')}"]


def build_sklearnserver_image(registry_host: str, base_image: str) -> str:
    """Build and push the stand-in; return ``registry/kserve/sklearnserver@sha256:...``."""
    from fairing_magics.config import Settings
    from fairing_magics.image.base import base_python
    from fairing_magics.image.deps import Target, dependency_layer
    from fairing_magics.image.layout import DEPS_DIR
    from fairing_magics.image.publish import ImageService
    from fairing_magics.oci import append_layers, layer_from_entries, parse_reference
    from fairing_magics.oci.layer import entries_from_members

    settings = Settings(registry=f"{registry_host}/{REPOSITORY}", base_image=base_image,
                        insecure_registries=(registry_host,))
    images = ImageService(settings)
    base = images.bases.resolve(parse_reference(base_image))
    target = Target(python=base_python(base) or "3.11", platform=base.platform)
    deps = dependency_layer(standin_requirements(), target, installer=images.append.installer,
                            cache_dir=images.append.cache_dir)
    source = (Path(__file__).resolve().parent / SERVER_FILE).read_bytes()
    server = layer_from_entries(entries_from_members({SERVER_FILE: source}, STANDIN_DIR),
                                "kserve sklearnserver stand-in")
    image = append_layers(base, [deps, server],
                          env={"PYTHONPATH": DEPS_DIR, "PYTHONUNBUFFERED": "1"},
                          entrypoint=["python3", f"{STANDIN_DIR}/{SERVER_FILE}"], cmd=[])
    return str(images.publisher.publish(image, parse_reference(f"{registry_host}/{REPOSITORY}")))

def sklearn_runtime(image: str) -> dict:
    """The ``kserve-sklearnserver`` ClusterServingRuntime with ``image``."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime",
        "metadata": {"name": "kserve-sklearnserver"},
        "spec": {
            "annotations": {"prometheus.kserve.io/port": "8080",
                            "prometheus.kserve.io/path": "/metrics"},
            "supportedModelFormats": [{"name": "sklearn", "version": "1", "autoSelect": True,
                                       "priority": 1}],
            "protocolVersions": ["v1", "v2"],
            "containers": [{
                "name": "kserve-container", "image": image,
                "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                              "limits": {"cpu": "1", "memory": "2Gi"}},
            }],
        },
    }
