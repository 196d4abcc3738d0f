"""The local deployer end to end: serve.py really runs as a subprocess on 127.0.0.1 and the
Endpoint talks HTTP to it. Every server is stopped by its PID when its test ends."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.deploy import EndpointBook, PredictionError, deploy, undeploy
from fairing_magics.errors import ConfigError, DeployError
from fairing_magics.storage import LocalStorage
from tests.deploy.conftest import alive


@pytest.fixture(scope="module")
def served(tmp_path_factory, linreg):
    """One endpoint for the prediction tests of this module: (endpoint, model, rows, events)."""
    model, x = linreg
    settings = Settings(home=tmp_path_factory.mktemp("served") / "home", ui="text")
    book, events = EndpointBook(), []
    endpoint = deploy(model, name="linreg", backend="local", settings=settings, book=book,
                      emit=events.append)
    yield endpoint, model, x, events
    endpoint.delete()


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_predictions_equal_the_kernels_model_for_lists_numpy_and_dataframes(served):
    endpoint, model, x, _ = served
    expected = model.predict(x)
    from_numpy = endpoint.predict(x)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.shape == expected.shape
    assert np.allclose(from_numpy, expected, rtol=0, atol=1e-12)
    assert np.allclose(endpoint.predict(x.tolist()), expected, rtol=0, atol=1e-12)
    assert np.allclose(endpoint.predict(pd.DataFrame(x)), expected, rtol=0, atol=1e-12)
    assert np.allclose(endpoint.predict(x[:1]), expected[:1], rtol=0, atol=1e-12)  # one row


def test_endpoint_shape_url_status_logs_and_events(served):
    endpoint, _, _, events = served
    assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.status == "Ready"
    assert endpoint.predict_url == f"{endpoint.url}/v1/models/linreg:predict"
    assert "LinearRegression" in repr(endpoint) and "Ready" in endpoint._repr_html_()
    assert "listening on" in endpoint.logs()
    stages = [(e.stage, e.state) for e in events if isinstance(e, ev.StageChanged)]
    assert stages[:4] == [("package", "running"), ("package", "done"), ("start", "running"),
                          ("start", "done")]
    # readiness polling is the "ready" stage, with an attempt count, not access-log lines
    assert stages[4] == ("ready", "running") and stages[-1] == ("ready", "done")
    assert set(stages[4:-1]) == {("ready", "running")}
    done = [e for e in events
            if isinstance(e, ev.StageChanged) and e.stage == "ready" and e.state == "done"]
    assert done[0].detail.endswith(("1 attempt", "attempts"))
    finished = [e for e in events if isinstance(e, ev.Finished)]
    assert (len(finished) == 1 and finished[0].phase == ev.SUCCEEDED
            and endpoint.url in finished[0].summary)
    assert any(isinstance(e, ev.LogLines) and "ready in" in e.lines[0] for e in events)
    endpoint.predict([[1.0, 2.0, 3.0]])
    after = events[events.index(finished[0]) + 1:]
    assert not any(isinstance(e, ev.LogLines) and "POST" in line for e in after for line in e.lines)
    assert "POST /v1/models/linreg:predict" in endpoint.logs()  # the log keeps them


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b'{"rows": [[1, 2, 3]]}', "instances"),
    (b"[1, 2, 3]", "object"),
    (b'{"instances": [[1, 2, 3], [4, 5]]}', "same shape"),
    (b'{"instances": [[1, 2]]}', ""),  # the model's own ValueError (2 features, 3 expected)
])
def test_bad_request_bodies_get_400_json_through_the_endpoint_and_plain_http(
        served, body, fragment):
    endpoint, _, _, _ = served
    with pytest.raises(PredictionError) as caught:
        endpoint.request(body)
    assert caught.value.status == 400 and fragment in str(caught.value)
    status, reply = _post(endpoint.predict_url, body)
    assert status == 400 and set(reply) == {"error"} and "Traceback" not in reply["error"]


def test_unknown_model_name_is_404_json(served):
    endpoint, _, _, _ = served
    status, reply = _post(f"{endpoint.url}/v1/models/other:predict", b'{"instances": [[1, 2, 3]]}')
    assert status == 404 and "error" in reply


def _crashing_model():
    class CorruptWeights:  # defined in a function: cloudpickle ships it by value
        def __init__(self):
            self.weights = "corrupt"

        def __setstate__(self, state):
            raise RuntimeError("the weights file is corrupt")

        def predict(self, x):  # pragma: no cover - never loaded
            return x

    return CorruptWeights()


def test_a_server_that_crashes_on_start_fails_with_its_log_and_leaves_nothing(settings, book):
    events = []
    with pytest.raises(DeployError) as caught:
        deploy(_crashing_model(), name="broken", settings=settings, book=book, emit=events.append)
    message = str(caught.value)
    assert "exited with code 2" in message and "the weights file is corrupt" in message
    assert any("corrupt" in line for line in caught.value.last_lines)
    assert book.get("broken") is None
    pids = [int(e.detail.split()[1]) for e in events
            if isinstance(e, ev.PhaseChanged) and e.detail.startswith("pid")]
    assert len(pids) == 1 and not alive(pids[0])
    assert [e.phase for e in events if isinstance(e, ev.Finished)] == [ev.FAILED]


def test_redeploy_rolls_out_a_model_from_a_run_and_stops_the_old_server(settings, book, linreg):
    first_model, x = linreg
    endpoint = deploy(first_model, name="roll", settings=settings, book=book, emit=lambda e: None)
    old_pid, old_url = endpoint.server.pid, endpoint.url
    assert np.allclose(endpoint.predict(x), first_model.predict(x))

    second_model = LinearRegression().fit(x, x[:, 0] * 3.0 - 1.0)
    run_dir = LocalStorage(settings.home).run_dir("roll-train-abc123")
    run_dir.mkdir(parents=True)
    (run_dir / "outputs.pkl").write_bytes(cloudpickle.dumps({"model": second_model}))
    again = deploy(None, from_run="roll-train", name="roll", settings=settings, book=book,
                   emit=lambda e: None)

    assert again is endpoint and endpoint.revision == 2 and endpoint.source == "run roll-train"
    assert np.allclose(endpoint.predict(x), second_model.predict(x))
    assert not np.allclose(second_model.predict(x), first_model.predict(x))
    assert not alive(old_pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{old_url}/healthz", timeout=2)


def test_a_failed_redeploy_keeps_the_running_model(settings, book, linreg):
    model, x = linreg
    endpoint = deploy(model, name="keep", settings=settings, book=book, emit=lambda e: None)
    with pytest.raises(DeployError):
        deploy(_crashing_model(), name="keep", settings=settings, book=book, emit=lambda e: None)
    assert book.get("keep") is endpoint and endpoint.status == "Ready"
    assert np.allclose(endpoint.predict(x), model.predict(x))


def test_delete_and_undeploy_leave_nothing(settings, book, linreg):
    model, x = linreg
    endpoint = deploy(model, name="gone", settings=settings, book=book, emit=lambda e: None)
    pid, url = endpoint.server.pid, endpoint.url
    assert undeploy("gone", book=book) == "endpoint gone (local) deleted"
    assert (not alive(pid) and book.all() == [] and endpoint.status == "Deleted"
            and endpoint.url == "")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/healthz", timeout=2)
    with pytest.raises(DeployError, match="was deleted"):
        endpoint.predict(x)
    endpoint.delete()  # twice is harmless
    with pytest.raises(ConfigError, match="no endpoint 'gone'"):
        undeploy("gone", book=book)


def test_flags_are_checked_before_anything_runs(settings, book, linreg):
    model, _ = linreg
    with pytest.raises(ConfigError):
        deploy(model, name="Bad_Name", settings=settings, book=book, emit=lambda e: None)
    with pytest.raises(ConfigError, match="cannot serve models yet"):
        deploy(model, name="ok", backend="slurm", settings=settings, book=book, emit=lambda e: None)
    assert not (settings.home / "endpoints").exists()
