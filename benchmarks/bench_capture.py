"""Benchmark: capture time for a cell with a 300-cell history and 50 definitions.

The history is run in a real IPython InteractiveShell: 50 function/class definitions (each
calling the previous one, so the cell needs all 50), values, imports, and a few cells with
IPython syntax. The captured cell uses the last definition, two literal values, a numpy array
(pickled) and numpy.

Prints the first (cold) capture, the median of repeated captures (target: <= 20 ms), and the
ratio against a baseline measured in the same run: ``ast.parse`` of the whole history, the
least any capture that reads the history as Python must do.

Run: ``python benchmarks/bench_capture.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HISTORY_CELLS = 300
DEFINITIONS = 50
TARGET_MS = 20.0


def make_history() -> list[str]:
    cells = ["import numpy as np\nimport math\nfrom functools import reduce"]
    defined = 0
    for index in range(1, HISTORY_CELLS):
        if index % 6 == 1 and defined < DEFINITIONS:
            k = defined
            if k % 10 == 9:
                cells.append(
                    f"class Step{k}:\n    '''step {k}'''\n    def __init__(self, x):\n"
                    f"        self.x = x\n\n    def run(self):\n"
                    f"        return f{k - 1}(self.x) + {k}\n\n"
                    f"def f{k}(x):\n    return Step{k}(x).run()"
                )
            elif k == 0:
                cells.append("def f0(x):\n    '''the first step'''\n    return x + math.floor(0.5)")
            else:
                cells.append(f"def f{k}(x):\n    # step {k}\n    total = f{k - 1}(x)\n"
                             f"    return total + {k}")
            defined += 1
        elif index % 25 == 0:
            cells.append(f"%time w{index} = sum(range({index}))\nprint(w{index})")
        elif index % 3 == 0:
            cells.append(f"arr{index} = np.arange({index})\nm{index} = float(arr{index}.mean())")
        else:
            cells.append(f"v{index} = {index} * 2\ns{index} = 'cell {index}'\n"
                         f"print(v{index}, s{index})")
    assert defined == DEFINITIONS
    return cells


CELL = "result = f49(1) + v8 + int(np.arange(3).sum()) + float(arr9.sum())\nprint(result, s8)\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from IPython.core.interactiveshell import InteractiveShell

    from fairing_magics.capture import capture_cell

    shell = InteractiveShell.instance()
    history = make_history()
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        for cell in history:
            result = shell.run_cell(cell, store_history=False)
            if not result.success:
                raise SystemExit(f"history cell failed:\n{cell}")
    namespace = shell.user_ns
    full_history = [*history, "%%fairing_train\n" + CELL]

    start = time.perf_counter()
    bundle = capture_cell(CELL, namespace, full_history)
    cold_ms = (time.perf_counter() - start) * 1000
    assert len(bundle.report.definitions) >= DEFINITIONS, bundle.report.definitions

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        capture_cell(CELL, namespace, full_history)
        times.append((time.perf_counter() - start) * 1000)

    baseline = []
    joined = "\n".join(c for c in history if not c.lstrip().startswith("%"))
    for _ in range(args.repeat):
        start = time.perf_counter()
        ast.parse(joined)
        baseline.append((time.perf_counter() - start) * 1000)

    median = statistics.median(times)
    base = statistics.median(baseline)
    print(f"capture: {HISTORY_CELLS}-cell history, {len(bundle.report.definitions)} definitions "
          f"captured, {len(bundle.values)} pickled values, {len(bundle.source.splitlines())} "
          "lines of main.py")
    print(f"first capture (cold caches):   {cold_ms:8.2f} ms")
    print(f"capture median of {args.repeat}:        {median:8.2f} ms  "
          f"(target <= {TARGET_MS:.0f} ms: {'ok' if median <= TARGET_MS else 'MISSED'})")
    print(f"baseline ast.parse(history):   {base:8.2f} ms")
    print(f"ratio capture / baseline:      {median / base:8.2f}x")
    return 0 if median <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
