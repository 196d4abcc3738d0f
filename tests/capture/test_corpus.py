"""The real-notebook figure: printing cells of real public notebooks that print the same as jobs.

Each notebook of ``tests/capture/corpus`` (see its SOURCES.md) runs cell by cell in a real
kernel; each printing cell is captured there (as ``%%fairing_train`` does) and run again as a
job by its own bootstrap in a fresh process. The fraction that prints the same (stdout and
stderr) must stay at or above :data:`TARGET`; the summary (with every cell that differs) is
printed for the CI log.
"""

from __future__ import annotations

import pytest

from tests.capture.corpus.measure import KERNEL_FAILURES, measure, summary

TARGET = 0.97


@pytest.mark.e2e
def test_real_notebooks_print_the_same_in_the_job():
    results = measure()
    printing = [r for r in results if r.prints]
    same = [r for r in printing if r.same]
    print(summary(results, verbose=True))
    assert len({r.notebook for r in results}) >= 20 and len(printing) >= 250, \
        "the corpus lost notebooks or cells"
    failing = {(r.notebook, r.index) for r in results if r.kernel_error}
    assert failing == set(KERNEL_FAILURES), \
        f"cells that fail in the kernel itself changed: {failing ^ set(KERNEL_FAILURES)}"
    assert len(same) / len(printing) >= TARGET, summary(results)
