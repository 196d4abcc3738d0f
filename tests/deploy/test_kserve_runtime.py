"""KServe's stock runtimes, the pure parts: which model fits which format, how it is saved,
the refusals, and the InferenceService. No cluster, no S3.

XGBoost is not installed in the test environment (its wheel and NVIDIA NCCL dependency are
hundreds of MB): its models are stood in for by classes whose module is ``xgboost.*``, which is
all the policy looks at; saving calls the model's own ``save_model``.
"""

from __future__ import annotations

import io
import sys
import types

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from fairing_magics.config import Settings
from fairing_magics.deploy import plan_deploy
from fairing_magics.deploy.kserve_runtime import (
    FILE_NAMES,
    RuntimeModel,
    check_runtime_options,
    check_runtime_request,
    load_package_model,
    render_runtime_objects,
    runtime_for_model,
    runtime_options,
    runtime_storage,
    save_runtime_model,
    storage_uri,
)
from fairing_magics.deploy.model import package_model
from fairing_magics.errors import ConfigError

S3 = Settings(storage="s3://fairing-models/team?region=cn-northwest-1", namespace="kubeflow-user",
              service_account="kserve-s3")


def _xgboost_classes():
    """Stand-ins for xgboost.core.Booster and xgboost.sklearn.XGBModel/XGBClassifier."""
    core = types.ModuleType("xgboost.core")

    class Booster:
        def save_model(self, path):
            with open(path, "wb") as file:
                file.write(b"{booster}")

        def predict(self, data):
            return data

    Booster.__module__ = "xgboost.core"

    class XGBModel(Booster):
        pass

    class XGBClassifier(XGBModel):
        pass

    XGBModel.__module__ = XGBClassifier.__module__ = "xgboost.sklearn"
    return Booster, XGBClassifier, core


def test_formats_by_model_class(linreg):
    booster_class, classifier_class, _ = _xgboost_classes()
    pipeline = make_pipeline(StandardScaler(), LinearRegression())
    assert runtime_for_model(linreg[0]) == "sklearn"
    assert runtime_for_model(pipeline) == "sklearn"
    assert runtime_for_model(booster_class()) == "xgboost"
    assert runtime_for_model(classifier_class()) == "xgboost"  # xgboost's wrappers win over sklearn
    assert runtime_for_model(StandardScaler()) == ""  # no predict(): the server could not call it
    assert runtime_for_model(LinearRegression) == ""  # the class, not a fitted model
    assert runtime_for_model(lambda x: x) == ""


def test_sklearn_model_is_saved_with_joblib_under_a_content_addressed_folder(linreg):
    model, x = linreg
    saved = save_runtime_model("sklearn", model)
    assert list(saved.files) == ["model.joblib"]
    loaded = joblib.load(io.BytesIO(saved.files["model.joblib"]))
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert saved.digest == save_runtime_model("sklearn", model).digest  # same model, same folder
    assert saved.folder("linreg") == f"models/linreg/{saved.digest[7:19]}"
    other = save_runtime_model("sklearn", LinearRegression().fit(x, x[:, 0]))
    assert other.folder("linreg") != saved.folder("linreg")
    assert any("saved with scikit-learn" in n and "its own scikit-learn" in n for n in saved.notes)


def test_xgboost_model_is_saved_with_its_save_model_as_model_bst():
    booster_class, classifier_class, _ = _xgboost_classes()
    saved = save_runtime_model("xgboost", booster_class())
    assert saved.files == {"model.bst": b"{booster}"} and FILE_NAMES["xgboost"] == "model.bst"
    assert any("saved with xgboost" in n for n in saved.notes)
    wrapped = save_runtime_model("xgboost", classifier_class())
    assert any("probabilities rather than labels" in n for n in wrapped.notes)


@pytest.mark.parametrize("runtime, model, message", [
    ("xgboost", "linreg", "use --runtime sklearn"),
    ("sklearn", "booster", "use --runtime xgboost"),
    ("sklearn", "function", "Drop --runtime to serve it with our predictor image"),
    ("sklearn", "scaler", "Drop --runtime"),
])
def test_a_model_the_runtime_cannot_load_is_refused_naming_the_way_out(runtime, model, message,
                                                                       linreg):
    booster_class, _, _ = _xgboost_classes()
    models = {"linreg": linreg[0], "booster": booster_class(), "function": lambda x: x,
              "scaler": StandardScaler()}
    with pytest.raises(ConfigError, match=message):
        check_runtime_request(runtime, backend="kubernetes", kserve=True, model=models[model])


