"""Dependency layer for numpy + scikit-learn: uv against pip, cold and warm.

For each installer:
- cold:   empty installer cache, empty layer cache (download, unpack, tar, gzip);
- warm:   installer cache kept from the cold run, empty layer cache (what a new requirement set
          sharing wheels with an old one costs);
- cached: the layer cache hit (what an unchanged set costs on every later build).

Prints the times and the ratio pip/uv (the baseline is pip). Run:
``python benchmarks/bench_deps.py`` (needs the package index; ``--requirements`` to change the
set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairing_magics.image.deps import Target, dependency_layer  # noqa: E402


def default_requirements() -> list[str]:
    try:
        import numpy
        import sklearn

        return [f"numpy=={numpy.__version__}", f"scikit-learn=={sklearn.__version__}"]
    except ImportError:
        return ["numpy==2.1.3", "scikit-learn==1.5.2"]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(installer: str, requirements: list[str], target: Target, root: Path) -> dict:
    os.environ["UV_CACHE_DIR"] = str(root / "uv-cache")
    os.environ["PIP_CACHE_DIR"] = str(root / "pip-cache")
    cold, layer = timed(lambda: dependency_layer(requirements, target, cache_dir=root / "layers-1",
                                                 installer=installer))
    warm, _ = timed(lambda: dependency_layer(requirements, target, cache_dir=root / "layers-2",
                                             installer=installer))
    cached, again = timed(lambda: dependency_layer(requirements, target,
                                                   cache_dir=root / "layers-2",
                                                   installer=installer))
    assert again.digest == _.digest
    return {"cold": cold, "warm": warm, "cached": cached, "size": layer.size,
            "digest": layer.digest}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", nargs="*", default=default_requirements())
    parser.add_argument("--python", default="3.11")
    args = parser.parse_args()
    target = Target(args.python)
    installers = ["pip"] + (["uv"] if shutil.which("uv") else [])
    results = {}
    for installer in installers:
        with tempfile.TemporaryDirectory(prefix=f"bench-deps-{installer}-") as tmp:
            results[installer] = measure(installer, args.requirements, target, Path(tmp))
    print(f"dependency layer: {' '.join(args.requirements)} for {target.describe()}")
    print(f"{'installer':<10}{'cold s':>10}{'warm s':>10}{'cached s':>10}{'layer MB':>10}")
    for installer, r in results.items():
        print(f"{installer:<10}{r['cold']:>10.2f}{r['warm']:>10.2f}{r['cached']:>10.3f}"
              f"{r['size'] / 1e6:>10.1f}")
    if "uv" in results:
        pip, uv = results["pip"], results["uv"]
        print(f"ratio pip/uv (baseline pip): cold {pip['cold'] / uv['cold']:.2f}x, "
              f"warm {pip['warm'] / uv['warm']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
