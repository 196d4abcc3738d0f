"""Views of a run: the :class:`~fairing_magics.ui.jobview.JobView` widget panel and the
:class:`~fairing_magics.ui.textview.TextView` plain-text fallback.

Views subscribe to a run's events (:mod:`fairing_magics.events`) and nothing else: this package
imports nothing from ``registry/`` or ``backends/``.
"""

from __future__ import annotations

import sys


def widgets_supported() -> bool:
    """True in a Jupyter kernel with ipywidgets importable (terminal IPython gets text)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return False
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def make_view(mode: str, *, title: str, backend: str, stages: tuple[str, ...],
              log_lines: int = 1000, on_cancel=None, stream=None, started: float | None = None):
    """A view for one run: ``mode`` is ``widget``, ``text`` or ``auto``. ``started`` is when the
    run started (its duration is counted from there)."""
    if mode == "widget" or (mode == "auto" and widgets_supported()):
        from fairing_magics.ui.jobview import JobView

        return JobView(title=title, backend=backend, stages=stages, log_lines=log_lines,
                       on_cancel=on_cancel, started=started)
    from fairing_magics.ui.textview import TextView

    return TextView(title=title, stream=stream or sys.stdout)
