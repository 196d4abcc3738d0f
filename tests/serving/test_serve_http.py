"""serve.py as a real subprocess on 127.0.0.1: the V1 protocol, conversion, errors, lifecycle."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time

import numpy as np
import pandas as pd

from tests.serving import models
from tests.serving.conftest import fit_linear, write_model_dir

ROWS = [[0.1, 0.2, 0.3], [1, 2, 3], [-4.5, 0, 12.25]]


def assert_json_error(reply, status, *fragments):
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    message = reply.json["error"]
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message
    return message


# ----------------------------------------------------------------------------- the V1 protocol


def test_model_metadata_list_and_health(lin_server):
    assert lin_server.request("GET", "/v1/models/lin").json == {"name": "lin", "ready": True}
    assert lin_server.request("GET", "/v1/models").json == {"models": ["lin"]}
    assert lin_server.request("GET", "/healthz").json == {"status": "alive"}
    ready = lin_server.request("GET", "/readyz")
    assert (ready.status, ready.json) == (200, {"ready": True})


def test_head_and_a_percent_encoded_colon(lin_server, linear_model):
    head = lin_server.request("HEAD", "/v1/models/lin")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "27")
    reply = lin_server.request("POST", "/v1/models/lin%3Apredict", {"instances": ROWS})
    assert reply.json["predictions"] == linear_model.predict(np.array(ROWS)).tolist()


def test_predictions_equal_the_in_process_model(lin_server, linear_model):
    reply = lin_server.predict(ROWS)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json == {"predictions": linear_model.predict(np.array(ROWS)).tolist()}


def test_single_row_and_a_batch_of_100(lin_server, linear_model):
    assert (
        lin_server.predict([[1, 2, 3]]).json["predictions"]
        == linear_model.predict(np.array([[1.0, 2.0, 3.0]])).tolist()
    )
    batch = np.random.RandomState(1).rand(100, 3)
    reply = lin_server.predict(batch.tolist())
    assert reply.json["predictions"] == linear_model.predict(batch).tolist()


def test_inputs_is_accepted_like_instances(lin_server, linear_model):
    reply = lin_server.predict(ROWS, key="inputs")
    assert reply.json["predictions"] == linear_model.predict(np.array(ROWS)).tolist()


def test_keep_alive_serves_many_requests_on_one_connection(lin_server, linear_model):
    conn = http.client.HTTPConnection("127.0.0.1", lin_server.port, timeout=10)
    try:
        sockets = set()
        for row in ROWS:
            conn.request("POST", "/v1/models/lin:predict", json.dumps({"instances": [row]}))
            reply = conn.getresponse()
            body = json.loads(reply.read())
            assert reply.status == 200
            assert (
                body["predictions"] == linear_model.predict(np.array([row], dtype=float)).tolist()
            )
            sockets.add(id(conn.sock))
        assert len(sockets) == 1
    finally:
        conn.close()


def test_chunked_request_body(lin_server, linear_model):
    conn = http.client.HTTPConnection("127.0.0.1", lin_server.port, timeout=10)
    try:
        body = json.dumps({"instances": ROWS}).encode()
        conn.request(
            "POST", "/v1/models/lin:predict", body=iter([body[:10], body[10:]]), encode_chunked=True
        )
        reply = conn.getresponse()
        assert reply.status == 200
        assert (
            json.loads(reply.read())["predictions"] == linear_model.predict(np.array(ROWS)).tolist()
        )
    finally:
        conn.close()


def test_access_log_has_one_line_per_request(lin_server):
    path = "/v1/models/lin?probe=access-log"
    lin_server.request("GET", path)
    for _ in range(200):  # the line is written just after the answer
        lines = [line for line in lin_server.log().splitlines() if f'"GET {path} HTTP/1.1"' in line]
        if lines:
            break
        time.sleep(0.01)
    assert len(lines) == 1
    assert " 200 " in lines[0] and lines[0].endswith("ms")


# --------------------------------------------------------------------------------- 4xx as JSON


def test_invalid_json_is_400(lin_server):
    assert_json_error(
        lin_server.request("POST", "/v1/models/lin:predict", '{"instances": [1,'),
        400,
        "not valid JSON",
    )


def test_body_that_is_not_utf8_is_400(lin_server):
    assert_json_error(lin_server.request("POST", "/v1/models/lin:predict", b"\xff\xfe{"), 400)


def test_missing_instances_is_400(lin_server):
    reply = lin_server.request("POST", "/v1/models/lin:predict", {"rows": ROWS})
    assert_json_error(reply, 400, '"instances"', "'rows'")


def test_instances_must_be_a_list_and_the_body_an_object(lin_server):
    assert_json_error(
        lin_server.request("POST", "/v1/models/lin:predict", {"instances": 3}),
        400,
        "must be a list",
    )
    assert_json_error(
        lin_server.request("POST", "/v1/models/lin:predict", [ROWS]), 400, "JSON object"
    )


def test_ragged_rows_are_400(lin_server):
    assert_json_error(lin_server.predict([[1, 2, 3], [1, 2]]), 400, "same shape")


def test_shape_error_from_the_model_is_400_with_its_message(lin_server):
    message = assert_json_error(lin_server.predict([[1, 2]]), 400, "2 features", "expecting 3")
    assert message.startswith("the model rejected the instances")
    assert_json_error(lin_server.predict([1, 2, 3]), 400, "Expected 2D array")
    assert_json_error(lin_server.predict([["a", "b", "c"]]), 400, "numeric")


def test_unknown_model_name_is_404(lin_server):
    assert_json_error(lin_server.request("GET", "/v1/models/other"), 404, "'other'", "'lin'")
    assert_json_error(
        lin_server.request("POST", "/v1/models/other:predict", {"instances": ROWS}), 404, "'other'"
    )
    assert_json_error(lin_server.request("GET", "/v2/models/lin/infer"), 404, "no such path")


def test_refused_requests_with_a_body_leave_the_connection_usable(lin_server):
    conn = http.client.HTTPConnection("127.0.0.1", lin_server.port, timeout=10)
    body = json.dumps({"instances": ROWS})
    try:
        for method, path, status in [
            ("POST", "/v1/models/other:predict", 404),
            ("POST", "/nowhere", 404),
            ("PUT", "/v1/models/lin:predict", 405),
            ("POST", "/v1/models/lin:predict", 200),
        ]:
            conn.request(method, path, body)
            reply = conn.getresponse()
            assert (reply.status, reply.getheader("Connection")) == (status, None)
            assert json.loads(reply.read())
    finally:
        conn.close()


def test_wrong_method_is_405_with_allow(lin_server):
    reply = lin_server.request("GET", "/v1/models/lin:predict")
    assert_json_error(reply, 405, "use POST")
    assert reply.headers["allow"] == "POST"
    reply = lin_server.request("POST", "/v1/models/lin", {"instances": ROWS})
    assert_json_error(reply, 405, "use GET")
    assert reply.headers["allow"] == "GET"
    assert_json_error(lin_server.request("DELETE", "/healthz"), 405)


def test_body_too_large_is_413_and_the_connection_still_works(lin_server, linear_model):
    big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * 5000}).encode()
    assert len(big) > 65536
    conn = http.client.HTTPConnection("127.0.0.1", lin_server.port, timeout=10)
    try:
        conn.request("POST", "/v1/models/lin:predict", big)
        reply = conn.getresponse()
        assert reply.status == 413
        assert "65536" in json.loads(reply.read())["error"]
        conn.request("POST", "/v1/models/lin:predict", json.dumps({"instances": ROWS}))
        reply = conn.getresponse()
        assert reply.status == 200
        reply.read()
    finally:
        conn.close()


def test_oversized_expect_100_continue_is_refused_before_the_body(lin_server):
    with socket.create_connection(("127.0.0.1", lin_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/models/lin:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 999999999\r\nExpect: 100-continue\r\n\r\n"
        )
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert "FAIRING_MAX_BODY_BYTES" in json.loads(body)["error"]


def test_missing_content_length_is_411(lin_server):
    with socket.create_connection(("127.0.0.1", lin_server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/lin:predict HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411 ")
    assert "Content-Length" in json.loads(body)["error"]


def test_malformed_request_line_gets_a_json_400(lin_server):
    with socket.create_connection(("127.0.0.1", lin_server.port), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"]


# ------------------------------------------------------------------ numpy and pandas conversion


def test_dataframe_model_gets_a_dataframe_with_its_columns(serve_model):
    server = serve_model(models.ReportsInput())
    kind, columns, records = server.predict([[1, 2, 3]]).json["predictions"]
    assert (kind, columns, records) == ("DataFrame", ["a", "b", "c"], [{"a": 1, "b": 2, "c": 3}])
    # records in any key order come in the fitted column order; extra keys are dropped
    reply = server.predict([{"c": 3, "a": 1, "b": 2, "extra": 0}])
    assert reply.json["predictions"] == ["DataFrame", ["a", "b", "c"], [{"a": 1, "b": 2, "c": 3}]]
    # columnar inputs
    reply = server.predict({"b": [2, 5], "a": [1, 4], "c": [3, 6]}, key="inputs")
    assert reply.json["predictions"][2] == [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]
    assert_json_error(server.predict([{"a": 1, "b": 2}]), 400, "lack the feature(s) c")


def test_sklearn_model_fitted_on_a_dataframe(serve_model):
    model = fit_linear(columns=["x1", "x2", "x3"])
    server = serve_model(model)
    expected = model.predict(pd.DataFrame(ROWS, columns=["x1", "x2", "x3"])).tolist()
    assert server.predict(ROWS).json["predictions"] == expected
    records = [dict(zip(["x3", "x1", "x2"], [r[2], r[0], r[1]], strict=True)) for r in ROWS]
    assert server.predict(records).json["predictions"] == expected
    assert "X does not have valid feature names" not in server.log()


def test_plain_callable_model_gets_a_numpy_array_of_nested_lists(serve_model):
    images = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    server = serve_model(lambda x: (type(x).__name__, x.shape, x.sum(axis=(1, 2))))
    kind, shape, sums = server.predict(images.tolist()).json["predictions"]
    assert (kind, shape, sums) == ("ndarray", [2, 3, 4], images.sum(axis=(1, 2)).tolist())


def test_numpy_and_pandas_are_not_required(serve_model):
    model = lambda rows: (type(rows).__name__, tuple(sum(row) for row in rows))  # noqa: E731
    server = serve_model(model, without=("numpy", "pandas", "sklearn"))
    assert server.predict([[1, 2], [3, 4.5]]).json == {"predictions": ["list", [3, 7.5]]}
    assert_json_error(server.predict([[1, 2], "x"]), 500, "TypeError")


def test_outputs_are_converted_to_json(serve_model):
    value = {
        "array": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "scalar": np.float32(0.5),
        "flag": np.bool_(True),
        "tuple": (1, np.int32(2)),
        "nan": [float("nan"), np.inf],
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "series": pd.Series([0.25, 0.75]),
    }
    reply = serve_model(models.Returns(value)).predict([[0]])
    assert reply.status == 200
    assert reply.json["predictions"] == {
        "array": [[1, 2], [3, 4]],
        "scalar": 0.5,
        "flag": True,
        "tuple": [1, 2],
        "nan": [None, None],
        "frame": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        "series": [0.25, 0.75],
    }


def test_unexpected_error_is_500_without_traceback_and_logged(serve_model):
    server = serve_model(models.Fails())
    reply = server.predict([[1]])
    message = assert_json_error(reply, 500, "RuntimeError", "secret internal state 42")
    assert 'File "' not in message
    log = server.log()
    assert "Traceback (most recent call last)" in log
    assert "in predict\nRuntimeError: secret internal state 42" in log


# ------------------------------------------------------------------------------------ predictors


def test_predictor_with_pre_and_post_processing(serve_model):
    rows = [{"height": 1.0, "width": 2.0}, {"height": 0.1, "width": 0.2}]
    two_features = fit_two_features()
    server = serve_model(two_features, predictor=models.LabelPredictor)
    expected = two_features.predict(np.array([[10.0, 20.0], [1.0, 2.0]]))
    predictions = server.predict(rows).json["predictions"]
    assert [p["score"] for p in predictions] == [round(float(v), 6) for v in expected]
    assert [p["label"] for p in predictions] == ["big" if v > 50 else "small" for v in expected]
    assert_json_error(server.predict([{"height": 1}]), 400, "needs height and width")


def test_function_predictor(serve_model, linear_model):
    server = serve_model(linear_model, predictor=models.doubled_predict)
    expected = (linear_model.predict(np.array(ROWS)) * 2).tolist()
    assert server.predict(ROWS).json["predictions"] == expected


def fit_two_features():
    from sklearn.linear_model import LinearRegression

    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    return LinearRegression().fit(x, x @ np.array([2.0, 1.5]) + 1.0)


# --------------------------------------------------------------------------------- the lifecycle


def test_alive_but_not_ready_while_loading(serve_model):
    server = serve_model(models.SlowToLoad(delay=3.0), name="slow", ready=False)
    assert server.request("GET", "/healthz").status == 200
    assert server.request("GET", "/readyz").status == 503
    assert server.request("GET", "/v1/models/slow").json == {"name": "slow", "ready": False}
    assert_json_error(server.predict([[1, 2]]), 503, "not ready")
    server.wait_ready()
    assert server.request("GET", "/v1/models/slow").json == {"name": "slow", "ready": True}
    assert server.predict([[1, 2]]).json == {"predictions": [3]}


def test_model_that_crashes_on_load_exits_non_zero_with_the_reason(serve_model):
    server = serve_model(models.CrashesOnLoad(), ready=None)
    assert server.process.wait(30) == 2
    log = server.log()
    assert "cannot serve model 'model'" in log
    assert "RuntimeError: the weights file is corrupt" in log.splitlines()[-1]


def test_missing_model_file_exits_non_zero(serve_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    server = serve_model(None, model_dir=empty, ready=None)
    assert server.process.wait(30) == 2
    assert "there is no model.pkl in" in server.log()


def test_model_needing_a_missing_module_says_what_to_install(serve_model, tmp_path):
    folder = tmp_path / "bymodule"
    folder.mkdir()
    # a pickle that refers to a module the server cannot import (as an uninstalled package would)
    (folder / "model.pkl").write_bytes(b"cnot_a_pkg_x\nModel\n.")  # protocol 0: a GLOBAL, STOP
    server = serve_model(None, model_dir=folder, ready=None)
    assert server.process.wait(30) == 2
    last = server.log().splitlines()[-1]
    assert "No module named 'not_a_pkg_x'" in last and "Install the packages" in last


def test_a_model_saved_on_another_python_says_which_base_image_to_use(serve_model, tmp_path):
    folder = tmp_path / "otherpython"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"cnot_a_pkg_x\nModel\n.")
    (folder / "fairing_model.json").write_text('{"python": "3.99.1"}')
    server = serve_model(None, model_dir=folder, ready=None)
    assert server.process.wait(30) == 2
    assert "saved on Python 3.99.1" in server.log() and "Python 3.99 (--base-image)" in server.log()


def test_object_without_predict_is_refused(serve_model):
    server = serve_model({"weights": [1, 2]}, ready=None)
    assert server.process.wait(30) == 2
    assert "has no predict() method" in server.log()


def test_sigterm_finishes_requests_in_flight_then_exits_zero(serve_model, tmp_path):
    started = tmp_path / "predict-started"
    server = serve_model(models.Slow(str(started)))
    replies = []
    worker = threading.Thread(target=lambda: replies.append(server.predict([[1, 2]])))
    worker.start()
    for _ in range(500):
        if started.exists():
            break
        time.sleep(0.01)
    assert started.exists(), server.log()
    os.kill(server.pid, signal.SIGTERM)  # predict() is still sleeping
    assert server.process.wait(15) == 0
    worker.join(10)
    assert replies and replies[0].status == 200 and replies[0].json == {"predictions": [3]}
    assert replies[0].headers["connection"] == "close"
    log = server.log()
    assert log.index("stopping") < log.index('"POST /v1/models/model:predict HTTP/1.1" 200')
    assert log.rstrip().endswith("stopped")


def test_sigterm_while_loading_exits_promptly(serve_model):
    server = serve_model(models.SlowToLoad(delay=30.0), ready=False)
    os.kill(server.pid, signal.SIGTERM)
    assert server.process.wait(10) == 128 + signal.SIGTERM


def test_local_modules_in_the_model_dir_are_importable(serve_model, tmp_path):
    folder = write_model_dir(tmp_path / "withfiles", models.ImportsHelper())
    (folder / "files").mkdir()
    (folder / "files" / "helper_mod_for_serving.py").write_text("VALUE = 7\n")
    server = serve_model(None, model_dir=folder)
    assert server.predict([[1]]).json == {"predictions": [7]}
