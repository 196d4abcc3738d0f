"""S3 run storage against moto's server: buckets in the right region with encryption, and a
run's outputs going from the runtime uploader (a separate, stdlib+boto3 process) to the kernel."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

import fairing_magics.runtime.storage_upload as runtime_upload
from fairing_magics.errors import ConfigError
from fairing_magics.storage import MissingRunFile, S3Storage, StorageError, storage_for

pytestmark = pytest.mark.e2e

UPLOADER = Path(runtime_upload.__file__)


def test_bucket_in_china_region_with_encryption(aws):
    storage = storage_for("s3://fairing-runs-cn/team?region=cn-northwest-1")
    assert storage.ensure_bucket() == "cn-northwest-1"
    s3 = boto3.client("s3", region_name="cn-northwest-1")
    assert (s3.get_bucket_location(Bucket="fairing-runs-cn")["LocationConstraint"]
            == "cn-northwest-1")
    encryption = s3.get_bucket_encryption(Bucket="fairing-runs-cn")
    rules = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert storage.ensure_bucket() == "cn-northwest-1"  # existing bucket: fine, unchanged


def test_bucket_in_region_from_environment(aws, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    assert S3Storage("fairing-runs-bj").ensure_bucket() == "cn-north-1"
    location = boto3.client("s3", region_name="cn-north-1").get_bucket_location(
        Bucket="fairing-runs-bj")
    assert location["LocationConstraint"] == "cn-north-1"


def test_bucket_in_us_east_1_has_no_location_constraint(aws):
    # us-east-1 refuses a LocationConstraint naming itself (moto too).
    assert S3Storage("fairing-runs-us", region="us-east-1").ensure_bucket() == "us-east-1"
    location = boto3.client("s3", region_name="us-east-1").get_bucket_location(
        Bucket="fairing-runs-us")
    assert location["LocationConstraint"] in (None, "")


def test_missing_bucket_when_creation_is_not_allowed(aws):
    with pytest.raises(StorageError) as info:
        S3Storage("fairing-absent", region="cn-northwest-1").ensure_bucket(create=False)
    assert "S3 bucket fairing-absent does not exist" in info.value.message
    assert "aws s3 mb s3://fairing-absent --region cn-northwest-1" in info.value.message


def test_no_region(aws, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match=r"needs an AWS region.*\?region="):
        S3Storage("fairing-runs").ensure_bucket()


def _run_outputs(folder: Path) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "outputs.pkl").write_bytes(pickle.dumps({"model": {"w": 2.0, "b": 0.5},
                                                       "loss": 0.01}))
    (folder / "logs.txt").write_text("epoch 1 loss 0.1\n", encoding="utf-8")
    return folder


def _upload_in_fresh_process(output_dir: Path, uri: str, run: str) -> subprocess.CompletedProcess:
    """Run the uploader as the container does: its own interpreter, isolated mode (-I: no
    script folder on sys.path), and check it loaded nothing of fairing_magics."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['storage_upload.py', {str(output_dir)!r}, {uri!r}, {run!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(UPLOADER)!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    leaked = sorted(m for m in sys.modules if m.startswith('fairing_magics'))\n"
        "    print('LEAKED', leaked)\n"
        "    raise\n"
    )
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_outputs_round_trip_runtime_to_kernel(aws, tmp_path):
    kernel_side = storage_for("s3://fairing-runs-cn/team/fairing?region=cn-northwest-1")
    kernel_side.ensure_bucket()
    result = _upload_in_fresh_process(_run_outputs(tmp_path / "out"),
                                      "s3://fairing-runs-cn/team/fairing?region=cn-northwest-1",
                                      "linreg-1")
    assert result.returncode == 0, result.stderr
    assert "fairing: uploaded 3 file(s)" in result.stdout
    assert "LEAKED []" in result.stdout

    s3 = boto3.client("s3", region_name="cn-northwest-1")
    listed = s3.list_objects_v2(Bucket="fairing-runs-cn")["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        "team/fairing/runs/linreg-1/logs.txt", "team/fairing/runs/linreg-1/model/weights.bin",
        "team/fairing/runs/linreg-1/outputs.pkl"]
    head = s3.head_object(Bucket="fairing-runs-cn", Key="team/fairing/runs/linreg-1/outputs.pkl")
    assert head["ServerSideEncryption"] == "AES256"

    outputs = pickle.loads(kernel_side.read_bytes("linreg-1", "outputs.pkl"))
    assert outputs == {"model": {"w": 2.0, "b": 0.5}, "loss": 0.01}
    names = kernel_side.download_run_dir("linreg-1", tmp_path / "back")
    assert names == ["logs.txt", "model/weights.bin", "outputs.pkl"]
    assert (tmp_path / "back" / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 64
    with pytest.raises(MissingRunFile, match="has no error.json"):
        kernel_side.read_bytes("linreg-1", "error.json")
    with pytest.raises(MissingRunFile):
        kernel_side.download_run_dir("linreg-2", tmp_path / "none")


def test_kernel_upload_matches_runtime_layout(aws, tmp_path):
    storage = S3Storage("fairing-runs-cn", "p", "cn-northwest-1")
    storage.ensure_bucket()
    out = _run_outputs(tmp_path / "out")
    runtime_keys = runtime_upload.upload_output_dir(
        str(out), "s3://fairing-runs-cn/p?region=cn-northwest-1", "r1")
    assert runtime_keys[-1] == "p/runs/r1/outputs.pkl"  # the commit file goes last
    assert storage.upload_run_dir(out, "r2") == ["logs.txt", "model/weights.bin", "outputs.pkl"]
    keys = [item["Key"] for item in boto3.client("s3", region_name="cn-northwest-1")
            .list_objects_v2(Bucket="fairing-runs-cn")["Contents"]]
    assert sorted(k.replace("/r1/", "/r2/") for k in keys if "/r1/" in k) == sorted(
        k for k in keys if "/r2/" in k)


def test_runtime_upload_access_denied_names_put_object(aws, monkeypatch, tmp_path):
    S3Storage("fairing-runs-cn", region="cn-northwest-1").ensure_bucket()
    iam = boto3.client("iam", region_name="cn-northwest-1")
    iam.create_user(UserName="trainer")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
                             "Resource": "*"}]}
    iam.put_user_policy(UserName="trainer", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="trainer")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    aws.enforce_iam()
    out = _run_outputs(tmp_path / "out")
    result = _upload_in_fresh_process(out, "s3://fairing-runs-cn/p?region=cn-northwest-1", "r1")
    assert result.returncode == 1
    assert "s3:PutObject" in result.stderr and key["SecretAccessKey"] not in result.stderr
    with pytest.raises(StorageError) as info:
        S3Storage("fairing-runs-cn", "p", "cn-northwest-1").upload_run_dir(out, "r1")
    assert "`s3:PutObject`" in info.value.message


def test_runtime_upload_missing_bucket(aws, tmp_path):
    out = _run_outputs(tmp_path / "out")
    with pytest.raises(runtime_upload.OutputUploadError,
                       match="bucket fairing-absent does not exist"):
        runtime_upload.upload_output_dir(str(out), "s3://fairing-absent/p?region=cn-northwest-1",
                                         "r1")
