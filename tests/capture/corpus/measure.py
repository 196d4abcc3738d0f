"""Run the corpus: each notebook cell by cell in a real kernel, each printing cell again as a job.

For every code cell, in order:

1. the cell is captured inside the kernel, from the kernel's own namespace and input history,
   exactly as ``%%fairing_train`` does it (the capture runs with ``store_history=False`` and in
   a private namespace, so the notebook's state and numbering are untouched);
2. the cell runs in the kernel; what it writes to stdout and stderr is recorded;
3. when it wrote anything (a *printing cell*) and did not fail, the captured bundle runs with its
   own bootstrap in a fresh Python process in an empty working folder, as the local backend runs
   it, and its stdout and stderr are compared with the kernel's.

What no run can reproduce is masked on both sides before comparing (:data:`VOLATILE`): clock
times and dates (statsmodels prints them in its summaries) and object addresses; and the lines
``%time``/``%timeit`` print in the kernel (:data:`TIMING`) are left out of what the job must
print, since the job runs the timed statement once, without timing.

Cells that fail in the kernel itself print nothing to compare and are not counted; the ones the
sources show failing, or that fail with today's libraries, are listed in
:data:`KERNEL_FAILURES` (and in SOURCES.md), so that a new failure is noticed.

Notebooks run :data:`PARALLEL` at a time, each in its own kernel; the jobs of printing cells run
:data:`PARALLEL` at a time on one pool, while the kernels go on.

Run ``python -m tests.capture.corpus.measure [--package DIR] [-v]`` to print the figure;
``--package`` points the kernel at another checkout's ``fairing_magics`` (to measure a baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
NOTEBOOKS = HERE / "notebooks"
CELL_TIMEOUT = 300
PARALLEL = 2

# (notebook, cell index) -> why the cell fails in the kernel too (not counted).
KERNEL_FAILURES = {
    ("numpy_100_exercises", 4): "%run of a backquoted command: IPython finds no such file",
    ("numpy_100_exercises", 26):
        "the exercise shows an illegal expression (negative integer power)",
    ("numpy_100_exercises", 42): "the exercise shows writing to a read-only array",
    ("numpy_100_exercises", 53): "np.int, removed in numpy 1.24",
    ("numpy_100_exercises", 79): "indexing with a list of slices, removed in numpy 1.23",
}

VOLATILE = (
    (re.compile(r"\b0x[0-9a-fA-F]{6,}\b"), "0x?"),  # object addresses
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b"), "hh:mm:ss"),  # clock times
    (re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4}\b"), "DATE"),
)

# What %time and %timeit print in the kernel. The job runs the timed statement once, without
# timing (see fairing_magics.capture.syntax): these lines are the kernel's alone.
TIMING = re.compile(r"^(?:CPU times: .*|Wall time: .*|"
                    r"[\d.]+ \S+ ± [\d.]+ \S+ per loop \(mean ± std\. dev\. "
                    r"of \d+ runs?, [\d,]+ loops? each\))\n?", re.M)

# Runs inside the kernel, in a namespace of its own: capture CELL as %%fairing_train would.
_CAPTURE = """
import json, pathlib
from fairing_magics.capture import capture_cell, write_bundle
_ip = get_ipython()
_history = list(_ip.history_manager.input_hist_raw[1:]) + ["%%fairing_train\\n" + CELL]
try:
    _bundle = capture_cell(CELL, _ip.user_ns, _history, cwd=pathlib.Path.cwd())
    write_bundle(_bundle, OUT)
    _result = {"ok": True, "env": dict(getattr(_bundle, "runtime_env", {}) or {}),
               "notes": list(_bundle.report.notes)}
except Exception as exc:  # every capture failure is a result here
    _result = {"ok": False, "error": type(exc).__name__ + ": " + str(exc)}
pathlib.Path(OUT + ".json").write_text(json.dumps(_result))
"""


@dataclass
class CellResult:
    notebook: str
    index: int
    source: str
    kernel_stdout: str = ""
    kernel_stderr: str = ""
    kernel_error: str = ""
    captured: bool = False
    capture_error: str = ""
    notes: list[str] = field(default_factory=list)
    job_stdout: str = ""
    job_stderr: str = ""
    job_returncode: int | None = None

    @property
    def prints(self) -> bool:
        return bool(self.expected_stdout or self.kernel_stderr) and not self.kernel_error

    @property
    def expected_stdout(self) -> str:
        """The kernel's stdout less the lines only the kernel can print (:data:`TIMING`)."""
        return TIMING.sub("", self.kernel_stdout)

    @property
    def same(self) -> bool:
        return (self.captured and self.job_returncode == 0
                and normalize(self.job_stdout) == normalize(self.expected_stdout)
                and normalize(self.job_stderr) == normalize(self.kernel_stderr))

    def difference(self) -> str:
        """One line saying how the job differed."""
        if not self.captured:
            return "capture refused: " + self.capture_error
        if self.job_returncode != 0:
            tail = self.job_stderr.strip().splitlines()[-1:] or ["(no output)"]
            return f"job exited {self.job_returncode}: {tail[0]}"
        for name, kernel, job in (("stdout", self.expected_stdout, self.job_stdout),
                                  ("stderr", self.kernel_stderr, self.job_stderr)):
            k, j = normalize(kernel).splitlines(), normalize(job).splitlines()
            for a, b in zip(k + [""] * len(j), j + [""] * len(k), strict=True):
                if a != b:
                    return f"{name}: kernel {a[:100]!r} / job {b[:100]!r}"
        return ""


