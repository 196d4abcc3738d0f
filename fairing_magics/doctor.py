"""``%fairing_doctor``: does what runs need answer, and if not, what is missing?

First the base image: its registry answers (a short timeout; if not, the ``copy-image`` command
that fixes it, :func:`~fairing_magics.base_image.base_image_findings`). Then each backend's own
checks (:meth:`~fairing_magics.backends.Backend.doctor`): for the cluster, the API reachable,
the CRD of ``--kind`` and the RBAC permissions a run of it needs
(:mod:`fairing_magics.kube.preflight`). Each finding is shown as it is known; the cell fails
when something required is missing.
"""

from __future__ import annotations

from collections.abc import Callable

from fairing_magics.backends import get_backend
from fairing_magics.base_image import base_image_findings
from fairing_magics.config import BACKENDS, Settings
from fairing_magics.kube.preflight import format_findings, require_ok


def doctor(settings: Settings, *, kind: str = "job", namespace: str = "", runtime_ref: str = "",
           show: Callable[[str], None] = print) -> None:
    """Check, ``show`` each group of findings as it is known, and raise one ClusterError naming
    every required thing that is missing."""
    findings = base_image_findings(settings.base_image, settings.registry,
                                   insecure_registries=settings.insecure_registries)
    show(format_findings(findings))
    for name in BACKENDS:
        found = get_backend(name).doctor(settings, kind=kind, namespace=namespace,
                                         runtime_ref=runtime_ref)
        if found:
            show(format_findings(found))
            findings += found
    require_ok(findings)
