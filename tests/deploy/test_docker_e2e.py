"""Endpoints on the docker backend: the serving image is built and pushed to the real registry,
podman's Docker API pulls it by digest and runs it with host networking, and ``.predict()`` goes
over HTTP to the container. Every test checks, through the engine's container list filtered by
the endpoint label, that nothing is left behind."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.deploy import (
    ENDPOINTS,
    Endpoint,
    EndpointBook,
    PredictionError,
    deploy,
    undeploy,
)
from fairing_magics.deploy.docker import ENDPOINT_LABEL
from fairing_magics.docker_engine import docker_client
from fairing_magics.errors import DeployError
from fairing_magics.image.publish import ImageService
from tests.deploy.test_local import _crashing_model
from tests.harness import clear_user_namespace, ipython_shell

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def engine(docker_api, tmp_path_factory):
    """The engine's client, with DOCKER_HOST pointing the code at it for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", docker_api)
        patch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
        client = docker_client(docker_api)
        yield client
        client.close()


@pytest.fixture(scope="module")
def docker_settings(engine, registry, base_image, tmp_path_factory):
    return Settings(backend="docker", registry=f"{registry.host}/e2e/docker-deploy",
                    base_image=base_image.tag_ref, insecure_registries=(registry.host,), ui="text",
                    home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def images(docker_settings):
    """One image service for the module, as a kernel keeps one (base resolved once, blobs known)."""
    return ImageService(docker_settings)


def containers(engine, name: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"{ENDPOINT_LABEL}={name}"})


@pytest.fixture(scope="module")
def served(engine, docker_settings, images, linreg):
    """One endpoint for the prediction tests: (endpoint, model, rows, events)."""
    model, x = linreg
    book, events = EndpointBook(), []
    endpoint = deploy(model, name="linreg", settings=docker_settings, book=book, emit=events.append,
                      images=images, timeout=300)
    yield endpoint, model, x, events
    endpoint.delete()
    assert containers(engine, "linreg") == []


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_container_predicts_what_the_kernels_model_predicts(served, engine, registry):
    endpoint, model, x, events = served
    expected = model.predict(x)
    assert endpoint.backend == "docker" and endpoint.status == "Ready"
    assert endpoint.url.startswith("http://127.0.0.1:")
    from_numpy = endpoint.predict(x)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.shape == expected.shape
    assert np.allclose(from_numpy, expected, rtol=0, atol=1e-12)
    assert np.allclose(endpoint.predict(x.tolist()), expected, rtol=0, atol=1e-12)
    assert np.allclose(endpoint.predict(pd.DataFrame(x)), expected, rtol=0, atol=1e-12)

    [container] = containers(engine, "linreg")
    assert container.status == "running" and container.id == endpoint.server.container_id
    assert container.image.id and container.attrs["HostConfig"]["NetworkMode"] == "host"
    pulled = container.attrs["Config"]["Image"]
    # the pushed image, by digest
    assert pulled.startswith(f"{registry.host}/e2e/docker-deploy@sha256:")
    assert container.labels["fairing.endpoint.url"] == endpoint.url

    stages = [e.stage for e in events if isinstance(e, ev.StageChanged) and e.state == "done"]
    assert stages == ["package", "build", "push", "pull", "start", "ready"]
    assert any(isinstance(e, ev.LogLines) and any("listening on" in line for line in e.lines)
               for e in events)
    finished = [e for e in events if isinstance(e, ev.Finished)]
    assert len(finished) == 1 and finished[0].phase == ev.SUCCEEDED
    assert "listening on" in endpoint.logs() and "POST /v1/models/linreg:predict" in endpoint.logs()
    assert len(endpoint.logs(tail=1).splitlines()) == 1


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b'{"instances": [[1, 2, 3], [4, 5]]}', "same shape"),
    (b'{"instances": [[1, 2]]}', ""),  # the model's own ValueError (2 features, 3 expected)
])
def test_bad_bodies_get_400_json(served, body, fragment):
    endpoint, _, _, _ = served
    with pytest.raises(PredictionError) as caught:
        endpoint.request(body)
    assert caught.value.status == 400 and fragment in str(caught.value)
    status, reply = _post(endpoint.predict_url, body)
    assert status == 400 and set(reply) == {"error"} and "Traceback" not in reply["error"]


def test_a_server_that_crashes_on_start_fails_with_its_log_and_leaves_no_container(
        engine, docker_settings, images):
    book, events = EndpointBook(), []
    with pytest.raises(DeployError) as caught:
        deploy(_crashing_model(), name="broken", settings=docker_settings, book=book,
               emit=events.append, images=images, timeout=120)
    message = str(caught.value)
    assert "exited with code" in message and "the weights file is corrupt" in message
    assert "container" in message.splitlines()[0]
    assert any("corrupt" in line for line in caught.value.last_lines)
    assert book.get("broken") is None and containers(engine, "broken") == []
    assert [e.phase for e in events if isinstance(e, ev.Finished)] == [ev.FAILED]
    assert ("ready", "failed") in [(e.stage, e.state) for e in events
                                   if isinstance(e, ev.StageChanged)]


