"""Local backend benchmarks (issue 2).

1. Time from cell start to the first log line: ``pipeline.train`` (capture, bundle, subprocess
   start, bootstrap) until the first LogLines event reaches the panel. Baseline, same run: a bare
   ``python -c "print(1)"`` subprocess until its first line (the floor any subprocess pays).
2. Log throughput: 200,000 writes by a run, through the follow-to-panel path (pipe reader ->
   terminal (lines.py) -> Run (logs.txt, metric parsing, metrics.jsonl, progress) -> JobView with
   real ipywidgets objects), in lines/s and peak Python memory of the kernel side (tracemalloc).
   Like a tqdm loop that reports with ``tqdm.write``: 20% of the writes are progress frames
   (``\r 45%|####  | 90000/200000 [...]``, which the run's LiveStream ends with save-cursor +
   newline), the others ``step=N loss=X`` lines that clear the bar first (``\r\x1b[K``) and are
   parsed as metrics. Baseline, same run: the same 200,000 lines written with print() in this
   process (to an in-memory stream, the cheapest thing a kernel can do with them).

Targets: median first line under 1 s; at least 50,000 lines/s with bounded memory.
Run: ``python benchmarks/bench_local.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.pipeline import TrainOptions, train
from fairing_magics.run import RunBook
from fairing_magics.train_request import merge_request

N_LINES = 200_000
REPEATS = 9


def _settings(home: Path, ui: str = "widget") -> Settings:
    return Settings(home=home, ui=ui, log_lines=1000)


def first_line_seconds(home: Path) -> float:
    first: list[float] = []
    started = time.perf_counter()

    def on_event(event):
        if isinstance(event, ev.LogLines) and not first:
            first.append(time.perf_counter())

    namespace = {"data": list(range(100))}
    request = merge_request(TrainOptions(name="bench"), _settings(home, ui="text"))
    run = train("print('hello', sum(data))", namespace, [], request, RunBook(), show=None)
    run.subscribe(on_event)
    run.wait(60)
    if not first:  # the line may have come before we subscribed: read it from the log instead
        raise RuntimeError("subscribe raced the first line; increase the program's startup")
    return first[0] - started


def bare_subprocess_first_line() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "print(1)"], stdout=subprocess.PIPE)
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.wait()
    return elapsed


def _run_lines(home: Path, n_lines: int):
    cell = (f"import sys\nw = sys.stdout.write\nn = {n_lines}\nfor i in range(n):\n"
            "    if i % 5 == 4:\n"
            "        w('\\r%3d%%|%-10s| %d/%d [00:01<00:02, 99999.00it/s]'"
            " % (i * 100 // n, '#' * (i * 10 // n), i, n))\n"
            "    else:\n"
            "        w('\\r\\x1b[Kstep=%d loss=0.12345\\n' % i)\n"
            "w('\\n')\n")
    with contextlib.redirect_stdout(io.StringIO()):
        request = merge_request(TrainOptions(name="throughput"), _settings(home))
        run = train(cell, {}, [], request, RunBook())
        run.wait(300)
    messages = n_lines - n_lines // 5
    assert run.line_count == messages + 1, run.line_count  # the messages, then the bar's last frame
    assert len(run.view.logs[""]) == 1000  # the panel keeps a bounded number of lines
    assert run.series.count(("loss", "")) == messages  # every message parsed as a metric
    assert run.progress[""].done == n_lines - 1  # the bar's last frame
    return run


def throughput(home: Path) -> float:
    """Lines per second through the follow-to-panel path (untraced: tracemalloc slows it 3x)."""
    started = time.perf_counter()
    _run_lines(home, N_LINES)
    return N_LINES / (time.perf_counter() - started)


def peak_memory_mib(home: Path, n_lines: int) -> float:
    """Peak Python memory of the kernel side while following ``n_lines`` lines."""
    tracemalloc.start()
    _run_lines(home, n_lines)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def print_baseline() -> float:
    sink = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        for i in range(N_LINES):
            print(f"training step {i} loss 0.12345")
    return N_LINES / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["FAIRING_HOME"] = str(home)
        first_line_seconds(home)  # warm imports
        ours = [first_line_seconds(home) for _ in range(REPEATS)]
        bare = [bare_subprocess_first_line() for _ in range(REPEATS)]
        ours_median, bare_median = statistics.median(ours), statistics.median(bare)
        print(f"time to first log line (local backend): median {ours_median * 1000:.0f} ms "
              f"over {REPEATS} runs (min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f})")
        print("  baseline bare 'python -c print(1)' subprocess: "
              f"median {bare_median * 1000:.0f} ms; "
              f"ratio {ours_median / bare_median:.2f}x; target < 1000 ms: "
              f"{'met' if ours_median < 1 else 'NOT met'}")
        rates = [throughput(home) for _ in range(3)]
        rate = statistics.median(rates)
        baseline = print_baseline()
        small, large = peak_memory_mib(home, N_LINES // 10), peak_memory_mib(home, N_LINES)
        print(f"log throughput: {N_LINES} writes (20% progress frames, 80% metric lines) "
              "through pipe -> terminal -> run (logs, metrics, progress) -> JobView at "
              f"{rate:,.0f} lines/s (median of 3)")
        print(f"  peak traced memory: {small:.1f} MiB for {N_LINES // 10} lines, "
              f"{large:.1f} MiB for "
              f"{N_LINES} lines (bounded: {'yes' if large < 2 * small + 5 else 'NO'})")
        print(f"  baseline print() in the kernel process: {baseline:,.0f} lines/s; "
              f"ratio {rate / baseline:.2f}x; "
              f"target >= 50,000 lines/s: {'met' if rate >= 50_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
