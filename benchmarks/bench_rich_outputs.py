"""Rich outputs benchmark (issue 19): how long a figure takes from ``plt.show()`` in a run to the
panel, against the same figure shown in the kernel.

1. Remote (local backend): a run draws the figure, notes the time and calls ``plt.show()``; the
   time is taken again when the figure is in the panel's widget (a real ``JobView``: the
   ``DisplayShown`` event has been rendered into its ``ipywidgets.Output``). The path: drawing
   the PNG in the run, the message (JSON, zlib, base64) cut into markers on stdout, the pipe, the
   terminal (lines.py), the run putting the parts together (secret scan, caps, ``displays/``
   files), the panel. Each figure is shown alone (the run waits between them), repeated.
2. Baseline, same process, same figure: ``plt.show()`` in the kernel with IPython's inline
   backend (``matplotlib_inline``), until its ``display_data`` is published: what a notebook
   pays to show a figure drawn in the kernel.

Printed: the median of each and their ratio. Run: ``python benchmarks/bench_rich_outputs.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from fairing_magics import events as ev
from fairing_magics.config import Settings
from fairing_magics.pipeline import TrainOptions, train
from fairing_magics.run import RunBook

REPEATS = 15
FIGURE = ("fig = plt.figure(figsize=(6.4, 4.8))\n"
          "xs = [i / 10 for i in range(200)]\n"
          "ys = [math.exp(-x / 5) * (1 + 0.1 * math.sin(3 * x)) for x in xs]\n"
          "plt.plot(xs, ys, label='loss')\n"
          "plt.title('training loss')\n"
          "plt.xlabel('epoch')\n"
          "plt.legend()\n")


def remote_seconds(home: Path) -> list[float]:
    cell = ("import math, time\n"
            "import matplotlib.pyplot as plt\n"
            f"for repeat in range({REPEATS}):\n"
            + "".join("    " + line + "\n" for line in FIGURE.splitlines()) +
            "    print(f'shown_at={time.time()!r}', flush=True)\n"
            "    plt.show()\n"
            "    time.sleep(0.3)\n")
    shown_at: list[float] = []
    latencies: list[float] = []

    def on_event(event):
        if isinstance(event, ev.LogLines):
            shown_at.extend(float(line.split("=", 1)[1]) for line in event.lines
                            if line.startswith("shown_at="))
        elif isinstance(event, ev.DisplayShown):  # the panel (subscribed first) has rendered it
            latencies.append(time.time() - shown_at[len(latencies)])

    run = train(cell, {}, [], TrainOptions(name="bench-figures"), Settings(home=home, ui="widget"),
                RunBook())
    run.subscribe(on_event)
    run.wait(300)
    view = run.view
    assert len(view._display_widgets) == REPEATS, "every figure reached the panel's widget"
    assert all(d.kind == "figure" and "image/png" in d.data for d in run.displays)
    return latencies[1:]  # the first pays for importing the formatting path once


def kernel_seconds() -> list[float]:
    import matplotlib
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline.backend_inline import configure_inline_support

    shell = InteractiveShell.instance()
    backend = "module://matplotlib_inline.backend_inline"
    matplotlib.use(backend)
    configure_inline_support(shell, backend)  # what %matplotlib inline does in a kernel
    published: list[float] = []
    def publish(data, metadata=None, **kwargs):
        if "image/png" in data:
            published.append(time.perf_counter())

    shell.display_pub.publish = publish
    namespace: dict = {}
    exec("import math\nimport matplotlib.pyplot as plt\n", namespace)
    seconds = []
    for _ in range(REPEATS):
        exec(FIGURE, namespace)
        started = time.perf_counter()
        namespace["plt"].show()
        seconds.append(published[-1] - started)
    return seconds[1:]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        remote = remote_seconds(Path(folder))
    kernel = kernel_seconds()
    remote_median, kernel_median = statistics.median(remote), statistics.median(kernel)
    print(f"figure from plt.show() in a local run to the panel: median {remote_median * 1000:.0f} "
          f"ms (min {min(remote) * 1000:.0f}, max {max(remote) * 1000:.0f}, {len(remote)} figures)")
    print(f"baseline, the same figure shown in the kernel (inline backend): median "
          f"{kernel_median * 1000:.0f} ms (min {min(kernel) * 1000:.0f}, "
          f"max {max(kernel) * 1000:.0f})")
    print(f"ratio remote / kernel: {remote_median / kernel_median:.2f}x "
          f"(+{(remote_median - kernel_median) * 1000:.0f} ms for the trip)")


if __name__ == "__main__":
    main()