def normalize(text: str) -> str:
    text = text.replace("\r\n", "\n")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def read_cells(path: Path) -> list[str]:
    """Code cells of a percent-format notebook (``# %%`` starts a cell); empty ones dropped."""
    cells, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            cells.append("\n".join(current))
            current = []
        else:
            current.append(line)
    cells.append("\n".join(current))
    out = []
    for cell in cells:
        code = cell.strip("\n")
        if any(line.strip() and not line.lstrip().startswith("#") for line in code.splitlines()):
            out.append(code)
    return out


class Kernel:
    """A real ipykernel (jupyter_client), one cell at a time, outputs collected per stream."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, store_history: bool = True) -> tuple[str, str, str]:
        """(stdout, stderr, error) of one execution."""
        msg_id = self.client.execute(code, store_history=store_history, allow_stdin=False)
        out, err, error = [], [], ""
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=CELL_TIMEOUT)
            except queue.Empty:
                raise TimeoutError(f"no output for {CELL_TIMEOUT} s from:\n{code[:200]}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else err).append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return "".join(out), "".join(err), error

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def run_bundle(folder: Path, env: dict[str, str], work: Path) -> tuple[str, str, int]:
    work.mkdir(parents=True, exist_ok=True)
    env = {**env, "FAIRING_OUTPUT_DIR": str(work / "out"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-u", str(folder / "fairing_bootstrap.py"), str(folder)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=CELL_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return proc.stdout, proc.stderr, proc.returncode


def kernel_env(package: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAIRING_", "JPY_"))}
    env["PYTHONPATH"] = str(package)
    env.pop("PYTHONSTARTUP", None)
    env.pop("MPLBACKEND", None)
    return env


def run_notebook(path: Path, package: Path, scratch: Path,
                 pool: ThreadPoolExecutor) -> list[CellResult]:
    """Every code cell of ``path``; printing cells also run as jobs (on ``pool``)."""
    name = path.stem
    folder = scratch / name / "notebook"  # the notebook's working folder
    folder.mkdir(parents=True)
    data = NOTEBOOKS / name
    if data.is_dir():  # files the notebook reads, kept beside it
        shutil.copytree(data, folder, dirs_exist_ok=True)
    env = kernel_env(package)
    kernel = Kernel(folder, env)
    results, jobs = [], []
    try:
        for index, cell in enumerate(read_cells(path)):
            result = CellResult(name, index, cell)
            out = str(scratch / name / f"bundle-{index}")
            kernel.run(f"exec({_CAPTURE!r}, {{'CELL': {cell!r}, 'OUT': {out!r}}})",
                       store_history=False)
            status = json.loads(Path(out + ".json").read_text())
            result.captured = status["ok"]
            result.capture_error = status.get("error", "")
            result.notes = status.get("notes", [])
            result.kernel_stdout, result.kernel_stderr, result.kernel_error = kernel.run(cell)
            if result.prints and result.captured:
                job_env = {**env, **status.get("env", {})}
                jobs.append((result, pool.submit(run_bundle, Path(out), job_env,
                                                 scratch / name / f"work-{index}")))
            results.append(result)
    finally:
        kernel.close()
    for result, future in jobs:
        result.job_stdout, result.job_stderr, result.job_returncode = future.result()
    return results


def measure(package: Path = ROOT, names: list[str] | None = None) -> list[CellResult]:
    """Run the corpus (or the notebooks ``names``) against the ``fairing_magics`` in ``package``."""
    paths = sorted(NOTEBOOKS.glob("*.py"))
    if names:
        paths = [p for p in paths if p.stem in names]
    paths.sort(key=lambda p: -p.stat().st_size)  # the long ones first: the two kernels end together
    scratch = Path(tempfile.mkdtemp(prefix="fairing-corpus-"))
    try:
        with (ThreadPoolExecutor(max_workers=PARALLEL) as jobs,
              ThreadPoolExecutor(max_workers=PARALLEL) as kernels):
            runs = [kernels.submit(run_notebook, path, package, scratch, jobs) for path in paths]
            results = [result for run in runs for result in run.result()]
        return sorted(results, key=lambda r: (r.notebook, r.index))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def summary(results: list[CellResult], verbose: bool = False) -> str:
    printing = [r for r in results if r.prints]
    same = [r for r in printing if r.same]
    failed_in_kernel = [r for r in results if r.kernel_error]
    lines = [f"{len(same)}/{len(printing)} printing cells print the same "
             f"({100.0 * len(same) / max(len(printing), 1):.1f}%); {len(results)} code cells in "
             f"{len({r.notebook for r in results})} notebooks; {len(failed_in_kernel)} failed in "
             "the kernel"]
    for result in failed_in_kernel:
        known = KERNEL_FAILURES.get((result.notebook, result.index))
        what = (f"fails in the kernel too ({known})" if known
                else f"fails in the kernel: {result.kernel_error[:160]}")
        lines.append(f"  {result.notebook}[{result.index}]: {what}")
    for result in printing:
        if not result.same:
            lines.append(f"  {result.notebook}[{result.index}]: {result.difference()}")
            if verbose:
                lines.extend("      | " + line for line in result.source.splitlines()[:6])
    if verbose:
        for notebook in sorted({r.notebook for r in results}):
            cells = [r for r in results if r.notebook == notebook]
            shown = [r for r in cells if r.prints]
            lines.append(f"  {notebook}: {sum(r.same for r in shown)}/{len(shown)} printing cells "
                         f"the same, {len(cells)} code cells")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the real-notebook corpus and print the figure.")
    parser.add_argument("--package", type=Path, default=ROOT,
                        help="folder holding the fairing_magics to measure "
                             "(default: this checkout)")
    parser.add_argument("--notebook", action="append", help="only this notebook (by file stem)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    print(summary(measure(args.package.resolve(), args.notebook), args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
