"""Local run storage: the same layout as S3, in a folder; storage_for parses URIs."""

import pytest

from fairing_magics.errors import ConfigError
from fairing_magics.storage import (
    LocalStorage,
    MissingRunFile,
    S3Storage,
    StorageError,
    check_run_name,
    storage_for,
)


def _outputs(folder):
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "model.joblib").write_bytes(b"model-bytes")
    (folder / "outputs.pkl").write_bytes(b"pickled-outputs")
    (folder / "notes.txt").write_text("hello\n")
    return folder


def test_local_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    storage.ensure_bucket()
    names = storage.upload_run_dir(_outputs(tmp_path / "out"), "run-1")
    assert names == ["models/model.joblib", "notes.txt", "outputs.pkl"]  # commit file last
    assert ((tmp_path / "store" / "runs" / "run-1" / "models" / "model.joblib").read_bytes()
            == b"model-bytes")
    assert storage.read_bytes("run-1", "outputs.pkl") == b"pickled-outputs"
    assert storage.download_run_dir("run-1", tmp_path / "back") == names
    assert (tmp_path / "back" / "notes.txt").read_text() == "hello\n"
    assert storage.run_uri("run-1") == (tmp_path / "store" / "runs" / "run-1").as_uri() + "/"


def test_local_missing_file(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(MissingRunFile, match="run run-2 has no error.json"):
        storage.read_bytes("run-2", "error.json")
    with pytest.raises(MissingRunFile):
        storage.download_run_dir("run-2", tmp_path / "x")
    with pytest.raises(StorageError):
        storage.read_bytes("run-2", "../../etc/passwd")


def test_local_bucket_not_created_when_not_allowed(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        LocalStorage(tmp_path / "absent").ensure_bucket(create=False)


@pytest.mark.parametrize("run", ["../x", "", "a/b", ".hidden", "a..b"])
def test_bad_run_names(run):
    with pytest.raises(ConfigError):
        check_run_name(run)


def test_storage_for(tmp_path):
    assert storage_for("s3://my-bucket/team/fairing") == S3Storage("my-bucket", "team/fairing")
    assert storage_for("s3://my-bucket") == S3Storage("my-bucket", "")
    assert storage_for("s3://my-bucket/p/?region=cn-northwest-1") == S3Storage(
        "my-bucket", "p", "cn-northwest-1")
    assert storage_for("s3://my-bucket/p", region="cn-north-1").region == "cn-north-1"
    assert storage_for(f"file://{tmp_path}") == LocalStorage(tmp_path)
    assert storage_for(str(tmp_path)) == LocalStorage(tmp_path)
    assert storage_for(tmp_path) == LocalStorage(tmp_path)
    s3 = S3Storage("my-bucket", "/team/fairing/")
    assert s3.run_uri("run-1") == "s3://my-bucket/team/fairing/runs/run-1/"
    assert s3.run_key("run-1", "outputs.pkl") == "team/fairing/runs/run-1/outputs.pkl"
    assert S3Storage("my-bucket").run_key("r", "a/b") == "runs/r/a/b"


@pytest.mark.parametrize("uri", ["", "gs://bucket/x", "s3://Bad_Bucket/x", "s3://ab"])
def test_storage_for_refuses(uri):
    with pytest.raises(ConfigError):
        storage_for(uri)
