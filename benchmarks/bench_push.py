"""Rebuild and push after a code-only change, against the protocol's lower bound.

Against a real registry (Debian's docker-registry on 127.0.0.1) holding the test Python base:

- ours, warm kernel: capture the changed cell (when the capture engine is importable), build
  with :class:`AppendBuilder` (base tag checked with one HEAD, dependency layer from the cache,
  new code layer) and publish with the kernel's :class:`RegistryPublisher`;
- ours, fresh process: the same with a new client, builder and publisher each time (no memory
  of the base or of the blobs in the registry);
- lower bound: a minimal script that puts one small gzip layer (as large as our code layer),
  a config and a manifest over the registry API with ``requests``: 5 requests, nothing else;
- unchanged cell: the same cell again: no blob may go out, at most 3 requests;
- baseline (1), docker SDK: the same capture, then :class:`DockerBuilder` (generated
  Dockerfile, ``images.build`` + ``images.push`` with the docker SDK) through podman's Docker
  API (``podman system service``), kept warm like a kernel (base pulled, requirements layer in
  the engine's build cache). Its requests and bytes are counted in one extra run pushed through
  a counting proxy in front of the same registry (the timed runs go straight to the registry).

Prints latency (median of ``--runs``; ``--docker-runs`` for the slow docker baseline), requests
and bytes on the wire, and the ratios to the lower bound (target for ours: within 1.5x). Run:
``python benchmarks/bench_push.py`` (``--docker-runs 0`` skips the docker baseline).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from fairing_magics.capture.bundle import Bundle  # noqa: E402
from fairing_magics.image.builder import AppendBuilder, BuildRequest  # noqa: E402
from fairing_magics.oci import parse_reference  # noqa: E402
from fairing_magics.registry import (  # noqa: E402
    Keychain,
    RegistryClient,
    RegistryPublisher,
    Transport,
)
from tests.harness.base_image import push_python_base  # noqa: E402
from tests.harness.registry import start_registry  # noqa: E402

HISTORY = [
    "import numpy as np",
    "x = np.linspace(0, 1, 200)\ny = 3 * x + 1",
    "def fit(x, y):\n    a, b = np.polyfit(x, y, 1)\n    return {'a': float(a), 'b': float(b)}",
]


def cell_text(i: int) -> str:
    return f"model = fit(x, y)\nprint('run {i}', model)\n"


def make_capture():
    """capture(cell) -> Bundle, with the real capture engine when it is there."""
    import numpy as np

    namespace: dict = {"np": np}
    for cell in HISTORY:
        exec(cell, namespace)
    try:
        from fairing_magics.capture import capture_cell

        def capture(cell: str) -> Bundle:
            return capture_cell(cell, namespace, HISTORY + [cell], requirements="auto",
                                outputs=("model",))

        capture(cell_text(0))
        return capture, "capture_cell (included)"
    except Exception as exc:  # noqa: BLE001 - the capture engine is optional for this benchmark
        import cloudpickle

        def capture(cell: str) -> Bundle:
            return Bundle(source=HISTORY[2] + "\n" + cell,
                          values={"x": cloudpickle.dumps(namespace["x"]),
                                  "y": cloudpickle.dumps(namespace["y"])},
                          outputs=("model",), requirements=(f"numpy=={np.__version__}",),
                          python=".".join(map(str, sys.version_info[:3])))

        return capture, f"hand-made bundle (capture unavailable: {type(exc).__name__})"


def new_client(host: str) -> RegistryClient:
    return RegistryClient(Transport(Keychain(docker_config={}), insecure_registries=[host]))


def ours(client, builder, publisher, capture, cell: str, base: str, repository: str):
    start = time.perf_counter()
    before = client.transport.stats.snapshot()
    image = builder.build(capture(cell), BuildRequest(parse_reference(base)))
    ref = str(publisher.publish(image, parse_reference(repository)))
    elapsed = time.perf_counter() - start
    after = client.transport.stats.snapshot()
    return elapsed, after[0] - before[0], after[1] - before[1], ref, image


def small_layer(size_hint: int, salt: int) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        payload = b"".join(hashlib.sha256(f"{salt}-{i}".encode()).digest()
                           for i in range(max(1, size_hint // 32)))
        info = tarfile.TarInfo("app/main.py")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def lower_bound(session: requests.Session, host: str, repository: str, layer: bytes, diff_id: str):
    """The minimum: POST+PUT a layer, POST+PUT a config, PUT a manifest. Returns (s, requests,
    bytes)."""
    base = f"http://{host}/v2/{repository}"
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "config": {}}).encode()
    start = time.perf_counter()
    sent = 0
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        location = session.post(f"{base}/blobs/uploads/").headers["Location"]
        session.put(location if location.startswith("http") else f"http://{host}{location}",
                    params={"digest": digest}, data=blob,
                    headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        sent += len(blob)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}]}).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    session.put(f"{base}/manifests/{digest}", data=manifest, headers={
        "Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()
    sent += len(manifest)
    return time.perf_counter() - start, 5, sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--docker-runs", type=int, default=5,
                        help="runs of the docker-SDK baseline (0: skip it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        server = start_registry(Path(tmp) / "registry")
        try:
            return run(server, Path(tmp), args.runs, args.docker_runs)
        finally:
            server.stop()


class DockerBaseline:
    """Baseline (1): build and push with the docker SDK through podman's Docker API."""

    def __init__(self, host: str, tmp: Path, capture, base: str, first_cell: str):
        from fairing_magics.docker_engine import docker_client
        from fairing_magics.image.base import BaseResolver
        from fairing_magics.image.docker_builder import DockerBuilder, EnginePublisher
        from fairing_magics.image.layout import runtime_requirements
        from tests.harness.fixtures_docker import DockerAPI

        self.proxy = CountingProxy(host)
        self.service = DockerAPI(insecure=(host, self.proxy.host))
        try:
            self.engine = docker_client(self.service.url)
            # No package index inside the image here: the requirements come from wheels fetched
            # once.
            wheels = tmp / "wheels"
            reqs = runtime_requirements(capture(first_cell))
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary=:all:",
                            "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                            "--platform", "manylinux2014_x86_64", "-d", str(wheels), *reqs],
                           check=True)
            self.builder = DockerBuilder(self.engine, bases=BaseResolver(new_client(host)),
                                         wheels=wheels)
            self.publisher = EnginePublisher()
            self.capture, self.base = capture, base
            self.repository, self.counted_repository = (f"{host}/bench/docker",
                                                        f"{self.proxy.host}/bench/docker")
            self.build(first_cell, self.repository)  # warm: base pulled, requirements layer cached
            # the counted repository holds the base too
            self.build(first_cell, self.counted_repository)
        except BaseException:
            self.stop()
            raise

    def build(self, cell: str, repository: str) -> float:
        start = time.perf_counter()
        image = self.builder.build(self.capture(cell), BuildRequest(parse_reference(self.base)))
        self.publisher.publish(image, parse_reference(repository))
        return time.perf_counter() - start

    def timed(self, cell: str):
        return self.build(cell, self.repository), float("nan"), float("nan")

    def counted(self, cell: str) -> tuple[int, int]:
        before = dict(self.proxy.totals)
        self.build(cell, self.counted_repository)
        return (self.proxy.totals["requests"] - before["requests"],
                self.proxy.totals["bytes"] - before["bytes"])

    def stop(self) -> None:
        self.service.stop()
        self.proxy.stop()


