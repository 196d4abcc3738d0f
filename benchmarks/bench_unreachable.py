"""Benchmark: how long until the user hears that a service cannot be reached.

Each service is pointed at a closed port on 127.0.0.1 (connection refused) and timed until our
code raises its one-line error:

- registry: one request through :class:`~fairing_magics.registry.transport.Transport` with the
  default policy, against the baseline of the same transport retrying refused connections like
  any other failure (``unreachable_attempts = attempts = 8``, what it did before);
- Kubernetes API: the backend's pre-submit check (``KubernetesBackend.check``) with a kubeconfig
  whose server is the closed port;
- S3 run storage: ``storage_for("s3://...").ensure_bucket(create=False)`` with
  ``AWS_ENDPOINT_URL`` at the closed port (skipped without boto3).

Run: ``python benchmarks/bench_unreachable.py``
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(action) -> tuple[float, str]:
    from fairing_magics.errors import FairingError

    started = time.perf_counter()
    try:
        action()
    except FairingError as exc:
        return time.perf_counter() - started, str(exc)
    raise SystemExit("expected an error: the closed port answered?")


def registry(policy) -> tuple[float, str]:
    from fairing_magics.registry import Keychain, Transport

    host = f"127.0.0.1:{closed_port()}"
    transport = Transport(Keychain(docker_config={}), insecure_registries=[host], retry=policy)
    return timed(lambda: transport.request("GET", transport.url(host, "/v2/"), what="ping"))


def kubernetes(folder: Path) -> tuple[float, str]:
    from fairing_magics import pipeline
    from fairing_magics.backends.kubernetes.backend import KubernetesBackend
    from fairing_magics.config import Settings
    from fairing_magics.train_request import merge_request

    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{closed_port()}'}}}}]\n"
        "users: [{name: u, user: {token: bench-token-0000000}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]\n")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    request = merge_request(pipeline.TrainOptions(backend="kubernetes"),
                            Settings(registry="127.0.0.1:9/x"))
    return timed(lambda: KubernetesBackend().check(request))


def s3() -> tuple[float, str] | None:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return None
    from fairing_magics.storage import storage_for

    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}",
                      AWS_ACCESS_KEY_ID="AKIABENCHBENCHBENCH0",
                      AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="cn-northwest-1")
    return timed(lambda: storage_for("s3://bench-unreachable/p").ensure_bucket(create=False))


def main() -> None:
    from fairing_magics.registry import RetryPolicy

    now, message = registry(RetryPolicy())
    before, _ = registry(RetryPolicy(unreachable_attempts=RetryPolicy().attempts))
    print(f"registry (connection refused): {now:.2f} s, "
          f"baseline (8 attempts, as before) {before:.2f} s, "
          f"ratio {before / now:.0f}x faster")
    print(f"  {message}")
    with tempfile.TemporaryDirectory() as folder:
        seconds, message = kubernetes(Path(folder))
    print(f"kubernetes API (connection refused): {seconds:.2f} s\n  {message}")
    result = s3()
    if result is None:
        print("s3: skipped (boto3 is not installed)")
    else:
        print(f"s3 endpoint (connection refused): {result[0]:.2f} s\n  {result[1]}")


if __name__ == "__main__":
    main()
