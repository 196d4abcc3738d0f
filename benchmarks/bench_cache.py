"""Cached re-runs (issue 18): the quick start's training cell run with ``--cache`` against a run
storage folder, first run vs a re-run with the same inputs.

Figure: median seconds of the first run (capture, subprocess, training, outputs) and of the
cached re-run (capture, key, lookup, the log replayed and the outputs loaded from storage), each
from the call to the end of the wait, as the cell sees it; and the ratio re-run / first run.
Baseline, same run: the first run itself. Target: the re-run under 5 % of the first run.
Run: ``python benchmarks/bench_cache.py``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from fairing_magics.config import Settings
from fairing_magics.pipeline import TrainOptions, train
from fairing_magics.run import RunBook

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
RERUNS = 4  # cached re-runs after each first run


def quickstart() -> tuple[list[str], str, dict]:
    """The quick start's cells before the training cell, that cell's body, and its namespace."""
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    index = next(i for i, s in enumerate(code) if s.startswith("%%fairing_train"))
    history = [s for s in code[:index] if not s.startswith("%")]
    namespace: dict = {"__name__": "__main__"}  # as in a kernel: the classes are __main__'s
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in history:
            exec(cell, namespace)
    body = code[index].split("\n", 1)[1]
    return history, body, namespace


def timed_run(body: str, namespace: dict, history: list[str], settings: Settings) -> tuple[float, object]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = train(body, namespace, [*history, body],
                    TrainOptions(name="linreg", outputs=("model",), cache="on"), settings, RunBook())
        run.wait(120)
    return time.perf_counter() - started, run


def main() -> None:
    history, body, namespace = quickstart()
    firsts, cached = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS):
            settings = Settings(home=Path(tmp) / f"home-{i}", storage=str(Path(tmp) / f"storage-{i}"),
                                ui="text")
            seconds, first = timed_run(body, namespace, history, settings)
            assert first.status == "Succeeded" and getattr(first, "cached_from", None) is None
            firsts.append(seconds)
            for _ in range(RERUNS):
                seconds, again = timed_run(body, namespace, history, settings)
                assert again.cached_from == first.name, "the re-run was not cached"
                assert again.outputs["model"].weight == first.outputs["model"].weight
                cached.append(seconds)
    first, hit = statistics.median(firsts), statistics.median(cached)
    ratio = hit / first
    print(f"quick start training cell, --cache, local backend, run storage folder ({REPEATS} repeats)")
    print(f"  first run (baseline): median {first * 1000:.0f} ms "
          f"(min {min(firsts) * 1000:.0f}, max {max(firsts) * 1000:.0f})")
    print(f"  cached re-run ({len(cached)}): median {hit * 1000:.1f} ms "
          f"(min {min(cached) * 1000:.1f}, max {max(cached) * 1000:.1f})")
    print(f"  ratio re-run / first run: {ratio:.1%}; target < 5%: {'met' if ratio < 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
