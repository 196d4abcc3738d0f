"""The docker deployer without an engine: its flag checks, its container options and its dry run."""

from __future__ import annotations

import importlib.util

import pytest

from fairing_magics.config import Settings
from fairing_magics.deploy import EndpointBook, deploy, plan_deploy
from fairing_magics.deploy.docker import (
    ENDPOINT_LABEL,
    DockerDeployer,
    container_options,
    free_port,
)
from fairing_magics.errors import ConfigError
from fairing_magics.image.publish import NO_REGISTRY
from tests.harness import need


@pytest.fixture
def docker_settings(tmp_path):
    return Settings(home=tmp_path / "home", ui="text", backend="docker",
                    registry="127.0.0.1:5999/me/serve")


@pytest.mark.parametrize("options, fragment", [
    ({"replicas": 2}, "--replicas 2: the docker backend runs one container"),
    ({"kserve": True}, "--kserve makes a KServe InferenceService, which needs a cluster"),
    ({"runtime": "sklearn"}, "--runtime sklearn picks a KServe runtime on a cluster"),
    ({"expose": "loadbalancer"}, "--expose loadbalancer is how a Kubernetes Service is reached"),
    ({"cpu": "500m"}, "--cpu and --memory are pod resources on Kubernetes"),
    ({"memory": "1Gi"}, "--cpu and --memory are pod resources on Kubernetes"),
])
def test_cluster_only_flags_are_refused_each_with_what_to_do(docker_settings, options, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("+", r"\+")) as caught:
        DockerDeployer().check(docker_settings, **options)
    assert "drop" in str(caught.value)


def test_a_missing_registry_is_refused_as_on_kubernetes(tmp_path):
    with pytest.raises(ConfigError) as caught:
        DockerDeployer().check(Settings(home=tmp_path, backend="docker"))
    assert str(caught.value) == NO_REGISTRY


def test_the_defaults_pass_and_check_needs_no_engine(docker_settings, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    DockerDeployer().check(docker_settings)  # the engine is reached in start(), not here


def test_no_engine_fails_before_anything_is_built(docker_settings, registry, monkeypatch, linreg):
    need(importlib.util.find_spec("docker") is not None, "the docker package is not installed")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    model, _ = linreg
    stages = []
    # The base image's registry answers (deploy checks that first); the engine does not.
    settings = docker_settings.with_changes(base_image=f"{registry.host}/base/python:3.11",
                                            insecure_registries=(registry.host,))
    with pytest.raises(ConfigError, match="No Docker Engine answers .* use --backend local"):
        deploy(model, name="nope", settings=settings, book=EndpointBook(),
               emit=lambda e: stages.append(getattr(e, "stage", None)))
    assert "build" not in stages


def test_container_options_name_the_endpoint_and_use_host_networking():
    port = free_port()
    options = container_options("linreg", port, model_digest="sha256:" + "a" * 64)
    assert options["network_mode"] == "host" and options["init"] is True and \
        options["detach"] is True
    assert options["environment"] == {"HOST": "127.0.0.1", "PORT": str(port),
                                      "FAIRING_MODEL_NAME": "linreg"}
    assert options["labels"][ENDPOINT_LABEL] == "linreg"
    assert options["labels"]["fairing.endpoint.url"] == f"http://127.0.0.1:{port}"
    assert options["name"].startswith("fairing-endpoint-linreg-")
    # a redeploy runs beside the old one
    assert container_options("linreg", port)["name"] != options["name"]


def test_dry_run_prints_the_plan_and_touches_nothing(docker_settings, monkeypatch, linreg):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    model, _ = linreg
    plan = plan_deploy(model, name="linreg", backend="docker", settings=docker_settings)
    assert plan.startswith("Dry run of endpoint 'linreg' on the docker backend")
    assert "scikit-learn==" in plan and "Registry: 127.0.0.1:5999/me/serve" in plan
    assert "127.0.0.1:5999/me/serve@sha256:<digest" in plan and "fairing.endpoint=linreg" in plan
    # the same serving image as on a cluster, said the same way: its package index too
    kube = plan_deploy(model, name="linreg", backend="kubernetes", settings=docker_settings)
    image_lines = [line for line in plan.splitlines()
                   if line.startswith(("Registry", "Base image", "Layers", "Package index"))]
    assert len(image_lines) == 4 and all(line in kube.splitlines() for line in image_lines)
    from_run = plan_deploy(None, name="linreg", backend="docker", settings=docker_settings,
                           from_run="train-1")
    assert "the model's pinned packages" in from_run
    with pytest.raises(ConfigError, match="--kserve"):
        plan_deploy(model, name="linreg", backend="docker", settings=docker_settings, kserve=True)
    assert not (docker_settings.home / "endpoints").exists()
