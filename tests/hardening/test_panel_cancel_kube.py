"""The panel's Cancel on a Kubernetes run that the cell waits for: the Job and its pod are deleted
and the cell fails with "cancelled from the panel". The click is delivered as the comm pump delivers
it in a kernel (the button's handler, from the waiting thread's poll), since this shell has no
kernel; tests/core/test_panel_cancel.py sends the real comm message to a real kernel."""

from __future__ import annotations

import threading
import time

import pytest

from fairing_magics import events as ev
from fairing_magics.errors import RunCancelled
from tests.core.conftest import run
from tests.hardening.leftovers import processes_mentioning
from tests.hardening.test_bad_inputs_services import _kube_shell

# fixture: a namespace of the emulated cluster
from tests.kubernetes.test_backend_e2e import kube  # noqa: F401

pytestmark = pytest.mark.e2e


def test_panel_cancel_deletes_the_kubernetes_job(shell, kube, monkeypatch):  # noqa: F811
    from kubernetes.client import BatchV1Api, CoreV1Api

    from fairing_magics.ui import comm_pump

    _kube_shell(shell, kube)
    assert run(shell, "%fairing_config --ui widget").success
    core, batch = CoreV1Api(kube.client), BatchV1Api(kube.client)
    magics = shell.magics_manager.registry["FairingMagics"]
    clicked = threading.Event()

    class Pump:
        """Stands in for the kernel's comm pump: 'receives' the click once the pod runs."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def poll(self):
            if clicked.is_set():
                return
            if any(p.status.phase == "Running"
                   for p in core.list_namespaced_pod(kube.namespace).items):
                clicked.set()
                (the_run,) = magics.runs.all()
                the_run.view.cancel_button.click()  # the handler a browser click runs

    monkeypatch.setattr(comm_pump, "open_comm_pump", Pump)
    started = time.monotonic()
    result = run(shell, "%%fairing_train --name panelk --requirements none --timeout 120\n"
                        "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n")
    assert clicked.is_set()
    error = result.error_in_exec
    assert isinstance(error, RunCancelled), f"{type(error).__name__}: {error}"
    assert str(error).startswith("cancelled from the panel: ") and "\n" not in str(error), error
    (the_run,) = magics.runs.all()
    assert the_run.status == ev.CANCELLED and the_run.view.summary
    kube.cluster.emulator.wait_for(lambda: not batch.list_namespaced_job(kube.namespace).items
                                   and not core.list_namespaced_pod(kube.namespace).items, 60,
                                   what="the Job and its pod deleted")
    assert processes_mentioning(the_run.name) == []
    print(f"[panel cancel, kubernetes] {time.monotonic() - started:.1f} s: {error}")
