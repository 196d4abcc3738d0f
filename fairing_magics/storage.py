"""Run storage: where a run's outputs, error, logs and files live after it ends.

One layout everywhere, ``<root>/runs/<run>/``::

    runs/<run>/outputs.pkl     the named --outputs (written on success)
    runs/<run>/error.json      type, message, traceback (written on failure)
    runs/<run>/logs/...        logs, when the backend keeps them
    runs/<run>/<anything>      every file the code wrote to $FAIRING_OUTPUT_DIR (models, plots)

``<root>`` is a local folder (:class:`LocalStorage`, the local backend's default) or an S3
location (:class:`S3Storage`, ``--storage s3://bucket/prefix`` or ``FAIRING_STORAGE``). In a
container the runtime uploads the output folder with
:mod:`fairing_magics.runtime.storage_upload`; the kernel then downloads it with
:meth:`download_run_dir` / :meth:`read_bytes`, and deploy reads models from there.

``s3://bucket/prefix?region=cn-northwest-1`` names the bucket's region; otherwise AWS_REGION /
AWS_DEFAULT_REGION / the profile's region is used.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, FairingError

RUNS = "runs"
#: A run's records, written by the kernel as the run goes (fairing_magics.run) and kept in an
#: s3:// storage beside its outputs when it ends, so another machine's kernel can read them.
RECORD_FILES = ("run.json", "logs.txt", "metrics.jsonl")
#: A run's folders of records, kept the same way: its rich outputs (fairing_magics.displays).
RECORD_FOLDERS = ("displays",)
#: Files written last by uploaders: seeing one means the rest of the run folder is complete.
COMMIT_FILES = ("outputs.pkl", "error.json")

_S3_PURPOSE = "use S3 run storage (--storage s3://...)"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageError(FairingError):
    """Run storage cannot be read or written (missing bucket, access denied, missing file)."""


class MissingRunFile(StorageError):
    """The run folder has no such file (e.g. no ``outputs.pkl`` because the run failed)."""


def check_run_name(run: str) -> str:
    """Return ``run`` if it is usable as a folder name (letters, digits, ``.``, ``_``, ``-``)."""
    if not _RUN_NAME.match(run or "") or ".." in run:
        raise ConfigError(f"{run!r} cannot name a run: use letters, digits, '.', '_' and '-'.")
    return run


def _relative_files(folder: Path) -> list[str]:
    """Every file under ``folder`` as a POSIX relative path, sorted, commit files last."""
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(names, key=lambda name: name in COMMIT_FILES)


def _safe_relative(name: str) -> str:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise StorageError(f"{name!r} is not a file name inside a run folder.")
    return "/".join(parts)


@dataclass(frozen=True)
class LocalStorage:
    """Runs kept in a local folder: ``<root>/runs/<run>/``."""

    root: Path

    @property
    def uri(self) -> str:
        return Path(self.root).expanduser().resolve().as_uri()

    def run_dir(self, run: str) -> Path:
        """The folder of ``run`` (not created)."""
        return Path(self.root).expanduser().resolve() / RUNS / check_run_name(run)

    def run_uri(self, run: str) -> str:
        return self.run_dir(run).as_uri() + "/"

    def describe_run(self, run: str) -> str:
        """The run folder of ``run`` for messages; ``run`` may be a pattern (``linreg-<suffix>``)."""
        return f"{Path(self.root).expanduser().resolve() / RUNS / run}/"

    def check_settings(self) -> None:
        """Nothing to refuse before the run: a missing folder is created when needed."""

    def ensure_bucket(self, create: bool = True) -> None:
        """Create the root folder (a local folder is its own bucket)."""
        root = Path(self.root).expanduser()
        if not root.is_dir() and not create:
            raise StorageError(f"run storage folder {root} does not exist: create it first.")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create run storage folder {root}: {exc}") from exc

    def upload_run_dir(self, local_dir: str | os.PathLike, run: str) -> list[str]:
        """Copy every file of ``local_dir`` into the run folder; return the names copied."""
        source, target = Path(local_dir), self.run_dir(run)
        names = _relative_files(source)
        if source.resolve() == target:
            return names
        try:
            for name in names:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, target / name)
        except OSError as exc:
            raise StorageError(f"cannot copy the outputs of run {run} to {target}: {exc}") from exc
        return names

    def download_run_dir(self, run: str, local_dir: str | os.PathLike) -> list[str]:
        """Copy the run folder's files into ``local_dir``; return the names copied."""
        source, target = self.run_dir(run), Path(local_dir)
        if not source.is_dir():
            raise MissingRunFile(f"run {run} has no files in {source}.")
        names = _relative_files(source)
        if source == target.resolve():
            return names
        for name in names:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target / name)
        return names

    def list_files(self, run: str, under: str = "") -> list[str]:
        """The files of ``run`` (under its folder ``under``): names relative to the run, sorted."""
        base = self.run_dir(run)
        folder = base / _safe_relative(under) if under else base
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file())

    def read_bytes(self, run: str, name: str) -> bytes:
        """The content of file ``name`` of ``run``; :class:`MissingRunFile` when there is none."""
        path = self.run_dir(run) / _safe_relative(name)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise MissingRunFile(f"run {run} has no {name} (looked in {path}).") from exc

    def upload_files(self, folder: str, files: Mapping[str, bytes]) -> list[str]:
        """Put ``files`` (name -> bytes) under ``<root>/folder/`` (outside ``runs/``, such as the
        run cache's index); return their paths. Each file is replaced whole (atomically)."""
        base = Path(self.root).expanduser().resolve() / _safe_relative(folder)
        written = []
        try:
            for name, data in files.items():
                path = base / _safe_relative(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, path)
                written.append(str(path))
        except OSError as exc:
            raise StorageError(f"cannot write {folder}/ in run storage {self.root}: {exc}") from exc
        return written

    def read_file(self, folder: str, name: str) -> bytes | None:
        """The file ``<root>/folder/name`` (outside ``runs/``), or None when there is none."""
        path = Path(self.root).expanduser().resolve() / _safe_relative(folder) / _safe_relative(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None


@dataclass(frozen=True)
class S3Storage:
    """Runs kept in S3: ``s3://<bucket>/<prefix>runs/<run>/``.

    ``region`` is the bucket's region (None: the configured default). New buckets are made in
    that region (with a LocationConstraint outside us-east-1, China included) with AES256
    server-side encryption by default.
    """

    bucket: str
    prefix: str = ""
    region: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self._prefix()}"

    def run_key(self, run: str, name: str = "") -> str:
        """The S3 key of ``name`` in ``run`` (with ``name`` empty: the run's key prefix)."""
        base = f"{self._prefix()}{RUNS}/{check_run_name(run)}/"
        return base + _safe_relative(name) if name else base

    def run_uri(self, run: str) -> str:
        return f"s3://{self.bucket}/{self.run_key(run)}"

    def describe_run(self, run: str) -> str:
        """The run folder of ``run`` for messages, with the bucket's region when it was named
        (``s3://bucket/prefix/runs/RUN/ (region cn-northwest-1)``): the ``?region=`` of the
        storage URI is a setting of the bucket, never part of a key. ``run`` may be a pattern."""
        where = f"s3://{self.bucket}/{self._prefix()}{RUNS}/{run}/"
        return f"{where} (region {self.region})" if self.region else where

    def check_settings(self) -> None:
        """Refuse what :meth:`ensure_bucket` would refuse before its first request: no region to
        find the bucket in, boto3 not installed. Touches nothing (the dry run calls this)."""
        from .aws.boto import require_boto3

        self._region_name()
        require_boto3(_S3_PURPOSE, StorageError)

    def ensure_bucket(self, create: bool = True) -> str:
        """Make sure the bucket exists; create it when missing and ``create``. Return its region."""
        client = self._client
        try:
            self._first_contact_client.head_bucket(Bucket=self.bucket)
            return self._bucket_region()
        except Exception as exc:
            if _status(exc) != 404:
                raise self._error(exc, f"checking bucket {self.bucket}") from exc
        if not create:
            raise StorageError(
                f"S3 bucket {self.bucket} does not exist. Create it (`aws s3 mb s3://{self.bucket} "
                f"--region {self._region_name()}`) or point --storage / FAIRING_STORAGE at a bucket "
                "you can write to.")
        region = self._region_name()
        arguments = {"Bucket": self.bucket}
        if region != "us-east-1":  # us-east-1 refuses its own name as a LocationConstraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**arguments)
        except Exception as exc:
            code = _code(exc)
            if code not in ("BucketAlreadyOwnedByYou",):
                if code == "BucketAlreadyExists":
                    raise StorageError(
                        f"S3 bucket name {self.bucket} is taken by another AWS account: bucket "
                        "names are global, choose another one in --storage.") from exc
                raise self._error(exc, f"creating bucket {self.bucket}") from exc
        try:
            client.put_bucket_encryption(
                Bucket=self.bucket,
                ServerSideEncryptionConfiguration={"Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            )
        except Exception as exc:
            raise self._error(exc, f"turning on default encryption of bucket {self.bucket}") from exc
        return region

    def upload_run_dir(self, local_dir: str | os.PathLike, run: str) -> list[str]:
        """Upload every file of ``local_dir`` under the run's prefix (commit files last)."""
        source = Path(local_dir)
        names = _relative_files(source)
        for name in names:
            key = self.run_key(run, name)
            try:
                self._client.upload_file(str(source / name), self.bucket, key)
            except Exception as exc:
                raise self._error(_unwrap(exc), f"uploading s3://{self.bucket}/{key}") from exc
        return names

    def download_run_dir(self, run: str, local_dir: str | os.PathLike) -> list[str]:
        """Download every file of the run into ``local_dir``; return their names."""
        target, base = Path(local_dir), self.run_key(run)
        names = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=base)
            for page in pages:
                for item in page.get("Contents", []):
                    name = _safe_relative(item["Key"][len(base):])
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    self._client.download_file(self.bucket, item["Key"], str(target / name))
                    names.append(name)
        except StorageError:
            raise
        except Exception as exc:
            raise self._error(exc, f"downloading s3://{self.bucket}/{base}") from exc
        if not names:
            raise MissingRunFile(f"run {run} has no files in s3://{self.bucket}/{base}.")
        return sorted(names)

    def list_files(self, run: str, under: str = "") -> list[str]:
        """The files of ``run`` (under its folder ``under``): names relative to the run, sorted."""
        base = self.run_key(run)
        prefix = base + (_safe_relative(under) + "/" if under else "")
        names = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=prefix)
            for page in pages:
                names.extend(item["Key"][len(base):] for item in page.get("Contents", []))
        except Exception as exc:
            raise self._error(exc, f"listing s3://{self.bucket}/{prefix}") from exc
        return sorted(names)

    def read_bytes(self, run: str, name: str) -> bytes:
        """The content of file ``name`` of ``run``; :class:`MissingRunFile` when there is none."""
        key = self.run_key(run, name)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise MissingRunFile(f"run {run} has no {name} (s3://{self.bucket}/{key}).") from exc
            raise self._error(exc, f"reading s3://{self.bucket}/{key}") from exc

    def read_file(self, folder: str, name: str) -> bytes | None:
        """The object ``<prefix>folder/name`` (outside ``runs/``), or None when there is none."""
        key = self._prefix() + _safe_relative(folder) + "/" + _safe_relative(name)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, f"reading s3://{self.bucket}/{key}") from exc

    def upload_files(self, folder: str, files: Mapping[str, bytes]) -> list[str]:
        """Put ``files`` (name -> bytes) under ``<prefix>folder/`` (a folder outside ``runs/``, such
        as a model for KServe); return their keys."""
        base = self._prefix() + _safe_relative(folder) + "/"
        keys = []
        for name, data in files.items():
            key = base + _safe_relative(name)
            try:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
            except Exception as exc:
                raise self._error(exc, f"uploading s3://{self.bucket}/{key}") from exc
            keys.append(key)
        return keys

    # -- internals -------------------------------------------------------------------------

    def _prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return prefix + "/" if prefix else ""

    def _region_name(self) -> str:
        from .aws.boto import default_region

        region = self.region or default_region()
        if not region:
            raise ConfigError(
                f"--storage {self.uri} needs an AWS region: set AWS_REGION (e.g. cn-northwest-1) "
                f"or write s3://{self.bucket}/{self._prefix()}?region=<region>.")
        return region

    def _bucket_region(self) -> str:
        try:
            location = self._client.get_bucket_location(Bucket=self.bucket)["LocationConstraint"]
        except Exception:
            return self._region_name()  # GetBucketLocation is often not allowed; not needed here
        return location or "us-east-1"

    @functools.cached_property
    def _client(self):
        from .aws.boto import aws_session

        region = self._region_name()
        session = aws_session(_S3_PURPOSE, StorageError, region)
        return session.client("s3", region_name=region)

    @functools.cached_property
    def _first_contact_client(self):
        """The client of the check before a run (:meth:`ensure_bucket`): 3 quick attempts, so an
        endpoint that cannot be reached is reported in about a second, not after botocore's
        legacy 5 attempts with backoff (~10 s). Transfers keep the default client's retries."""
        from botocore.config import Config

        from .aws.boto import aws_session

        region = self._region_name()
        session = aws_session(_S3_PURPOSE, StorageError, region)
        return session.client("s3", region_name=region, config=Config(
            connect_timeout=10, retries={"mode": "standard", "total_max_attempts": 3}))

    def _error(self, exc: BaseException, doing: str) -> FairingError:
        from .aws.errors import aws_error

        if not type(exc).__module__.startswith(("botocore", "boto3")):
            return StorageError(f"{doing} failed: {type(exc).__name__}: {exc}")
        if _code(exc) in ("NoSuchBucket",) or (doing.startswith("checking") and _status(exc) == 404):
            return StorageError(f"S3 bucket {self.bucket} does not exist ({doing}).")
        return aws_error(exc, service="s3", doing=doing, region=self.region,
                         error_class=StorageError)


