"""Packaging a model into a model folder: pickles, requirements found from them, and where a
model comes from (the kernel, a run's outputs.pkl, a URI). No processes, no network."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import time

import cloudpickle
import numpy as np
import pytest

from fairing_magics.config import Settings
from fairing_magics.deploy.model import (
    MANIFEST_FILE,
    MODEL_FILE,
    PREDICTOR_FILE,
    REQUIREMENTS_FILE,
    SERVER_FILE,
    load_uri_model,
    package_model,
    pick_output,
    pickle_modules,
    resolve_model,
    write_model_folder,
)
from fairing_magics.errors import ConfigError, DeployError
from fairing_magics.storage import LocalStorage


def test_sklearn_model_brings_its_packages_at_the_kernels_versions(linreg):
    model, _ = linreg
    package = package_model(model)
    pins = dict(r.split("==") for r in package.requirements)
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert pins["numpy"] == metadata.version("numpy")
    assert pins["cloudpickle"] == cloudpickle.__version__
    assert "pandas" not in pins  # fitted on an array: serve.py needs no DataFrame
    assert package.members[REQUIREMENTS_FILE].decode().splitlines() == list(package.requirements)
    assert package.description == "LinearRegression (sklearn)"
    assert set(package.members) == {MODEL_FILE, REQUIREMENTS_FILE, SERVER_FILE, MANIFEST_FILE}
    restored = cloudpickle.loads(package.members[MODEL_FILE])
    assert np.array_equal(restored.coef_, model.coef_)


def test_model_fitted_on_a_dataframe_also_needs_pandas(linreg):
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    _, x = linreg
    model = LinearRegression().fit(pd.DataFrame(x, columns=["a", "b", "c"]), x.sum(axis=1))
    assert any(r.startswith("pandas==") for r in package_model(model).requirements)


def test_a_function_using_numpy_is_packaged_by_value_with_numpy():
    def double(x):
        return np.asarray(x) * 2

    package = package_model(double)
    assert {r.split("==")[0] for r in package.requirements} == {"cloudpickle", "numpy"}
    assert package.description == (
        "function test_a_function_using_numpy_is_packaged_by_value_with_numpy.<locals>.double")
    assert "numpy" in pickle_modules(package.members[MODEL_FILE])


def test_predictor_is_pickled_next_to_the_model(linreg):
    model, x = linreg

    def predict(model, rows):
        return model.predict(rows) * 10

    package = package_model(model, predictor=predict)
    hooks = cloudpickle.loads(package.members[PREDICTOR_FILE])
    assert np.allclose(hooks(model, x), model.predict(x) * 10)
    manifest = json.loads(package.members[MANIFEST_FILE])
    assert manifest["predictor"].startswith("function ") and manifest["digest"] == package.digest


def test_same_model_same_digest_and_folder(linreg, tmp_path):
    model, _ = linreg
    first, second = package_model(model), package_model(model)
    assert first.digest == second.digest and first.digest.startswith("sha256:")
    folder = write_model_folder(first, tmp_path / "m")
    assert sorted(os.listdir(folder)) == sorted(first.members)
    assert (folder / SERVER_FILE).read_text().startswith('"""Serve a pickled model')


@pytest.mark.parametrize("thing", [42, "text", {"a": 1}])
def test_what_cannot_predict_is_refused(thing):
    with pytest.raises(ConfigError, match="no predict"):
        package_model(thing)


def test_a_class_is_not_a_model():
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ConfigError, match="create and fit one"):
        package_model(LinearRegression)  # the class, not a fitted estimator


def test_pick_output_takes_the_only_one_or_model():
    assert pick_output({"w": 1}, "run r") == 1
    assert pick_output({"w": 1, "model": 2}, "run r") == 2
    with pytest.raises(DeployError, match="none is called 'model'"):
        pick_output({"w": 1, "b": 2}, "run r")
    with pytest.raises(DeployError, match="--outputs model"):
        pick_output({}, "run r")


def _store_run(root, run, outputs):
    folder = LocalStorage(root).run_dir(run)
    folder.mkdir(parents=True)
    (folder / "outputs.pkl").write_bytes(cloudpickle.dumps(outputs))
    return folder


def test_from_run_by_exact_name_and_by_its_base_name(linreg, tmp_path):
    model, x = linreg
    home = tmp_path / "home"
    _store_run(home, "linreg-aaaaaa", {"model": "old"})
    time.sleep(0.01)
    newest = _store_run(home, "linreg-bbbbbb", {"model": model, "loss": 0.1})
    os.utime(newest, (time.time() + 5, time.time() + 5))
    settings = Settings(home=home)
    found, source = resolve_model(None, from_run="linreg", settings=settings)
    assert np.allclose(found.predict(x), model.predict(x)) and source == "run linreg"
    assert resolve_model(None, from_run="linreg-aaaaaa", settings=settings)[0] == "old"
    with pytest.raises(DeployError, match="no stored model"):
        resolve_model(None, from_run="other", settings=settings)
    with pytest.raises(ConfigError, match="either a model or --from-run"):
        resolve_model(model, from_run="linreg", settings=settings)


def test_model_from_a_uri_of_a_run_folder_or_a_pickle_file(linreg, tmp_path):
    model, x = linreg
    _store_run(tmp_path / "store", "r1", {"model": model})
    assert np.allclose(load_uri_model(f"file://{tmp_path}/store/runs/r1/").predict(x),
                       model.predict(x))
    (tmp_path / "plain.pkl").write_bytes(cloudpickle.dumps(model))
    assert np.allclose(load_uri_model(str(tmp_path / "plain.pkl")).predict(x), model.predict(x))
    with pytest.raises(DeployError, match="cannot read the model file"):
        load_uri_model(str(tmp_path / "missing.pkl"))
    with pytest.raises(ConfigError, match="neither a model nor a model URI"):
        resolve_model("linreg", settings=Settings(home=tmp_path))


@pytest.mark.e2e
def test_model_from_s3_run_storage_in_a_china_region(aws, linreg):
    import boto3

    model, x = linreg
    s3 = boto3.client("s3", region_name="cn-northwest-1")
    s3.create_bucket(Bucket="fairing-models",
                     CreateBucketConfiguration={"LocationConstraint": "cn-northwest-1"})
    s3.put_object(Bucket="fairing-models", Key="team/runs/linreg-abc123/outputs.pkl",
                  Body=cloudpickle.dumps({"model": model}))
    found, source = resolve_model("s3://fairing-models/team/runs/linreg-abc123/")
    assert np.allclose(found.predict(x), model.predict(x)) and source.startswith("s3://")
    by_run, _ = resolve_model(None, from_run="linreg-abc123",
                              storage_uri="s3://fairing-models/team", settings=Settings())
    assert np.allclose(by_run.predict(x), model.predict(x))
    with pytest.raises(DeployError, match="no stored model"):
        resolve_model(None, from_run="nope", storage_uri="s3://fairing-models/team",
                      settings=Settings())
