"""Models and predictors the serving tests pickle. They are pickled by value (cloudpickle's
``register_pickle_by_value``), as a notebook's classes are, so the server process need not import
this module."""

import time

import numpy as np


class SlowToLoad:
    """A model whose unpickling takes ``delay`` seconds: the server is alive but not ready."""

    def __init__(self, delay):
        self.delay = delay

    def __setstate__(self, state):
        time.sleep(state["delay"])
        self.__dict__.update(state)

    def predict(self, x):
        return np.asarray(x).sum(axis=1)


class CrashesOnLoad:
    def __init__(self):
        self.weights = "corrupt"  # a non-empty state, so unpickling calls __setstate__

    def __setstate__(self, state):
        raise RuntimeError("the weights file is corrupt")

    def predict(self, x):  # pragma: no cover - never loaded
        return x


class ReportsInput:
    """Answers with what the server handed to predict(): its type, columns/shape, dtype."""

    feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    n_features_in_ = 3

    def predict(self, x):
        if hasattr(x, "columns"):
            return [type(x).__name__, list(x.columns), x.to_dict(orient="records")]
        return [type(x).__name__, list(np.shape(x)), str(getattr(x, "dtype", ""))]


class Fails:
    def predict(self, x):
        raise RuntimeError("secret internal state 42")


class Slow:
    """Touches ``marker`` when predict() starts, then takes a second."""

    def __init__(self, marker):
        self.marker = marker

    def predict(self, x):
        open(self.marker, "w").close()
        time.sleep(1.0)
        return np.asarray(x).sum(axis=1)


class Returns:
    """Returns whatever it was built with, to check the JSON conversion of outputs."""

    def __init__(self, value):
        self.value = value

    def predict(self, x):
        return self.value


class LabelPredictor:
    """Pre- and post-processing: records of named features in, labels and scores out."""

    def preprocess(self, instances):
        if not all("height" in row and "width" in row for row in instances):
            raise ValueError("every instance needs height and width")
        return np.array([[row["height"], row["width"]] for row in instances], dtype=float)

    def predict(self, model, x):
        return model.predict(x * 10.0)

    def postprocess(self, predictions):
        return [
            {"label": "big" if p > 50 else "small", "score": round(float(p), 6)}
            for p in predictions
        ]


def doubled_predict(model, x):
    """A plain-function predictor: predict(model, x)."""
    return model.predict(x) * 2


class ImportsHelper:
    def predict(self, x):
        import helper_mod_for_serving

        return [helper_mod_for_serving.VALUE]
