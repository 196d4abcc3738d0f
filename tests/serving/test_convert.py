"""serve.py's pure parts, in process: input conversion, JSON output, the predictor contract."""

from __future__ import annotations

import datetime
import decimal
import json

import numpy as np
import pandas as pd
import pytest

from fairing_magics.runtime import serve


class Fitted:
    def __init__(self, names=None, n_features=None):
        if names is not None:
            self.feature_names_in_ = np.array(names, dtype=object)
        if n_features is not None:
            self.n_features_in_ = n_features

    def predict(self, x):
        return x


def test_rows_become_a_numpy_array():
    x = serve.convert_instances([[1, 2], [3, 4]], Fitted())
    assert isinstance(x, np.ndarray) and x.shape == (2, 2) and x.dtype.kind == "i"


def test_flat_list_is_a_column_for_a_one_feature_model_only():
    assert serve.convert_instances([1.0, 2.0], Fitted(n_features=1)).shape == (2, 1)
    assert serve.convert_instances([1.0, 2.0], Fitted(n_features=2)).shape == (2,)


def test_mixed_rows_keep_numbers_numbers():
    x = serve.convert_instances([["a", 1], ["b", 2]], Fitted())
    assert x.dtype == object and x[0, 1] == 1


def test_rows_records_and_columns_become_frames_with_the_fitted_columns():
    model = Fitted(names=["a", "b"])
    by_rows = serve.convert_instances([[1, 2]], model)
    by_records = serve.convert_instances([{"b": 2, "a": 1}], model)
    by_columns = serve.convert_instances({"b": [2], "a": [1]}, model)
    for frame in (by_rows, by_records, by_columns):
        assert isinstance(frame, pd.DataFrame)
        assert frame.to_dict(orient="records") == [{"a": 1, "b": 2}]


def test_rows_of_the_wrong_width_stay_an_array_for_the_model_to_refuse():
    x = serve.convert_instances([[1, 2, 3]], Fitted(names=["a", "b"]))
    assert isinstance(x, np.ndarray) and x.shape == (1, 3)


def test_conversion_errors_are_bad_requests():
    with pytest.raises(serve.BadRequest, match="same shape"):
        serve.convert_instances([[1, 2], [1]], Fitted())
    with pytest.raises(serve.BadRequest, match="lack the feature"):
        serve.convert_instances([{"a": 1}], Fitted(names=["a", "b"]))
    with pytest.raises(serve.BadRequest, match="instance 1 is a list"):
        serve.convert_instances([{"a": 1, "b": 2}, [1, 2]], Fitted(names=["a", "b"]))


def test_encode_json_converts_numpy_pandas_and_python_values():
    value = {
        "a": np.arange(3, dtype=np.int16),
        "f32": np.float32(1.5),
        "f64": np.float64(2.5),
        "t": (1, 2),
        "s": {3},
        "d": datetime.date(2026, 1, 2),
        "dec": decimal.Decimal("0.5"),
        "idx": pd.Index([1, 2]),
        "nan": np.array([np.nan, 1.0]),
        "inf": float("-inf"),
    }
    assert json.loads(serve.encode_json(value)) == {
        "a": [0, 1, 2],
        "f32": 1.5,
        "f64": 2.5,
        "t": [1, 2],
        "s": [3],
        "d": "2026-01-02",
        "dec": 0.5,
        "idx": [1, 2],
        "nan": [None, 1.0],
        "inf": None,
    }


def test_encode_json_refuses_what_it_cannot_convert_and_says_what_to_do():
    with pytest.raises(TypeError, match="add a postprocess"):
        serve.encode_json({"x": object()})


def test_predictor_contract():
    model = Fitted()

    class Hooks:
        def preprocess(self, instances):
            return [row["v"] for row in instances]

        def postprocess(self, predictions):
            return [p * 10 for p in predictions]

    assert serve.resolve_predictor(model, Hooks).predict_instances([{"v": 1}]) == [10]
    assert serve.resolve_predictor(model, Hooks()).predict_instances([{"v": 2}]) == [20]
    doubled = serve.resolve_predictor(model, lambda m, x: m.predict(x) * 2)
    assert doubled.predict_instances([[1]]).tolist() == [[2]]
    assert serve.resolve_predictor(lambda x: x + 1).predict_instances([1]).tolist() == [2]
    with pytest.raises(serve.LoadFailed, match="no predict"):
        serve.resolve_predictor(42)
    with pytest.raises(serve.LoadFailed, match="expected a function"):
        serve.resolve_predictor(model, 42)

    class NeedsArgs:
        def __init__(self, x):
            pass

        def predict(self, model, x):  # pragma: no cover
            return x

    with pytest.raises(serve.LoadFailed, match="created with no arguments"):
        serve.resolve_predictor(model, NeedsArgs)
