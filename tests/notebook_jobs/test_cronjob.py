"""Scheduled notebooks as Kubernetes sees them: the schedules the API server takes, the
CronJob we render (pure) and its check against the real Kubernetes 1.30 and 1.36 schemas
(``shared/conformance-schemas``): every field known to the schema (an API server with
fieldValidation=Strict refuses an unknown one, an older one drops it), every type right."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fairing_magics.backends.kubernetes.schedules import schedule_spec
from fairing_magics.config import Settings
from fairing_magics.errors import ConfigError
from fairing_magics.kube.cronjob import next_times, render_cronjob, validate_schedule
from fairing_magics.pipeline import TrainOptions
from tests.harness import need

SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance-schemas"
RELEASES = ("1.30", "1.36")
IMAGE = "127.0.0.1:5000/nb@sha256:" + "ab" * 32


@pytest.mark.parametrize("schedule", ["0 6 * * *", "*/15 * * * *", "0 0 * * MON-FRI",
                                      "30 2 1,15 * ?", "0 0 1 jan,jul *", "@hourly", "@daily",
                                      "@every 90m", "0-30/10 8-18 * * 1-5"])
def test_schedules_the_api_server_takes(schedule):
    assert validate_schedule(f"  {schedule} ") == " ".join(schedule.split())


@pytest.mark.parametrize("schedule, why", [
    ("", "is empty"),
    ("* * * *", "has 4 field(s), Kubernetes takes 5"),
    ("* * * * * *", "has 6 field(s)"),
    ("61 * * * *", "61 is out of range for the minute field (0-59)"),
    ("0 0 * * 7", "7 is out of range for the day of week field"),
    ("0 0 L * *", "'L' is not a number"),
    ("0 0 * * MON#2", "is not a number or a name in the day of week field"),
    ("*/0 * * * *", "step '0' in the minute field must be a positive number"),
    ("0 ? * * *", "'?' is only allowed in the day fields"),
    ("5-1 * * * *", "runs backwards"),
    ("@fortnightly", "is not one of @yearly"),
    ("TZ=Asia/Shanghai 0 6 * * *", "a time zone does not go in the schedule"),
])
def test_an_invalid_cron_expression_is_one_clear_message(schedule, why):
    with pytest.raises(ConfigError) as refused:
        validate_schedule(schedule)
    assert why in str(refused.value)
    assert "--schedule" in str(refused.value)


def test_next_times_follow_the_schedule():
    start = dt.datetime(2025, 3, 1, 5, 59, 30, tzinfo=dt.timezone.utc)  # a Saturday
    assert next_times("0 6 * * *", start, 2) == [start.replace(minute=0, second=0, hour=6),
                                                 start.replace(day=2, hour=6, minute=0, second=0)]
    assert next_times("0 9 * * MON-FRI", start, 1)[0].day == 3
    assert next_times("@every 90m", start, 1)[0] == start + dt.timedelta(minutes=90)


def _spec(tmp_path, storage: str | None = None, **flags) -> dict:
    settings = Settings(storage=storage if storage is not None else str(tmp_path / "store"),
                        namespace="team", home=tmp_path / "home")
    options = TrainOptions(name="report", backend="kubernetes", cpu="1", memory="2Gi",
                           env={"MODE": "nightly"}, **flags)
    return schedule_spec(options, settings, name="report-a1b2c3", image=IMAGE,
                         schedule="0 6 * * *", capture_digest="sha256:" + "cd" * 32,
                         namespace="team")


def test_the_cronjob_runs_the_same_job_forbids_overlap_and_keeps_a_short_history(tmp_path):
    cron = _spec(tmp_path)
    spec = cron["spec"]
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert cron["metadata"]["name"] == "report-a1b2c3" and cron["metadata"]["namespace"] == "team"
    assert cron["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fairing-magics"
    assert spec["schedule"] == "0 6 * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["startingDeadlineSeconds"] == 300
    job = spec["jobTemplate"]["spec"]
    assert "ttlSecondsAfterFinished" not in job and job["backoffLimit"] == 0
    pod = job["template"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    container = pod["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    env = {e["name"]: e for e in container["env"]}
    # every scheduled Job writes under its own name: the pod's job-name label
    assert env["FAIRING_RUN_NAME"] == {"name": "FAIRING_RUN_NAME", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.labels['job-name']"}}}
    assert env["MODE"]["value"] == "nightly"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "fairing-output")
    assert mount == {"name": "fairing-output", "mountPath": "/fairing/output",
                     "subPathExpr": "$(FAIRING_RUN_NAME)"}
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "fairing-output")
    assert volume["hostPath"]["path"] == str((tmp_path / "store" / "runs").resolve())


def test_with_s3_storage_each_run_uploads_under_its_own_name(tmp_path):
    cron = _spec(tmp_path, storage="s3://bucket/prefix?region=cn-northwest-1")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["FAIRING_STORAGE"]["value"].startswith("s3://bucket/prefix")
    assert "valueFrom" in env["FAIRING_RUN_NAME"]
    assert "volumeMounts" not in container


def test_render_refuses_a_bad_schedule_and_carries_a_time_zone():
    job = {"metadata": {"name": "x"}, "spec": {"template": {}}}
    with pytest.raises(ConfigError):
        render_cronjob(job, "every day")
    assert render_cronjob(job, "@daily", time_zone="Asia/Shanghai")["spec"]["timeZone"] == \
        "Asia/Shanghai"


# -- the real schemas --------------------------------------------------------------------------


def _definitions(release: str) -> dict:
    path = SCHEMAS / f"kubernetes-release-{release}.json"
    need(path.is_file(), f"the upstream schemas are not at {SCHEMAS} (shared/conformance-schemas "
         "beside the repository)")
    return json.loads(path.read_text())["definitions"]


def _unknown_fields(value, schema: dict, definitions: dict, path: str) -> list[str]:
    """Fields the schema does not name (what fieldValidation=Strict refuses)."""
    while "$ref" in schema:
        schema = definitions[schema["$ref"].split("/")[-1]]
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += _unknown_fields(item, schema["properties"][key], definitions,
                                         f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += _unknown_fields(item, schema["additionalProperties"], definitions,
                                     f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += _unknown_fields(item, schema["items"], definitions, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("storage", ["folder", "s3"])
def test_the_cronjob_meets_the_kubernetes_schema(tmp_path, release, storage):
    import jsonschema

    definitions = _definitions(release)
    cron = _spec(tmp_path, storage="s3://bucket/p" if storage == "s3" else None,
                 node_selector={"pool": "gpu"}, tolerations=("gpu=true:NoSchedule",),
                 service_account="default-editor", image_pull_secrets=("ecr",),
                 volumes=("pvc:data:/mnt/data",), timeout=3600)
    root = {"$ref": "#/definitions/io.k8s.api.batch.v1.CronJob", "definitions": definitions}
    validator = jsonschema.Draft4Validator(root)
    problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(cron)]
    assert not problems, problems
    schema = definitions["io.k8s.api.batch.v1.CronJob"]
    assert _unknown_fields(cron, schema, definitions, "") == []
    # the check bites: a misspelt field and a wrong type are caught
    broken = json.loads(json.dumps(cron))
    broken["spec"]["concurrency"] = "Forbid"
    broken["spec"]["successfulJobsHistoryLimit"] = "3"
    assert _unknown_fields(broken, schema, definitions, "") == [".spec.concurrency"]
    assert any("successfulJobsHistoryLimit" in ".".join(map(str, e.absolute_path))
               for e in validator.iter_errors(broken))
