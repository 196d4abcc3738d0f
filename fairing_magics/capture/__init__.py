"""Capture: a notebook cell plus exactly what it needs from the live kernel, as a Bundle.

``capture_cell(cell, namespace, history, ...)`` is the entry point (see :mod:`.cell`); the
result is a :class:`~fairing_magics.capture.bundle.Bundle`, written to disk with
:func:`~fairing_magics.capture.bundle.write_bundle`.
"""

from fairing_magics.capture.bundle import Bundle, CaptureReport, write_bundle
from fairing_magics.capture.cell import capture_cell

__all__ = ["Bundle", "CaptureReport", "capture_cell", "write_bundle"]