def _code(exc: BaseException) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _status(exc: BaseException) -> int | None:
    return (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")


def _unwrap(exc: BaseException) -> BaseException:
    """boto3's transfer errors (S3UploadFailedError) wrap the ClientError that says why."""
    inner = exc.__cause__ or exc.__context__
    return inner if inner is not None and hasattr(inner, "response") else exc


def store_run_records(uri: str, run: str, folder: str | os.PathLike) -> list[str]:
    """Copy the records of ``run`` (:data:`RECORD_FILES` in ``folder``) into the storage at
    ``uri`` (``runs/<run>/``); return the names copied. A local storage folder already is the
    run folder: nothing to copy."""
    storage = storage_for(uri)
    if not isinstance(storage, S3Storage):
        return []
    copied = []
    names = list(RECORD_FILES)
    for sub in RECORD_FOLDERS:
        if (Path(folder) / sub).is_dir():
            names += [f"{sub}/{name}" for name in _relative_files(Path(folder) / sub)]
    for name in names:
        path = Path(folder) / name
        if not path.exists():
            continue
        key = storage.run_key(run, name)
        try:
            storage._client.upload_file(str(path), storage.bucket, key)
        except Exception as exc:
            raise storage._error(_unwrap(exc), f"uploading s3://{storage.bucket}/{key}") from exc
        copied.append(name)
    return copied


def describe_run_folder(uri: str | os.PathLike, run: str) -> str:
    """Where run ``run`` of the storage at ``uri`` keeps its files, for messages and dry runs:
    ``s3://bucket/prefix/runs/RUN/ (region R)`` or ``/folder/runs/RUN/``. ``run`` may be a
    pattern such as ``linreg-<suffix>`` or ``linreg*``."""
    return storage_for(uri).describe_run(run)


def storage_for(uri: str | os.PathLike, region: str | None = None) -> LocalStorage | S3Storage:
    """The run storage at ``uri``: ``s3://bucket[/prefix][?region=R]``, ``file:///path`` or a path.

    ``region`` (or ``?region=``) is the S3 bucket's region; unused for folders.
    """
    text = os.fspath(uri).strip()
    if not text:
        raise ConfigError("--storage is empty: give s3://bucket/prefix or a folder.")
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme == "s3":
        bucket = parsed.netloc
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ConfigError(f"{bucket!r} in --storage {text} is not an S3 bucket name "
                              "(3-63 lowercase letters, digits, '.', '-').")
        query = urllib.parse.parse_qs(parsed.query)
        region = region or (query.get("region") or [None])[0]
        return S3Storage(bucket=bucket, prefix=parsed.path.strip("/"), region=region)
    if parsed.scheme == "file":
        return LocalStorage(Path(urllib.parse.unquote(parsed.path)))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive
        raise ConfigError(f"--storage {text}: only s3:// URIs and local folders are supported.")
    return LocalStorage(Path(text).expanduser())