def test_redeploy_rolls_the_new_model_out_and_delete_leaves_nothing(
        engine, docker_settings, images, linreg):
    first, x = linreg
    book = EndpointBook()
    endpoint = deploy(first, name="roll", settings=docker_settings, book=book, emit=lambda e: None,
                      images=images)
    try:
        [old] = containers(engine, "roll")
        old_url = endpoint.url
        second = LinearRegression().fit(x, x[:, 0] * 3.0 - 1.0)
        again = deploy(second, name="roll", settings=docker_settings, book=book,
                       emit=lambda e: None, images=images)
        assert again is endpoint and endpoint.revision == 2
        assert np.allclose(endpoint.predict(x), second.predict(x), rtol=0, atol=1e-12)
        assert not np.allclose(second.predict(x), first.predict(x))
        [new] = containers(engine, "roll")
        assert new.id != old.id and endpoint.url != old_url
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{old_url}/healthz", timeout=2)

        with pytest.raises(DeployError):  # a failed redeploy keeps the running model
            deploy(_crashing_model(), name="roll", settings=docker_settings, book=book,
                   emit=lambda e: None, images=images, timeout=120)
        assert [c.id for c in containers(engine, "roll")] == [new.id] and endpoint.status == "Ready"
        assert np.allclose(endpoint.predict(x), second.predict(x), rtol=0, atol=1e-12)
    finally:
        endpoint.delete()
    assert containers(engine, "roll") == [] and endpoint.status == "Deleted" and book.all() == []
    endpoint.delete()  # twice is harmless


def test_undeploy_finds_the_container_of_an_earlier_kernel_by_its_label(
        engine, docker_settings, images, linreg):
    model, _ = linreg
    earlier = EndpointBook()  # the earlier kernel's book; this "kernel" starts with an empty one
    deploy(model, name="orphan", settings=docker_settings, book=earlier, emit=lambda e: None,
           images=images)
    assert len(containers(engine, "orphan")) == 1
    assert undeploy("orphan", settings=docker_settings, backend="docker",
                    book=EndpointBook()) == "endpoint orphan (docker) deleted"
    assert containers(engine, "orphan") == []
    with pytest.raises(Exception, match="no endpoint 'orphan'"):
        undeploy("orphan", settings=docker_settings, backend="docker", book=EndpointBook())


@pytest.fixture
def docker_shell(engine, docker_settings, registry, base_image, tmp_path, monkeypatch, linreg):
    monkeypatch.setenv("FAIRING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRING_UI", "text")
    monkeypatch.chdir(tmp_path)
    ip = ipython_shell()  # one shell per process
    clear_user_namespace(ip)
    ip.run_cell("%unload_ext fairing_magics")
    ip.extension_manager.loaded.discard("fairing_magics")
    assert ip.run_cell("%load_ext fairing_magics").success
    result = ip.run_cell("%fairing_config --backend docker "
                         f"--registry {registry.host}/e2e/magic-deploy "
                         f"--base-image {base_image.tag_ref} --insecure-registry {registry.host}")
    assert result.success, result.error_in_exec
    ip.user_ns["fitted_model"], ip.user_ns["rows"] = linreg
    yield ip
    for endpoint in ENDPOINTS.all():
        endpoint.delete()
    ip.run_cell("%unload_ext fairing_magics")


def test_the_magics_deploy_on_docker_and_dry_run_prints_the_plan(
        docker_shell, engine, linreg, capsys):
    model, x = linreg
    result = docker_shell.run_cell("%fairing_deploy fitted_model --name magic-lr --dry-run")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "docker backend; nothing was built" in out and "fairing.endpoint=magic-lr" in out
    assert "scikit-learn==" in out and "host networking" in out
    assert containers(engine, "magic-lr") == []

    result = docker_shell.run_cell("%fairing_deploy fitted_model --name magic-lr --replicas 2")
    assert not result.success and "--replicas 2" in str(result.error_in_exec)

    result = docker_shell.run_cell("%fairing_deploy fitted_model --name magic-lr")
    assert result.success, result.error_in_exec
    endpoint = result.result
    assert isinstance(endpoint, Endpoint) and endpoint.backend == "docker"
    assert np.allclose(endpoint.predict(x), model.predict(x), rtol=0, atol=1e-12)
    assert "magic-lr ready at http://127.0.0.1:" in capsys.readouterr().out
    assert len(containers(engine, "magic-lr")) == 1
    assert docker_shell.run_cell("%fairing_undeploy magic-lr").success
    assert "endpoint magic-lr (docker) deleted" in capsys.readouterr().out
    assert containers(engine, "magic-lr") == [] and ENDPOINTS.get("magic-lr") is None