def test_a_pipeline_with_notebook_code_is_refused_for_the_stock_image(linreg):
    model, x = linreg
    module = types.ModuleType("__main__")
    code = compile("def clip(x):\n    return x\n", "<cell>", "exec")
    exec(code, module.__dict__)  # noqa: S102 - a function "of the notebook"
    clip = module.__dict__["clip"]
    clip.__module__ = "__main__"
    sys.modules["__main__"].clip = clip  # pickle finds it by reference, as in a kernel
    try:
        pipeline = make_pipeline(FunctionTransformer(clip), LinearRegression()).fit(x, x[:, 0])
        with pytest.raises(ConfigError, match=r"needs code from this notebook \(__main__\)"):
            save_runtime_model("sklearn", pipeline)
    finally:
        del sys.modules["__main__"].clip


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="local", kserve=True), "use --backend kubernetes --kserve"),
    (dict(backend="kubernetes", kserve=False), "add --kserve"),
    (dict(backend="kubernetes", kserve=True, predictor=lambda m, x: x),
     "needs our predictor image"),
])
def test_flags_that_cannot_go_with_a_stock_runtime(kwargs, message, linreg):
    with pytest.raises(ConfigError, match=message):
        check_runtime_request("sklearn", model=linreg[0], **kwargs)
    with pytest.raises(ConfigError, match="not one of sklearn, xgboost"):
        check_runtime_request("onnx", backend="kubernetes", kserve=True)


@pytest.mark.parametrize("storage", ["", "/tmp/runs", "file:///tmp/runs"])
def test_no_s3_storage_is_refused_in_check(storage):
    with pytest.raises(ConfigError,
                       match=r"downloads the model from S3.*%fairing_config --storage"):
        check_runtime_options(Settings(storage=storage), runtime="sklearn", kserve=True)
    with pytest.raises(ConfigError, match="--expose is for Deployments"):
        check_runtime_options(S3, runtime="sklearn", kserve=True, expose="nodeport")
    # no registry needed
    check_runtime_options(S3, runtime="sklearn", kserve=True, cpu="500m", memory="1Gi")


def test_inferenceservice_names_format_storage_protocol_and_service_account():
    uri = storage_uri(runtime_storage(S3, "sklearn"), "models/linreg/0123456789ab")
    assert uri == "s3://fairing-models/team/models/linreg/0123456789ab"
    opts = runtime_options("linreg", uri, runtime="sklearn", namespace="kubeflow-user", replicas=2,
                           cpu="500m", memory="1Gi", service_account="kserve-s3",
                           digest="sha256:" + "a" * 64)
    [isvc] = render_runtime_objects(opts)
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert isvc["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert isvc["metadata"]["labels"]["fairing.dev/endpoint"] == "linreg"
    predictor = isvc["spec"]["predictor"]
    assert predictor["minReplicas"] == 2 and predictor["serviceAccountName"] == "kserve-s3"
    assert "containers" not in predictor
    assert predictor["model"] == {
        "modelFormat": {"name": "sklearn"}, "protocolVersion": "v1", "storageUri": uri,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                      "limits": {"cpu": "500m", "memory": "1Gi"}}}
    [plain] = render_runtime_objects(runtime_options("linreg", uri, runtime="xgboost",
                                                     istio_inject=True))
    assert "serviceAccountName" not in plain["spec"]["predictor"]
    assert "sidecar.istio.io/inject" not in plain["metadata"].get("annotations", {})


def test_dry_run_shows_the_upload_and_the_inferenceservice_and_touches_nothing(linreg, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be contacted
    text = plan_deploy(linreg[0], name="linreg", backend="kubernetes", kserve=True,
                       runtime="sklearn", settings=S3)
    # the model as the deploy saves it: out of its package
    saved = save_runtime_model("sklearn", load_package_model(package_model(linreg[0])))
    assert f"uploaded to s3://fairing-models/team/{saved.folder('linreg')}/model.joblib" in text
    assert "no image is built" in text and "saved with scikit-learn" in text
    # the kernel's endpoint is not AWS's: say where KServe reads it
    assert "serving.kserve.io/s3-endpoint" in text
    assert "modelFormat:\n        name: sklearn" in text and "protocolVersion: v1" in text
    assert "serviceAccountName: kserve-s3" in text and "Base image" not in text


def test_runtime_model_digest_is_over_its_files():
    one = RuntimeModel("sklearn", {"model.joblib": b"a"}, "M")
    assert one.digest == RuntimeModel("sklearn", {"model.joblib": b"a"}, "other description").digest
    assert one.digest != RuntimeModel("sklearn", {"model.joblib": b"b"}, "M").digest