class CountingProxy:
    """A plain forwarding proxy (the tests' FaultProxy with no faults) that counts requests and
    request-body bytes sent to the registry."""

    def __init__(self, upstream: str):
        from tests.harness.registry import FaultPlan, FaultProxy, _ProxyHandler

        totals = {"requests": 0, "bytes": 0}
        self.totals = totals

        class Counting(_ProxyHandler):
            def _read_body(self) -> bytes:
                body = super()._read_body()
                totals["requests"] += 1
                totals["bytes"] += len(body)
                return body

        self._proxy = FaultProxy(upstream, FaultPlan(rate=0.0))
        self._proxy.server.RequestHandlerClass = Counting
        self.host = self._proxy.host

    def stop(self) -> None:
        self._proxy.stop()


def run(server, tmp: Path, runs: int, docker_runs: int = 5) -> int:
    host = server.host
    setup_client = new_client(host)
    base = push_python_base(setup_client, host).tag_ref
    capture, how = make_capture()
    repository = f"{host}/bench/job"

    # Warm kernel: one client/builder/publisher for the session; the first build fills the caches.
    client = new_client(host)
    builder = AppendBuilder(client)
    publisher = RegistryPublisher(client)
    first = ours(client, builder, publisher, capture, cell_text(0), base, repository)
    code_size = first[4].layers[-1].size
    session = requests.Session()
    lower_bound(session, host, "bench/minimal", *small_layer(code_size, -1))  # warm the connection
    docker, docker_note = None, ""
    if docker_runs > 0:
        try:
            docker = DockerBaseline(host, tmp, capture, base, cell_text(0))
        except Exception as exc:  # noqa: BLE001 - podman or the docker SDK missing:
            # report, measure the rest
            docker_note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    # The runs are interleaved, so that each sees the same load on a shared machine.
    warm, fresh, low, dock = [], [], [], []
    try:
        for i in range(1, runs + 1):
            low.append(lower_bound(session, host, "bench/minimal", *small_layer(code_size, i)))
            warm.append(ours(client, builder, publisher, capture, cell_text(i), base, repository))
            c = new_client(host)
            fresh.append(ours(c, AppendBuilder(c), RegistryPublisher(c), capture,
                              cell_text(runs + i), base, repository))
            if docker is not None and i <= docker_runs:
                dock.append(docker.timed(cell_text(2 * runs + i)))
        counted = docker.counted(cell_text(3 * runs + 1)) if docker is not None else None
    finally:
        if docker is not None:
            docker.stop()
    same = ours(client, builder, publisher, capture, cell_text(runs), base, repository)

    def row(name, samples):
        t = statistics.median(s[0] for s in samples)
        reqs = statistics.median(s[1] for s in samples)
        sent = statistics.median(s[2] for s in samples)
        print(f"{name:<34}{t * 1000:>10.1f}{reqs:>10.0f}{sent:>12.0f}")
        return t

    print(f"code-only change, {runs} runs each, median; bundle from {how}; "
          f"code layer {code_size} B")
    print(f"{'':<34}{'ms':>10}{'requests':>10}{'bytes out':>12}")
    t_low = row("lower bound (minimal script)", low)
    t_warm = row("ours, warm kernel (build+push)", warm)
    t_fresh = row("ours, fresh process (build+push)", fresh)
    if dock:
        t_dock = row(f"docker SDK via podman ({len(dock)} runs)",
                     [(t, *counted) for t, _, _ in dock])
        print(f"ratio docker SDK/lower bound: {t_dock / t_low:.2f}x; "
              f"ours/docker SDK: warm {t_warm / t_dock:.3f}x")
    elif docker_runs > 0:
        print(f"docker SDK via podman: not measured ({docker_note})")
    print(f"ratio ours/lower bound: warm {t_warm / t_low:.2f}x, "
          f"fresh process {t_fresh / t_low:.2f}x (target <= 1.5x)")
    print(f"unchanged cell: {same[1]} requests, {same[2]} bytes out, {same[0] * 1000:.1f} ms "
          f"(target: no blob, <= 3 requests)")
    return 0 if same[2] == 0 and same[1] <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
