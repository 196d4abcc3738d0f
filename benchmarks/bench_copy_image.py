"""Benchmark: ``fairing-magics copy-image`` when the destination already has what it needs.

Two real registries (Debian's docker-registry on 127.0.0.1) and an image of three incompressible
8 MB layers. Timed, each with the bytes our transport sent:

- baseline: the first copy, every blob streamed from the source and uploaded;
- again: the same copy once more (every blob HEADed and skipped, the manifest put again);
- mount: a copy to another repository of the destination registry (every blob mounted).

Run: ``python benchmarks/bench_copy_image.py`` (needs docker-registry and htpasswd)
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAYER_BYTES = 8 << 20


def main() -> int:
    from fairing_magics.copy_image import copy_image
    from fairing_magics.oci import TarEntry, append_layers, layer_from_entries, parse_reference
    from fairing_magics.registry import Keychain, RegistryClient, Transport, push_image
    from tests.harness.registry import registry_available, start_registry

    if not registry_available():
        print("skipped: docker-registry is not installed (apt-get install docker-registry)")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        source = start_registry(Path(folder) / "source")
        target = start_registry(Path(folder) / "target")
        try:
            layers = []
            for i in range(3):
                payload = b"".join(hashlib.sha256(f"{i}-{j}".encode()).digest()
                                   for j in range(LAYER_BYTES // 32))
                layers.append(layer_from_entries([TarEntry(f"data/{i}.bin", data=payload)],
                                                 f"layer {i}"))
            image = append_layers(None, layers, cmd=["python3"])
            setup = RegistryClient(Transport(Keychain(docker_config={}),
                                             insecure_registries=[source.host]))
            push_image(setup, image, parse_reference(f"{source.host}/bench/python:3.11-slim"))

            def timed(src: str, dst: str) -> tuple[float, int, str]:
                transport = Transport(Keychain(docker_config={}),
                                      insecure_registries=[source.host, target.host])
                started = time.perf_counter()
                result = copy_image(RegistryClient(transport), src, dst)
                return (time.perf_counter() - started, transport.stats.snapshot()[1],
                        result.summary())

            cold = timed(f"{source.host}/bench/python:3.11-slim", f"{target.host}/mirror/python")
            again = timed(f"{source.host}/bench/python:3.11-slim", f"{target.host}/mirror/python")
            mount = timed(f"{target.host}/mirror/python:3.11-slim", f"{target.host}/other/python")
        finally:
            source.stop()
            target.stop()
    for name, (seconds, sent, summary) in (("baseline (first copy)", cold),
                                           ("again (all there)", again),
                                           ("mount (same registry)", mount)):
        print(f"{name:<24} {seconds * 1000:8.1f} ms  {sent / 1e6:7.1f} MB sent  {summary}")
    print(f"ratio again/baseline: {again[0] / cold[0]:.3f} time, "
          f"{again[1] / max(cold[1], 1):.4f} bytes")
    print(f"ratio mount/baseline: {mount[0] / cold[0]:.3f} time, "
          f"{mount[1] / max(cold[1], 1):.4f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
