"""``--dry-run`` of a deploy prints the objects of the one rendering the deploy applies
(``endpoint_objects``, ``runtime_objects``), with every flag: the stock runtimes' plan used to
leave out ``--replicas``, ``--cpu`` and ``--memory``. (The e2e test compares against what the
emulated cluster received; xgboost, which the test machines do not install, is checked here.)"""

from __future__ import annotations

import pytest
import yaml

from fairing_magics.config import Settings
from fairing_magics.deploy import plan_deploy
from fairing_magics.deploy.kserve_runtime import runtime_objects
from tests.conformance.report import check
from tests.conformance.test_dry_run_is_applied_e2e import printed_objects
from tests.conformance.variants import Variant


@pytest.mark.parametrize("runtime", ["sklearn", "xgboost"])
def test_the_runtime_plan_shows_every_flag_the_deploy_sends(runtime, tmp_path):
    settings = Settings(backend="kubernetes", namespace="team", storage="s3://bucket/prefix",
                        service_account="kserve-s3", home=tmp_path)
    text = plan_deploy("s3://bucket/prefix/runs/fit-abc123/", name="linreg", settings=settings,
                       kserve=True, runtime=runtime, replicas=3, cpu="2", memory="3Gi")
    (printed,) = printed_objects(text)
    uri = printed["spec"]["predictor"]["model"]["storageUri"]
    (applied,) = runtime_objects("linreg", uri, runtime=runtime, settings=settings,
                                 namespace="team", replicas=3, cpu="2", memory="3Gi")
    assert printed == yaml.safe_load(yaml.safe_dump(applied))
    predictor = printed["spec"]["predictor"]
    assert predictor["minReplicas"] == 3 and predictor["serviceAccountName"] == "kserve-s3"
    assert predictor["model"]["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}
    assert not check(Variant(f"--runtime {runtime} plan", printed))
