"""Upload a run's output folder to S3, from inside the container:
``s3://bucket/prefix/runs/<run>/``.

Runs in the training container next to ``fairing_bootstrap.py``; uses the standard library and
boto3 only (it must not import fairing_magics, which is not installed there). The bootstrap
calls :func:`upload_output_dir` after the cell ends when FAIRING_STORAGE is an ``s3://`` URI;
it can also be run by hand::

    python storage_upload.py OUTPUT_DIR s3://bucket/prefix RUN_NAME

Every file of the output folder is uploaded (the ``--outputs`` pickle, ``error.json``, models
and anything else the code wrote to $FAIRING_OUTPUT_DIR). ``outputs.pkl`` and ``error.json``
go last: once the kernel sees one of them, the rest of the run folder is complete.

Credentials come from the pod (IRSA / Pod Identity, or ``--aws-secret``), never from the image.
The region comes from ``?region=`` in the URI, else AWS_REGION / AWS_DEFAULT_REGION.
The layout must match ``fairing_magics.storage`` (tests upload here and download there).
"""

import os
import sys
import urllib.parse

RUNS = "runs"
COMMIT_FILES = ("outputs.pkl", "error.json")


class OutputUploadError(RuntimeError):
    """The outputs could not be uploaded; the message says why and what to do."""


def parse_s3_uri(storage_uri):
    """``s3://bucket/prefix?region=R`` -> (bucket, prefix ending in "/" or "", region or None)."""
    parsed = urllib.parse.urlsplit(storage_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise OutputUploadError(f"not an s3:// storage URI: {storage_uri!r}")
    prefix = parsed.path.strip("/")
    region = (urllib.parse.parse_qs(parsed.query).get("region") or [None])[0]
    return parsed.netloc, (prefix + "/" if prefix else ""), region


def run_key(prefix, run_name, relative_name):
    """The S3 key of a file of a run: ``<prefix>runs/<run>/<relative name>``."""
    return f"{prefix}{RUNS}/{run_name}/{relative_name}"


def list_output_files(output_dir):
    """Every file under ``output_dir`` as a POSIX relative path, sorted, commit files last."""
    names = []
    for root, dirs, files in os.walk(output_dir):
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            names.append(os.path.relpath(path, output_dir).replace(os.sep, "/"))
    names.sort()
    names.sort(key=lambda name: name in COMMIT_FILES)
    return names


def upload_output_dir(output_dir, storage_uri, run_name):
    """Upload every file of ``output_dir`` to ``<storage_uri>/runs/<run_name>/``; return the
    keys."""
    try:
        import boto3
    except ImportError:
        raise OutputUploadError(
            "boto3 is not installed in this image, so the outputs cannot be uploaded to "
            f"{storage_uri}. Add boto3 to the run's requirements (or the base image)."
        ) from None
    bucket, prefix, region = parse_s3_uri(storage_uri)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client = boto3.session.Session(region_name=region).client("s3", region_name=region)
    keys = []
    for name in list_output_files(output_dir):
        key = run_key(prefix, run_name, name)
        try:
            client.upload_file(os.path.join(output_dir, name), bucket, key)
        except Exception as exc:
            raise OutputUploadError(_explain(exc, bucket, key)) from exc
        keys.append(key)
    return keys


def _explain(exc, bucket, key):
    inner = exc.__cause__ or exc.__context__
    if inner is not None and hasattr(inner, "response"):
        exc = inner
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    code = error.get("Code", "")
    where = f"s3://{bucket}/{key}"
    if code in ("AccessDenied", "403"):
        return (f"access denied uploading {where}: the pod's AWS identity lacks the IAM permission "
                "s3:PutObject on this bucket (give the service account's role that permission, "
                "or use --aws-secret)")
    if code == "NoSuchBucket":
        return f"cannot upload {where}: bucket {bucket} does not exist"
    if type(exc).__name__ == "NoCredentialsError":
        return (f"no AWS credentials in the pod to upload {where}: use a service account with an "
                "IAM role (IRSA / Pod Identity) or --aws-secret")
    detail = error.get("Message") or exc
    return f"cannot upload {where}: {code or type(exc).__name__}: {detail}"


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: storage_upload.py OUTPUT_DIR s3://bucket/prefix RUN_NAME\n")
        return 2
    try:
        keys = upload_output_dir(argv[1], argv[2], argv[3])
    except OutputUploadError as exc:
        sys.stderr.write(f"fairing: {exc}\n")
        return 1
    sys.stdout.write(f"fairing: uploaded {len(keys)} file(s) to {argv[2]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
