"""A stand-in for KServe's ``kserve/sklearnserver`` image, run by the emulated cluster.

Docker Hub cannot be reached here, so the tests build an image of their own (python base +
the real ``kserve`` package from PyPI + scikit-learn + this module) and name it in the
``kserve-sklearnserver`` ClusterServingRuntime. The serving is KServe's own code
(``kserve.Model`` and ``kserve.ModelServer``: its V1 REST routes, readiness and errors); this
module only does what KServe's ``sklearnserver`` package adds: load the one ``model.joblib``
(or ``.pkl``/``.pickle``) in ``--model_dir`` with joblib and answer ``predict`` with
``{"predictions": model.predict(instances)}``, under the name ``--model_name``.

Arguments as the runtime passes them: ``--model_name=NAME --model_dir=/mnt/models
--http_port=8080``. With host networking the emulator's kubelet hands each pod its own port in
``PORT``, which wins over ``--http_port``; gRPC is off (its fixed port would clash too).
"""

from __future__ import annotations

import argparse
import os
import pathlib

import joblib
from kserve import Model, ModelServer, model_server
from kserve.errors import InferenceError, ModelMissingError
from kserve.utils.utils import get_predict_input, get_predict_response

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")


class SKLearnModel(Model):
    """One scikit-learn model loaded from a folder, as KServe's sklearnserver loads it."""

    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = model_dir
        self._model = None

    def load(self) -> bool:
        files = sorted(p for p in pathlib.Path(self.model_dir).iterdir()
                       if p.suffix in MODEL_EXTENSIONS)
        if len(files) != 1:
            raise ModelMissingError(self.model_dir)
        self._model = joblib.load(files[0])
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        try:
            result = self._model.predict(get_predict_input(payload))
            return get_predict_response(payload, result, self.name)
        except Exception as exc:  # noqa: BLE001 - KServe answers an InferenceError with its message
            raise InferenceError(str(exc)) from exc


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", required=True, help="folder holding the model file")
    args, _ = parser.parse_known_args()
    model = SKLearnModel(args.model_name, args.model_dir)
    model.load()
    port = int(os.environ.get("PORT") or args.http_port)
    ModelServer(http_port=port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
