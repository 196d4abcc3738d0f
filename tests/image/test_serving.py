"""The serving image's payload (pure): the model folder's layer and the config that serves it."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from fairing_magics.deploy.model import package_model
from fairing_magics.image.serving import MODEL_DIR, model_payload
from fairing_magics.oci import append_layers


def _model():
    class Doubler:  # defined in a function: cloudpickle ships it by value
        def predict(self, x):
            return [2 * v for v in x]

    return Doubler()


@pytest.fixture(scope="module")
def package():
    return package_model(_model())


def test_model_layer_holds_the_model_folder_and_the_server(package):
    layer = model_payload(package).layer()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.data))) as tar:
        names = set(tar.getnames())
        assert {f"fairing/model/{n}" for n in package.members} <= names
        served = tar.extractfile("fairing/model/serve.py").read()
    assert served == package.members["serve.py"]
    assert model_payload(package).layer().digest == layer.digest  # reproducible
    assert "model layer" in layer.description
    assert package.digest.split(":")[1][:12] in layer.description


def test_serving_config_runs_serve_py_on_port_8080(package):
    payload = model_payload(package)
    config = payload.config({"PYTHONPATH": "/opt/lib:/fairing/deps"}, with_deps=True)
    assert config["cmd"] == ["python3", f"{MODEL_DIR}/serve.py", MODEL_DIR]
    assert config["workdir"] == MODEL_DIR
    assert config["env"]["PORT"] == "8080" and config["env"]["FAIRING_MODEL_DIR"] == MODEL_DIR
    # ours first, the base's kept once
    assert config["env"]["PYTHONPATH"] == "/fairing/deps:/opt/lib"
    assert config["labels"]["fairing.model.digest"] == package.digest
    assert "PYTHONPATH" not in payload.config({}, with_deps=False)["env"]
    assert payload.requirements == package.requirements
    assert "cloudpickle" in payload.requirements[-1]
    image = append_layers(None, [payload.layer()], **config)
    assert image.config["config"]["Cmd"] == config["cmd"] and image.labels == config["labels"]
